// The client's parts on their own: discovery (with fake HTTPS and SRV), link
// codes, safety numbers, the encrypted SQLite store, and the outbox's retry
// rules against a scripted server.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  Discovery,
  onionUrlOf,
  resolveServer,
  serverUrlOf,
  type SrvRecord,
} from "../../src/people/net/discovery.js";
import { ClientEvents, type DeliveryEvent } from "../../src/people/client/events.js";
import { formatLinkCode, newLinkCode, parseLinkCode } from "../../src/people/client/link-code.js";
import type { ClientStore, StoredMessage } from "../../src/people/client/local-store.js";
import { CLIENT_DB_FILE, openSqliteClientStore } from "../../src/people/client/local-store-sqlite.js";
import { Outbox } from "../../src/people/client/outbox.js";
import { fingerprint } from "../../src/people/client/safety-number.js";
import { isPeopleError } from "../../src/people/errors.js";
import type { HttpsResponse } from "../../src/people/net/https-client.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { Ed25519KeyPair } from "../../src/people/protocol/keys.js";
import { removeTempDirs, tempDir } from "../helpers/client-fixtures.js";

type Send = (method: string, url: string) => Promise<HttpsResponse>;

function fakeHttp(answer: (url: string) => HttpsResponse | Error): { send: Send; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    send: async (_method, url) => {
      calls.push(url);
      const a = answer(url);
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

function json(status: number, value: unknown): HttpsResponse {
  return { status, headers: {}, body: Buffer.from(JSON.stringify(value)) };
}

const unreachable = () => new Error("ECONNREFUSED");
const noSrv = async (): Promise<SrvRecord[]> => [];
/** The domain has an address (the last step asks DNS; these tests stay off the network). */
const exists = async (): Promise<unknown> => ({ address: "192.0.2.1" });

after(() => removeTempDirs());

describe("client discovery", () => {
  it("uses a pin first, then .well-known, then SRV, then port 7367", async () => {
    const none = fakeHttp(unreachable);
    assert.equal(
      await resolveServer("example.org", {
        pins: { "example.org": "127.0.0.1:9000" },
        http: none,
        srv: noSrv,
      }),
      "https://127.0.0.1:9000",
    );
    assert.deepEqual(none.calls, []);
    const wk = fakeHttp(() => json(200, { server: "People.Example.org:8443" }));
    assert.equal(
      await resolveServer("example.org", { http: wk, srv: noSrv }),
      "https://people.example.org:8443",
    );
    assert.deepEqual(wk.calls, ["https://example.org/.well-known/people"]);
    const srv = async (name: string): Promise<SrvRecord[]> => {
      assert.equal(name, "_people._tcp.example.org");
      return [
        { name: "backup.example.org", port: 1, priority: 20, weight: 100 },
        { name: "light.example.org.", port: 2, priority: 10, weight: 1 },
        { name: "heavy.example.org.", port: 3, priority: 10, weight: 50 },
      ];
    };
    assert.equal(await resolveServer("example.org", { http: none, srv }), "https://heavy.example.org:3");
    assert.equal(
      await resolveServer("example.org", { http: none, srv: noSrv, lookup: exists }),
      "https://example.org:7367",
    );
  });

  it("refuses answers that are not a plain host:port, falling through to the next step", async () => {
    for (const server of [
      "evil.example/path:443",
      "user@evil.example:1",
      "evil.example:99999",
      "https://evil.example:1",
      "evil.example:1/x",
      "evil.example:0",
      "a b:1",
      42,
      "evil.example:1#frag",
    ]) {
      const http = fakeHttp(() => json(200, { server }));
      assert.equal(
        await resolveServer("example.org", { http, srv: noSrv, lookup: exists }),
        "https://example.org:7367",
        String(server),
      );
    }
    assert.equal(serverUrlOf("[::1]:7367"), "https://[::1]:7367");
    assert.equal(serverUrlOf("[evil]:7367"), null);
    assert.throws(() => new Discovery({ http: fakeHttp(unreachable), pins: { "a.test": "a.test/x:1" } }));
    await assert.rejects(resolveServer("a/b", { http: fakeHttp(unreachable), srv: noSrv }), (e: unknown) =>
      isPeopleError(e, "PEOPLE_BAD_ADDRESS"),
    );
    const wrongStatus = fakeHttp(() => json(404, { server: "x.example:1" }));
    assert.equal(
      await resolveServer("example.org", { http: wrongStatus, srv: noSrv, lookup: exists }),
      "https://example.org:7367",
    );
  });

  it("caches a route until forgotten", async () => {
    const http = fakeHttp(() => json(200, { server: "s.example.org:1" }));
    const d = new Discovery({ http, srv: noSrv });
    await d.resolve("example.org");
    await d.resolve("example.org");
    assert.equal(http.calls.length, 1);
    d.forget("example.org");
    await d.resolve("example.org");
    assert.equal(http.calls.length, 2);
  });

  // A v3 onion host: 56 base32 characters.
  const ONION = `${"a".repeat(55)}d.onion`;
  const OTHER_ONION = `${"b".repeat(55)}d.onion`;

  it("prefers the onion a clearnet server names in .well-known, only with a Tor proxy, and ignores a malformed one", async () => {
    const wk = fakeHttp(() => json(200, { server: "s.example.org:7367", onion: `${ONION}:443` }));
    assert.equal(await resolveServer("example.org", { http: wk, srv: noSrv }), "https://s.example.org:7367");
    assert.equal(
      await resolveServer("example.org", { http: wk, srv: noSrv, preferOnion: true }),
      `https://${ONION}:443`,
    );
    for (const onion of [
      "evil.example:443",
      `${ONION}`,
      `${ONION}:443/x`,
      "abc.onion:443",
      7,
      `x${ONION}:1`,
    ]) {
      const http = fakeHttp(() => json(200, { server: "s.example.org:7367", onion }));
      assert.equal(
        await resolveServer("example.org", { http, srv: noSrv, preferOnion: true }),
        "https://s.example.org:7367",
        String(onion),
      );
    }
    // A pinned domain keeps its pin: the admin chose that route.
    assert.equal(
      await resolveServer("example.org", {
        http: wk,
        srv: noSrv,
        preferOnion: true,
        pins: { "example.org": "127.0.0.1:1" },
      }),
      "https://127.0.0.1:1",
    );
  });

  it("takes the onion a descriptor names (not for a pin), and falls back to the clearnet route when the onion fails", async () => {
    const srv = async (): Promise<SrvRecord[]> => [
      { name: "s.example.org", port: 1, priority: 0, weight: 0 },
    ];
    const d = new Discovery({
      http: fakeHttp(unreachable),
      srv,
      preferOnion: true,
      pins: { "p.test": "127.0.0.1:2" },
    });
    assert.equal(await d.resolve("example.org"), "https://s.example.org:1");
    d.learnOnion("example.org", "not an onion:1");
    assert.equal(await d.resolve("example.org"), "https://s.example.org:1");
    d.learnOnion("example.org", `${ONION}:443`);
    assert.equal(await d.resolve("example.org"), `https://${ONION}:443`);
    d.forget("example.org"); // the onion failed
    assert.equal(await d.resolve("example.org"), "https://s.example.org:1");
    d.learnOnion("example.org", `${ONION}:443`);
    assert.equal(await d.resolve("example.org"), "https://s.example.org:1", "a failed onion stays aside");
    d.learnOnion("example.org", `${OTHER_ONION}:443`);
    assert.equal(await d.resolve("example.org"), `https://${OTHER_ONION}:443`, "a new onion is tried");

    assert.equal(await d.resolve("p.test"), "https://127.0.0.1:2");
    d.learnOnion("p.test", `${ONION}:443`);
    assert.equal(await d.resolve("p.test"), "https://127.0.0.1:2");

    const noTor = new Discovery({ http: fakeHttp(unreachable), srv });
    await noTor.resolve("example.org");
    noTor.learnOnion("example.org", `${ONION}:443`);
    assert.equal(await noTor.resolve("example.org"), "https://s.example.org:1");
    assert.equal(onionUrlOf(`${ONION.toUpperCase()}:443`), `https://${ONION}:443`);
  });
});

describe("client link codes and safety numbers", () => {
  it("formats 128-bit codes as 26 base32 letters and reads them back forgivingly", () => {
    for (let i = 0; i < 50; i++) {
      const code = newLinkCode();
      const text = formatLinkCode(code);
      assert.match(text, /^([a-z2-7]{4}-){6}[a-z2-7]{2}$/);
      assert.deepEqual(parseLinkCode(text), code);
      assert.deepEqual(parseLinkCode(` ${text.toUpperCase().replace(/-/g, " ")} `), code);
    }
    const text = formatLinkCode(Buffer.alloc(16));
    assert.throws(
      () => parseLinkCode(text.slice(1)),
      (e: unknown) => isPeopleError(e, "PEOPLE_BAD_REQUEST"),
    );
    assert.throws(
      () => parseLinkCode(`${text.slice(0, -1)}b`),
      (e: unknown) => isPeopleError(e, "PEOPLE_BAD_REQUEST"),
    );
    assert.throws(() => parseLinkCode(`${text.slice(0, -1)}1`));
  });

  it("gives two accounts one 60-digit number, whichever side computes it", () => {
    const jane = { address: parseAddress("jane@a.test"), accountKey: Ed25519KeyPair.generate().publicKey };
    const joe = { address: parseAddress("joe@b.test"), accountKey: Ed25519KeyPair.generate().publicKey };
    const n = fingerprint(jane, joe);
    assert.match(n, /^\d{5}( \d{5}){11}$/);
    assert.equal(fingerprint(joe, jane), n);
    const mallory = { ...joe, accountKey: Ed25519KeyPair.generate().publicKey };
    assert.notEqual(fingerprint(jane, mallory), n);
  });
});

function message(id: string, exp = Date.now() + 60_000): StoredMessage {
  return {
    id,
    from: "joe@b.test",
    device: "d1",
    ts: Date.now(),
    exp,
    to: ["jane@a.test"],
    content: { type: "text", body: `body ${id}` },
    receivedAt: Date.now(),
    outgoing: false,
  };
}

describe("client store", () => {
  it("opens only with the right passphrase or key file", async () => {
    const dir = tempDir("store");
    const store = await openSqliteClientStore({ dataDir: dir, key: { passphrase: "right" } });
    await store.close();
    await assert.rejects(
      openSqliteClientStore({ dataDir: dir, key: { passphrase: "wrong" } }),
      (e: unknown) => isPeopleError(e, "PEOPLE_UNAUTHORIZED") && /Wrong passphrase/.test(e.publicText),
    );
    await (await openSqliteClientStore({ dataDir: dir, key: { passphrase: "right" } })).close();

    const kdir = tempDir("keyfile");
    const keyFile = join(kdir, "store.key");
    await (await openSqliteClientStore({ dataDir: kdir, key: { keyFile } })).close();
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(keyFile).size, 32);
    await (await openSqliteClientStore({ dataDir: kdir, key: { keyFile } })).close();
    await assert.rejects(
      openSqliteClientStore({ dataDir: kdir, key: { keyFile: join(kdir, "other.key") } }),
      (e: unknown) => isPeopleError(e, "PEOPLE_UNAUTHORIZED"),
    );
  });

  it("binds each sealed value to its row: a value moved to another row does not open", async () => {
    const dir = tempDir("swap");
    const store = await openSqliteClientStore({ dataDir: dir, key: { passphrase: "p" } });
    const contact = (address: string) => ({
      address,
      accountKey: "k",
      version: 1,
      pinned: { list: { body: "", sig: "" }, chains: {} },
      verified: false,
      state: "trusted" as const,
      pending: null,
      lastChange: 0,
      fetchedAt: 0,
    });
    await store.putContact(contact("a@x.test"));
    await store.putContact(contact("b@x.test"));
    await store.close();
    const db = new Database(join(dir, CLIENT_DB_FILE));
    const rows = db.prepare("SELECT k, data FROM contacts").all() as { k: string; data: Buffer }[];
    db.prepare("UPDATE contacts SET data = ? WHERE k = ?").run(rows[1]!.data, rows[0]!.k);
    db.close();
    const reopened = await openSqliteClientStore({ dataDir: dir, key: { passphrase: "p" } });
    await assert.rejects(reopened.listContacts(), (e: unknown) => isPeopleError(e, "PEOPLE_DECRYPT_FAILED"));
    await reopened.close();
  });

  it("stores a message once, tells a retry from a replay, and forgets ids after expiry", async () => {
    const store: ClientStore = await openSqliteClientStore({
      dataDir: tempDir("inbox"),
      key: { passphrase: "p" },
    });
    const m = message("AAAAAAAAAAAAAAAAAAAAAA");
    const first = await store.commitMessage(m, false);
    assert.equal(first.status, "new");
    const again = await store.commitMessage(m, false);
    assert.equal(again.status, "undelivered");
    if (first.status === "new") await store.markDelivered(first.seq);
    assert.equal((await store.commitMessage(m, false)).status, "delivered");
    assert.deepEqual(
      (await store.inbox()).map((e) => e.id),
      [m.id],
    );
    assert.equal((await store.undelivered()).length, 0);
    assert.equal(await store.pruneReplay(m.exp + 1), 1);
    // Still in the inbox but no longer remembered: its inbox state, and nothing written.
    assert.equal((await store.commitMessage(m, false)).status, "delivered");
    assert.equal(await store.pruneReplay(m.exp + 1), 0);
    await store.close();
  });

  it("tells a replay of a message remembered but gone from the inbox", async () => {
    const dir = tempDir("inbox-gone");
    const store = await openSqliteClientStore({ dataDir: dir, key: { passphrase: "p" } });
    const m = message("BBBBBBBBBBBBBBBBBBBBBB");
    assert.equal((await store.commitMessage(m, false)).status, "new");
    const db = new Database(join(dir, CLIENT_DB_FILE));
    db.prepare("DELETE FROM inbox").run();
    db.close();
    assert.equal((await store.commitMessage(m, false)).status, "replayed");
    assert.equal((await store.inbox()).length, 0);
    await store.close();
  });

  it("an exclusive store keeps contacts in memory: copies handed out, a write seen at once", async () => {
    const dir = tempDir("exclusive");
    const store = await openSqliteClientStore({ dataDir: dir, key: { passphrase: "p" }, exclusive: true });
    const record = (address: string, version: number) => ({
      address,
      accountKey: "k",
      version,
      pinned: { list: { body: "", sig: "" }, chains: {} },
      verified: false,
      state: "trusted" as const,
      pending: null,
      lastChange: 0,
      fetchedAt: 0,
    });
    assert.equal(await store.getContact("a@x.test"), undefined);
    await store.putContact(record("a@x.test", 1));
    const got = (await store.getContact("a@x.test"))!;
    assert.equal(got.version, 1);
    got.version = 99;
    assert.equal((await store.getContact("a@x.test"))!.version, 1);
    await store.putContact(record("a@x.test", 2));
    assert.equal((await store.getContact("a@x.test"))!.version, 2);
    await store.close();
    // What it kept is what it wrote: a store opened again reads the same.
    const reopened = await openSqliteClientStore({ dataDir: dir, key: { passphrase: "p" } });
    assert.equal((await reopened.getContact("a@x.test"))!.version, 2);
    await reopened.close();
  });
});

describe("client outbox", () => {
  async function setup(status: (url: string, n: number) => number) {
    const store = await openSqliteClientStore({ dataDir: tempDir("outbox"), key: { passphrase: "p" } });
    const events = new ClientEvents();
    const log: { delivered: DeliveryEvent[]; undeliverable: DeliveryEvent[] } = {
      delivered: [],
      undeliverable: [],
    };
    events.on("delivered", (e) => log.delivered.push(e));
    events.on("undeliverable", (e) => log.undeliverable.push(e));
    let n = 0;
    const http = fakeHttp((url) => {
      const s = status(url, n++);
      return s === 0
        ? unreachable()
        : json(s, s < 300 ? { status: "stored" } : { errcode: "PEOPLE_UNKNOWN_RECIPIENT" });
    });
    let now = 1_000_000;
    const discovery = new Discovery({ http, pins: { "b.test": "127.0.0.1:1", "c.test": "127.0.0.1:2" } });
    const outbox = new Outbox({
      store,
      http,
      discovery,
      events,
      now: () => now,
      backoff: { baseMs: 1000, maxMs: 8000 },
    });
    const queue = (envelopeId: string, address: string, expiresAt = now + 100_000) =>
      outbox.enqueue([
        { envelopeId, messageId: "m", address, outer: Buffer.from(envelopeId), createdAt: now, expiresAt },
      ]);
    return { store, outbox, log, http, queue, advance: (ms: number) => (now += ms), nowOf: () => now };
  }

  it("retries with growing backoff, keeps the order per recipient, and delivers when the server is back", async () => {
    let down = true;
    const t = await setup(() => (down ? 503 : 200));
    await t.queue("e1", "joe@b.test");
    await t.queue("e2", "joe@b.test");
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const next = await t.outbox.drain();
      waits.push(next - t.nowOf());
      t.advance(next - t.nowOf());
    }
    assert.equal(t.http.calls.length, 5, "only the first copy is tried while it fails");
    for (let i = 0; i < waits.length; i++) {
      const max = Math.min(8000, 1000 * 2 ** i);
      assert(waits[i]! >= max / 2 && waits[i]! <= max, `wait ${i} = ${waits[i]}`);
    }
    down = false;
    await t.outbox.drain();
    assert.deepEqual(
      t.log.delivered.map((e) => e.envelopeId),
      ["e1", "e2"],
    );
    assert.equal(await t.outbox.size(), 0);
    await t.store.close();
  });

  it("drops a copy a server refuses for good, or one past its expiry, and reports it", async () => {
    const t = await setup((url) => (url.includes(":1/") ? 404 : 0));
    await t.queue("refused", "nobody@b.test");
    await t.queue("stale", "joe@c.test", t.nowOf() + 500);
    await t.outbox.drain();
    t.advance(1000);
    await t.outbox.drain();
    assert.deepEqual(
      t.log.undeliverable.map((e) => [e.envelopeId, e.code]),
      [
        ["refused", "PEOPLE_UNKNOWN_RECIPIENT"],
        ["stale", "PEOPLE_EXPIRED"],
      ],
    );
    assert.equal(await t.outbox.size(), 0);
    await t.store.close();
  });
});
