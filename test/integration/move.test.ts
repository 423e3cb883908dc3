// Moving an account between servers (PROTOCOL §20), with three real People
// servers over TLS: Joe moves from other.test to third.test. Ann keeps talking
// with him with no trust warning; mail that waited at the old server, and mail
// sent to the old address after the move, reaches him; a forged notice is
// refused loudly and a replayed one changes nothing. The steps share state, in order.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PeopleError } from "../../src/people/errors.js";
import { PeopleClient, type ClientOptions } from "../../src/people/client/people-client.js";
import type { ClientEventMap } from "../../src/people/client/events.js";
import type { PeopleAddress } from "../../src/people/protocol/address.js";
import { b64u } from "../../src/people/protocol/bytes.js";
import { Ed25519KeyPair } from "../../src/people/protocol/keys.js";
import { issueMoveNotice, type MoveNoticeWire } from "../../src/people/protocol/move-notice.js";
import { encodeBody } from "../../src/people/protocol/signed-json.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { ROOT, runProgram } from "../helpers/run-program.js";
import {
  PASSPHRASE,
  Recorder,
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";

const ANN = "ann@a.test";
const BOB = "bob@a.test";
const MAL = "mallory@a.test";
const OLD = "joe@other.test" as PeopleAddress;
const NEW = "joe@third.test" as PeopleAddress;
const WAIT_MS = 60_000;

function texts(r: Recorder): string[] {
  return r.messages.map((m) => (m.content.type === "text" ? m.content.body : `[${m.content.type}]`));
}

describe("Moving an account: other.test → third.test", function () {
  this.timeout(180_000);
  let servers: TestServer[];
  let network: Pick<ClientOptions, "pins" | "ca">;
  const dirs: Record<string, string> = {};
  const clients: Record<string, PeopleClient> = {};
  const recs: Record<string, Recorder> = {};
  const moved: ClientEventMap["contactMoved"][] = [];
  const refused: ClientEventMap["moveRefused"][] = [];
  let notice: MoveNoticeWire;

  async function make(name: string, address: string): Promise<PeopleClient> {
    dirs[name] = tempDir(name);
    const client = await PeopleClient.create({ ...clientOptions(network, dirs[name]), address });
    return attach(name, client);
  }

  function attach(name: string, client: PeopleClient): PeopleClient {
    clients[name] = client;
    recs[name] = new Recorder(client);
    if (name === "ann") {
      client.on("contactMoved", (e) => moved.push(e));
      client.on("moveRefused", (e) => refused.push(e));
    }
    return client;
  }

  before(async () => {
    servers = [];
    for (const domain of ["a.test", "other.test", "third.test"]) servers.push(await startTestServer(domain));
    network = networkOf(servers);
    for (const [name, address] of [
      ["ann", ANN],
      ["bob", BOB],
      ["mal", MAL],
      ["joe", OLD],
    ] as const) {
      await (await make(name, address)).start();
    }
  });

  after(async () => {
    for (const c of Object.values(clients)) await c.close().catch(() => undefined);
    for (const s of servers ?? []) await s.stop();
    removeTempDirs();
  });

  it("Ann and Bob talk with Joe at his old address; Ann verifies him", async () => {
    await clients.ann!.sendText([OLD], "hello joe");
    await clients.bob!.sendText([OLD], "hi from bob");
    await waitUntil(() => texts(recs.joe!).length === 2, "Joe reads both", WAIT_MS);
    await clients.joe!.sendText([ANN], "hello ann");
    await waitUntil(() => texts(recs.ann!).includes("hello ann"), "Ann reads Joe", WAIT_MS);
    await clients.ann!.contacts.verify(OLD);
    assert.equal((await clients.ann!.contacts.get(OLD))?.verified, true);
  });

  it("Joe moves while mail waits for him at the old server: it is read during the move", async () => {
    await clients.joe!.close();
    await clients.ann!.sendText([OLD], "while you were away");
    await waitUntil(
      async () => (await clients.ann!.outboxSize()) === 0,
      "Ann's copy stored at other.test",
      WAIT_MS,
    );
    const joe = attach("joe", await PeopleClient.open(clientOptions(network, dirs.joe!)));
    // Bob's client is closed through the move: he will learn of it only when he writes to the old address.
    await clients.bob!.close();
    const result = await joe.move(NEW);
    assert.equal(result.from, OLD);
    assert.equal(result.to, NEW);
    assert.ok(result.drained >= 1, "the waiting envelope was read from the old mailbox");
    assert.equal(joe.address, NEW);
    await joe.start();
    await waitUntil(() => texts(recs.joe!).includes("while you were away"), "the waiting mail", WAIT_MS);
    const served = await servers[1]!.http.json<{ notice: MoveNoticeWire }>(
      "GET",
      `${servers[1]!.url}/_people/v1/accounts/${encodeURIComponent(OLD)}/move`,
    );
    notice = served.notice;
    assert.equal(JSON.parse(Buffer.from(notice.body, "base64url").toString()).to, NEW);
  });

  it("Ann follows the notice: same trust, no warning, and writing to the old address reaches the new one", async () => {
    await waitUntil(
      () => moved.some((e) => e.from === OLD && e.to === NEW),
      "Ann follows Joe's move",
      WAIT_MS,
    );
    const contact = await clients.ann!.contacts.get(NEW);
    assert.equal(contact?.verified, true, "the verified mark carried over");
    assert.equal(contact?.state, "trusted");
    assert.equal(recs.ann!.count("keyChange"), 0, "no trust warning");
    assert.equal(refused.length, 0);
    await clients.ann!.sendText([OLD], "still there?");
    await waitUntil(
      () => texts(recs.joe!).includes("still there?"),
      "Joe reads Ann at his new address",
      WAIT_MS,
    );
    const m = recs.joe!.messages.find((x) => x.content.type === "text" && x.content.body === "still there?")!;
    assert.deepEqual(m.to, [NEW]);
    await clients.joe!.sendText([ANN], "yes, at third.test now");
    await waitUntil(
      () => texts(recs.ann!).includes("yes, at third.test now"),
      "Ann reads Joe's answer",
      WAIT_MS,
    );
    assert.equal(recs.ann!.messages.at(-1)!.from, NEW);
    assert.equal(recs.ann!.count("keyChange"), 0);
  });

  it("mail sent to the old address by someone who has not heard yet is refused with the notice and follows it", async () => {
    // Bob's client, opened but not started: Joe's notice still waits in Bob's mailbox unread.
    const bob = attach("bob", await PeopleClient.open(clientOptions(network, dirs.bob!)));
    const undeliverable: string[] = [];
    bob.on("undeliverable", (e) => undeliverable.push(`${e.address} ${e.code ?? ""}`));
    await bob.sendText([OLD], "bob again");
    await waitUntil(
      () => undeliverable.includes(`${OLD} PEOPLE_MOVED`),
      "the old server refuses Bob's copy",
      WAIT_MS,
    );
    await waitUntil(
      () => texts(recs.joe!).includes("bob again"),
      "Joe reads Bob at his new address",
      WAIT_MS,
    );
    const contact = await bob.contacts.get(NEW);
    assert.equal(contact?.state, "trusted");
    assert.equal(recs.bob!.count("keyChange"), 0);
  });

  it("a forged move notice is refused loudly and changes nothing", async () => {
    const mallory = Ed25519KeyPair.generate();
    // Signed by a key that is not Joe's, naming itself …
    const ownKey = issueMoveNotice({
      from: NEW,
      to: MAL as PeopleAddress,
      accountKey: mallory,
      movedAt: Date.now(),
    });
    // … or naming Joe's pinned key with a signature it did not make.
    const body = encodeBody({
      v: 1,
      type: "people.move_notice",
      from: NEW,
      to: MAL,
      account_key: (await clients.ann!.contacts.get(NEW))!.accountKey.toB64u(),
      moved_at: Date.now(),
    });
    const claimsJoe = { body: b64u(body), sig: b64u(signBytes(mallory, "move-notice", body)) };
    for (const forged of [ownKey.wire, claimsJoe]) {
      await clients.mal!.send([ANN], { type: "move_notice", notice: forged });
    }
    await waitUntil(() => refused.length === 2, "both forgeries refused", WAIT_MS);
    for (const e of refused) {
      assert.equal(e.from, NEW);
      assert.equal(e.code, "PEOPLE_BAD_SIGNATURE");
    }
    const contact = await clients.ann!.contacts.get(NEW);
    assert.equal(contact?.verified, true);
    assert.equal(contact?.state, "trusted");
    assert.equal(moved.length, 1, "nothing followed");
    await clients.ann!.sendText([NEW], "after the forgery");
    await waitUntil(() => texts(recs.joe!).includes("after the forgery"), "mail still goes to Joe", WAIT_MS);
  });

  it("a replayed notice changes nothing", async () => {
    const before = await clients.ann!.contacts.get(OLD);
    await clients.mal!.send([ANN], { type: "move_notice", notice });
    await clients.mal!.sendText([ANN], "after the replay");
    await waitUntil(
      () => texts(recs.ann!).includes("after the replay"),
      "Ann reads past the replay",
      WAIT_MS,
    );
    assert.equal(moved.length, 1, "not followed a second time");
    assert.equal(refused.length, 2, "not refused either: it is old news");
    assert.deepEqual(await clients.ann!.contacts.get(OLD), before);
  });

  it("the old server refuses a move notice it already has, and another key's notice", async () => {
    const url = `${servers[1]!.url}/_people/v1/accounts/${encodeURIComponent(OLD)}/move`;
    await assert.rejects(servers[1]!.http.json("PUT", url, { notice }), (e: unknown) => {
      return e instanceof PeopleError && e.code === "PEOPLE_REPLAYED";
    });
    const other = issueMoveNotice({
      from: OLD,
      to: MAL as PeopleAddress,
      accountKey: Ed25519KeyPair.generate(),
      movedAt: Date.now(),
    });
    await assert.rejects(servers[1]!.http.json("PUT", url, { notice: other.wire }), (e: unknown) => {
      return e instanceof PeopleError && e.code === "PEOPLE_BAD_SIGNATURE";
    });
    const served = await servers[1]!.http.json<{ notice: MoveNoticeWire }>("GET", url);
    assert.deepEqual(served.notice, notice);
  });
  it("`people move` on the command line: Ann moves too, and Joe follows her", async () => {
    const joeMoved: ClientEventMap["contactMoved"][] = [];
    clients.joe!.on("contactMoved", (e) => joeMoved.push(e));
    await clients.ann!.close();
    const certs = servers.map((srv, i) => {
      const file = join(dirs.ann!, `ca-${i}.pem`);
      writeFileSync(file, srv.handle.certificate);
      return file;
    });
    const args = ["--data", dirs.ann!, "--json"];
    for (const srv of servers) args.push("--pin", `${srv.domain}=127.0.0.1:${srv.handle.port}`);
    for (const file of certs) args.push("--ca", file);
    const r = await runProgram(join(ROOT, "bin", "people"), [...args, "move", "ann@third.test"], {
      env: { PEOPLE_PASSPHRASE: PASSPHRASE },
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      from: string;
      to: string;
      notified: number;
    };
    assert.deepEqual([out.from, out.to], [ANN, "ann@third.test"]);
    assert.ok(out.notified >= 1);
    await waitUntil(
      () => joeMoved.some((e) => e.from === ANN && e.to === "ann@third.test"),
      "Joe follows Ann",
      WAIT_MS,
    );
    assert.equal((await clients.joe!.contacts.get("ann@third.test"))?.state, "trusted");
    assert.equal(recs.joe!.count("keyChange"), 0);
  });
});
