// Public profiles and transfer progress, through PeopleClient against two real servers.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { isPeopleError } from "../../src/people/errors.js";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";

const JANE = "jane@a.test";
const JOE = "joe@b.test";

describe("PeopleClient profiles and transfer progress", function () {
  let a: TestServer;
  let b: TestServer;
  let jane: PeopleClient;
  let joe: PeopleClient;
  let http: HttpsClient;

  before(async function () {
    this.timeout(60_000);
    a = await startTestServer("a.test");
    b = await startTestServer("b.test");
    const network = networkOf([a, b]);
    http = new HttpsClient({ ca: network.ca! });
    jane = await PeopleClient.create({ ...clientOptions(network, tempDir("p-jane")), address: JANE });
    joe = await PeopleClient.create({ ...clientOptions(network, tempDir("p-joe")), address: JOE });
  });

  after(async () => {
    await jane?.close().catch(() => undefined);
    await joe?.close().catch(() => undefined);
    http?.close();
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  const profileUrl = () =>
    `https://127.0.0.1:${a.handle.port}/_people/v1/accounts/${encodeURIComponent(JANE)}/profile`;

  it("sets a profile with an avatar; another account verifies it and the avatar's hash", async () => {
    await assert.rejects(joe.profile.get(JANE), (e: unknown) => isPeopleError(e, "PEOPLE_NOT_FOUND"));
    const bytes = randomBytes(100 * 1024);
    const seen: [number, number][] = [];
    const set = await jane.profile.set({
      display_name: "Jane",
      avatar: { bytes, mime: "image/png" },
      onProgress: (done, total) => seen.push([done, total]),
    });
    assert.deepEqual(seen.at(-1), [bytes.length, bytes.length]);
    assert(seen.length > 1, "reported in pieces");
    assert.equal(set.avatar!.id, createHash("sha256").update(bytes).digest("base64url"));

    const got = await joe.profile.get(JANE);
    assert.deepEqual(got, set);
    assert((await joe.profile.avatar(got)).equals(bytes));
    const wrong = {
      ...got,
      avatar: { ...got.avatar!, id: createHash("sha256").update("x").digest("base64url") },
    };
    await assert.rejects(joe.profile.avatar(wrong));
  });

  it("the server refuses a rolled-back profile and one another account signed; the newer one is still served", async () => {
    const old = (await http.send("GET", profileUrl())).body.toString("utf8");
    await jane.profile.set({ display_name: "Jane 2" });
    assert.equal((await joe.profile.get(JANE)).displayName, "Jane 2");
    // Anyone may PUT a profile the account once signed: the server refuses the older one and keeps serving the newer.
    const put = await http.send("PUT", profileUrl(), {
      headers: { "content-type": "application/json" },
      body: old,
    });
    assert.equal(put.status, 409);
    assert.equal((JSON.parse(put.body.toString("utf8")) as { errcode: string }).errcode, "PEOPLE_REPLAYED");
    assert.equal((await joe.profile.get(JANE)).displayName, "Jane 2");
    // Joe's profile is served (signed by Joe) for Jane's address: refused.
    await joe.profile.set({ display_name: "Joe" });
    const joes = await http.send(
      "GET",
      `https://127.0.0.1:${b.handle.port}/_people/v1/accounts/${encodeURIComponent(JOE)}/profile`,
    );
    // Joe's profile (signed by Joe) put for Jane's address: the server checks it with Jane's key.
    const foreign = await http.send("PUT", profileUrl(), {
      headers: { "content-type": "application/json" },
      body: joes.body,
    });
    assert.equal(foreign.status, 400);
    assert.equal(
      (JSON.parse(foreign.body.toString("utf8")) as { errcode: string }).errcode,
      "PEOPLE_BAD_SIGNATURE",
    );
    assert.equal((await jane.profile.get(JANE)).displayName, "Jane 2");
  });

  it("reports attachment bytes sent and received", async () => {
    const bytes = randomBytes(300 * 1024);
    const up: number[] = [];
    const down: [number, number][] = [];
    let ref: Parameters<PeopleClient["downloadAttachment"]>[0] | undefined;
    const off = joe.onMessage((m) => {
      if (m.content.type === "attachment") ref = m.content.blob;
    });
    await joe.start();
    await jane.sendAttachment([JOE], bytes, { mime: "application/pdf" }, { onProgress: (d) => up.push(d) });
    await jane.flush();
    await waitUntil(() => ref !== undefined, "the attachment at Joe");
    off();
    assert(ref, "received");
    assert.equal(up.at(-1), bytes.length + 16);
    assert(up.length >= 5, "in 64 KiB pieces");
    const plain = await joe.downloadAttachment(ref, { onProgress: (d, t) => down.push([d, t]) });
    assert(plain.equals(bytes));
    assert.deepEqual(down.at(-1), [bytes.length + 16, bytes.length + 16]);
  });
});
