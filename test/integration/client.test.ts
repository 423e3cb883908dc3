// The People client against two real People servers (a.test, b.test) over
// real TLS: each client trusts the servers' development certificates and
// reaches them through discovery pins. Jane has two devices (the second
// linked with a code), Joe three. The tests run in order and share them.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isPeopleError } from "../../src/people/errors.js";
import { PeopleClient, type ClientOptions } from "../../src/people/client/people-client.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import {
  Recorder,
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";

const JANE = "jane@a.test";
const JOE = "joe@b.test";
const DAY = 86_400_000;

interface Device {
  name: string;
  account: string;
  dir: string;
  client: PeopleClient;
  rec: Recorder;
}

interface Sent {
  from: Device;
  to: string[];
  body: string;
}

function textOf(m: ReceivedMessage): string {
  return m.content.type === "text" ? m.content.body : `[${m.content.type}]`;
}

describe("People client: two domains, five devices", function () {
  this.timeout(60_000);
  let a: TestServer;
  let b: TestServer;
  let bDir: string;
  let bPort: number;
  let network: Pick<ClientOptions, "pins" | "ca">;
  const devices: Device[] = [];
  const sent: Sent[] = [];
  const device = (name: string): Device => devices.find((d) => d.name === name)!;
  const options = (d: { dir: string }): ClientOptions => clientOptions(network, d.dir);

  async function add(
    name: string,
    account: string,
    make: (o: ClientOptions) => Promise<PeopleClient>,
  ): Promise<Device> {
    const dir = tempDir(name);
    const client = await make(clientOptions(network, dir));
    const d = { name, account, dir, client, rec: new Recorder(client) };
    devices.push(d);
    await client.start();
    return d;
  }

  async function link(name: string, from: Device): Promise<Device> {
    const offer = from.client.createLinkCode();
    const d = await add(name, from.account, (o) =>
      PeopleClient.link({ ...o, address: from.account, code: offer.code }),
    );
    assert.equal(await offer.completed, d.client.device);
    return d;
  }

  async function send(from: Device, to: string[], body: string): Promise<void> {
    await from.client.sendText(to, body);
    sent.push({ from, to, body });
  }

  /** What `d` must have received: every text not sent by itself, addressed to its account or from a sibling. */
  function expectedFor(d: Device): Sent[] {
    return sent.filter((s) => s.from !== d && (s.to.includes(d.account) || s.from.account === d.account));
  }

  function hasAllExpected(d: Device): boolean {
    const got = d.rec.texts();
    return expectedFor(d).every((s) => got.includes(s.body));
  }

  before(async function () {
    this.timeout(60_000);
    a = await startTestServer("a.test");
    bDir = tempDir("b-server");
    b = await startTestServer("b.test", { dataDir: bDir });
    bPort = b.handle.port;
    network = networkOf([a, b]);
    const jane1 = await add("jane1", JANE, (o) => PeopleClient.create({ ...o, address: JANE }));
    const joe1 = await add("joe1", JOE, (o) => PeopleClient.create({ ...o, address: JOE }));
    await link("jane2", jane1);
    await link("joe2", joe1);
    await link("joe3", joe1);
  });

  after(async () => {
    for (const d of devices) await d.client.close().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  it("links devices with a one-time code, which works once and only when right", async () => {
    const jane = await device("jane1").client.devices();
    assert.equal(jane.filter((d) => d.revokedAt === null).length, 2);
    assert.equal((await device("joe2").client.devices()).length, 3);
    // A second device holds the account key: it can publish (here: see the list as the account signed it).
    assert.equal(
      (await device("joe3").client.devices()).find((d) => d.self)?.device,
      device("joe3").client.device,
    );

    const offer = device("jane1").client.createLinkCode();
    const wrong = `${offer.code.startsWith("a") ? "b" : "a"}${offer.code.slice(1)}`;
    const dir = tempDir("intruder");
    await assert.rejects(
      PeopleClient.link({ ...options({ dir }), address: JANE, code: wrong, linkTimeoutMs: 1500 }),
      (e: unknown) => isPeopleError(e, "PEOPLE_UNAVAILABLE"),
    );
    await waitUntil(() => device("jane1").rec.count("rejected") > 0, "the wrong code reported");
    assert.equal((await device("jane1").client.devices()).length, 2, "no device was added");
  });

  it("exchanges text both ways: every device gets every message once, in order per sender", async () => {
    for (let i = 1; i <= 3; i++) await send(device("jane1"), [JOE], `jane1→joe #${i}`);
    await send(device("joe2"), [JANE], "joe2→jane #1");
    await send(device("jane2"), [JOE], "jane2→joe #1");
    await send(device("joe1"), [JANE], "joe1→jane #1");
    await send(device("joe2"), [JANE], "joe2→jane #2");
    await waitUntil(() => devices.every(hasAllExpected), "every device to get every message");
    await new Promise((r) => setTimeout(r, 200)); // room for a duplicate to show up
    for (const d of devices) {
      const got = d.rec.texts();
      assert.deepEqual(
        [...got].sort(),
        expectedFor(d)
          .map((s) => s.body)
          .sort(),
        `${d.name} got each once`,
      );
      for (const sender of devices) {
        const fromSender = d.rec.messages.filter((m) => m.device === sender.client.device).map(textOf);
        const order = expectedFor(d)
          .filter((s) => s.from === sender)
          .map((s) => s.body);
        assert.deepEqual(fromSender, order, `${d.name}: messages of ${sender.name} in order`);
      }
      // The device's history holds what it sent, too, once.
      const history = (await d.client.inbox()).map(textOf);
      assert.equal(new Set(history).size, history.length, `${d.name}: no duplicate in the inbox`);
    }
    const m = device("joe3").rec.messages.find((x) => textOf(x) === "jane2→joe #1")!;
    assert.equal(m.from, JANE);
    assert.deepEqual(m.to, [JOE]);
  });

  it("acknowledges only after the listeners' promise resolved: a failed listener gets the message again", async () => {
    const joe2 = device("joe2");
    let failures = 0;
    const seen: string[] = [];
    const off = joe2.client.onMessage(async (m) => {
      if (textOf(m) !== "listener test") return;
      seen.push(m.id);
      if (failures++ === 0) throw new Error("the app could not take it yet");
    });
    await send(device("jane1"), [JOE], "listener test");
    await waitUntil(() => seen.length === 2, "the message to come again");
    off();
    assert.equal(seen[0], seen[1]);
    assert.equal((await joe2.client.inbox()).filter((m) => textOf(m) === "listener test").length, 1);
  });

  it("sends a 5 MB attachment every other device downloads, checks and decrypts", async () => {
    const bytes = randomBytes(5 * 1024 * 1024);
    const digest = createHash("sha256").update(bytes).digest("hex");
    await device("jane2").client.sendAttachment([JOE], bytes, {
      mime: "application/octet-stream",
      name: "big.bin",
    });
    const receivers = ["jane1", "joe1", "joe2", "joe3"].map(device);
    await waitUntil(
      () => receivers.every((d) => d.rec.messages.some((m) => m.content.type === "attachment")),
      "the attachment message",
    );
    for (const d of receivers) {
      const m = d.rec.messages.find((x) => x.content.type === "attachment")!;
      assert(m.content.type === "attachment");
      assert.equal(m.content.blob.server, "a.test");
      assert.equal(m.content.blob.size, bytes.length);
      const got = await d.client.downloadAttachment(m.content.blob);
      assert.equal(createHash("sha256").update(got).digest("hex"), digest, d.name);
    }
    const ref = device("joe1").rec.messages.find((x) => x.content.type === "attachment")!.content;
    assert(ref.type === "attachment");
    await assert.rejects(
      device("joe1").client.downloadAttachment({ ...ref.blob, key: ref.blob.hash }),
      (e: unknown) => isPeopleError(e, "PEOPLE_DECRYPT_FAILED"),
      "a wrong key does not open the blob",
    );
  });

  it("shows both sides the same safety number", async () => {
    const n = await device("jane1").client.fingerprint(JOE);
    assert.match(n, /^\d{5}( \d{5}){11}$/);
    assert.equal(await device("joe3").client.fingerprint(JANE), n);
    assert.equal(await device("jane2").client.fingerprint(JOE), n);
    await device("jane1").client.contacts.verify(JOE);
    assert.equal((await device("jane1").client.contacts.get(JOE))?.verified, true);
  });

  it("queues mail for a server that is down, across a restart of the client, sealed with saved keys", async () => {
    await b.stop();
    const jane1 = device("jane1");
    await send(jane1, [JOE], "while b is down #1");
    // Joe's copy waits; Jane's own copy (for jane2) goes to a.test.
    await waitUntil(async () => (await jane1.client.outboxSize()) === 1, "only Joe's copy to wait");
    // The process ends: close the client and open a new one on the same data directory.
    await jane1.client.close();
    jane1.client = await PeopleClient.open(options(jane1));
    jane1.rec.attach(jane1.client);
    await jane1.client.start();
    assert.equal(await jane1.client.outboxSize(), 1, "the queued copy survived");
    // The key directory of b.test is unreachable: the keys saved last time are used.
    const offline = await jane1.client.contacts.resolve(JOE);
    assert.equal(offline.stale, true);
    await send(jane1, [JOE], "while b is down #2");
    await waitUntil(async () => (await jane1.client.outboxSize()) === 2, "both of Joe's copies to wait");
    await new Promise((r) => setTimeout(r, 500)); // a few failed attempts

    b = await startTestServer("b.test", {
      dataDir: bDir,
      config: { listen: { host: "127.0.0.1", port: bPort } },
    });
    await waitUntil(() => devices.every(hasAllExpected), "the queued mail to arrive");
    await waitUntil(async () => (await jane1.client.outboxSize()) === 0, "the outbox to empty");
    for (const name of ["joe1", "joe2", "joe3"]) {
      const texts = device(name)
        .rec.texts()
        .filter((t) => t.startsWith("while b is down"));
      assert.deepEqual(texts, ["while b is down #1", "while b is down #2"], name);
    }
  });

  it("reads mail sealed to a rotated key during the grace period, and not after erasure", async () => {
    const jane1 = device("jane1");
    const joe3 = device("joe3");
    await joe3.client.stop();
    await send(jane1, [JOE], "sealed to joe3's first key");
    await waitUntil(() => hasAllExpected(device("joe1")), "joe1 to have it");
    assert.equal((await joe3.client.rotateIfDue(Date.now(), { rotationMs: 0 })).rotated, true);
    await joe3.client.start();
    await waitUntil(
      () => joe3.rec.texts().includes("sealed to joe3's first key"),
      "joe3 to read it with the retired key",
    );

    await joe3.client.stop();
    assert.equal(
      (await jane1.client.contacts.resolve(JOE)).status,
      "continued",
      "a rotation is a valid continuation",
    );
    await jane1.client.sendText([JOE], "sealed to joe3's second key"); // not in `sent`: joe3 must not read it
    await waitUntil(
      () => device("joe1").rec.texts().includes("sealed to joe3's second key"),
      "joe1 to have it",
    );
    await joe3.client.rotateIfDue(Date.now(), { rotationMs: 0 });
    assert.equal(await joe3.client.eraseExpiredKeys(Date.now() + 8 * DAY), 2, "both retired keys erased");
    const rejectedBefore = joe3.rec.count("rejected");
    await joe3.client.start();
    await waitUntil(
      () => joe3.rec.count("rejected") > rejectedBefore,
      "the unreadable envelope to be reported",
    );
    assert.equal(joe3.rec.events.rejected!.at(-1)!.code, "PEOPLE_UNKNOWN_KEY");
    assert(!joe3.rec.texts().includes("sealed to joe3's second key"));

    await jane1.client.contacts.resolve(JOE);
    await send(jane1, [JOE], "after the erasure");
    await waitUntil(() => joe3.rec.texts().includes("after the erasure"), "joe3 to read new mail");
    // The reported envelope was acknowledged: a reconnect does not bring it back.
    await joe3.client.stop();
    await joe3.client.start();
    await send(jane1, [JOE], "after a reconnect");
    await waitUntil(() => joe3.rec.texts().includes("after a reconnect"), "joe3 to read more");
    assert.equal(joe3.rec.count("rejected"), rejectedBefore + 1);
  });

  it("revokes a device: its list entry moves to revoked and its messages are refused", async () => {
    const jane1 = device("jane1");
    const jane2 = device("jane2");
    await jane1.client.revokeDevice(jane2.client.device);
    const list = await jane1.client.devices();
    assert.equal(list.find((d) => d.device === jane2.client.device)?.revokedAt !== null, true);
    const joe1 = device("joe1");
    assert.equal((await joe1.client.contacts.resolve(JANE)).status, "continued");
    const before = joe1.rec.count("rejected");
    await jane2.client.sendText([JOE], "from a revoked device");
    await waitUntil(() => joe1.rec.count("rejected") > before, "joe1 to refuse it");
    assert.equal(joe1.rec.events.rejected!.at(-1)!.code, "PEOPLE_REVOKED");
    await jane2.client.close();
    devices.splice(devices.indexOf(jane2), 1);
  });

  it("refuses a wrong passphrase clearly and keeps no plaintext in the client's files", async () => {
    await assert.rejects(
      PeopleClient.open({ ...options(device("jane1")), passphrase: "not the passphrase" }),
      (e: unknown) => isPeopleError(e, "PEOPLE_UNAUTHORIZED") && /Wrong passphrase/.test(e.publicText),
    );
    await assert.rejects(
      PeopleClient.open({
        ...options(device("joe1")),
        passphrase: undefined,
        keyFile: join(tempDir("k"), "key"),
      }),
      (e: unknown) => isPeopleError(e, "PEOPLE_UNAUTHORIZED") && /passphrase/.test(e.publicText),
    );
    const secrets = [...sent.map((s) => s.body), "sealed to joe3's second key", JANE, JOE, "big.bin"];
    let files = 0;
    for (const d of devices) {
      for (const name of readdirSync(d.dir)) {
        const bytes = readFileSync(join(d.dir, name));
        files++;
        for (const s of secrets)
          assert(!bytes.includes(Buffer.from(s, "utf8")), `${d.name}/${name} contains "${s}"`);
      }
    }
    assert(files >= devices.length);
  });

  it("reports an unexplained key change loudly and does not use the new keys until accepted", async () => {
    for (const name of ["joe1", "joe2", "joe3"]) await device(name).client.close();
    devices.splice(0, devices.length, ...devices.filter((d) => d.account !== JOE));
    const jane1 = device("jane1");
    const oldNumber = await jane1.client.fingerprint(JOE);
    // A fresh server for b.test (same address and certificate, new keys and database), and a new "joe".
    await b.stop();
    const freshDir = tempDir("b-fresh");
    cpSync(join(bDir, "tls"), join(freshDir, "tls"), { recursive: true });
    b = await startTestServer("b.test", {
      dataDir: freshDir,
      config: { listen: { host: "127.0.0.1", port: bPort } },
    });
    const newJoe = await add("newjoe", JOE, (o) => PeopleClient.create({ ...o, address: JOE }));

    const changes = jane1.rec.count("keyChange");
    // The new joe writes first: Jane cannot verify it against the pin, so it is held, not shown and not lost.
    await newJoe.client.sendText([JANE], "hello from new keys");
    await waitUntil(() => jane1.rec.count("held") === 1, "the message to be held");
    assert(!jane1.rec.texts().includes("hello from new keys"));
    const r = await jane1.client.contacts.resolve(JOE);
    assert.equal(r.status, "unexplained");
    const first = jane1.rec.events.keyChange![changes]!;
    assert.deepEqual(
      { kind: first.kind, subject: first.subject, code: first.code },
      {
        kind: "account",
        subject: JOE,
        code: "PEOPLE_CHAIN_FORK",
      },
    );
    // The account's server is checked again at once, and its new identity key is reported as well.
    await waitUntil(() => jane1.rec.count("keyChange") === changes + 2, "the server key change");
    assert.deepEqual(
      {
        kind: jane1.rec.events.keyChange!.at(-1)!.kind,
        subject: jane1.rec.events.keyChange!.at(-1)!.subject,
      },
      { kind: "server", subject: "b.test" },
    );
    const queued = await jane1.client.outboxSize();
    await assert.rejects(jane1.client.sendText([JOE], "must not go"), (e: unknown) =>
      isPeopleError(e, "PEOPLE_CHAIN_FORK"),
    );
    assert.equal(await jane1.client.outboxSize(), queued, "nothing sealed to the new keys");
    assert.equal(
      (await jane1.client.contacts.resolve(JOE)).status,
      "unexplained",
      "still refused on the next look",
    );
    assert.equal(await jane1.client.fingerprint(JOE), oldNumber, "the pinned key is kept");

    // The user compares the new safety number and accepts; the server's new key still needs its own yes.
    const newNumber = await jane1.client.fingerprint(JOE, { pending: true });
    assert.equal(newNumber, await newJoe.client.fingerprint(JANE));
    assert.equal((await jane1.client.acceptKeyChange(JOE)).status, "new");
    assert.equal(await jane1.client.fingerprint(JOE), newNumber);
    assert(jane1.rec.texts().includes("hello from new keys"), "the held message is read once accepted");
    assert.notEqual(await jane1.client.fingerprint(JOE), oldNumber);
    assert.equal(await jane1.client.fingerprint(JOE), await newJoe.client.fingerprint(JANE));
    await assert.rejects(jane1.client.sendText([JOE], "must not go either"), (e: unknown) =>
      isPeopleError(e, "PEOPLE_CHAIN_FORK"),
    );
    assert.equal(await jane1.client.outboxSize(), queued);
    await jane1.client.acceptServerKey("b.test");
    await send(jane1, [JOE], "hello new joe");
    await waitUntil(() => newJoe.rec.texts().includes("hello new joe"), "the new joe to get it");
  });
});
