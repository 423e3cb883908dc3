// A caller-chosen message id makes a repeated send harmless: the bridge resends
// a Matrix event after a crash under the id derived from the event, and the
// recipient keeps one copy.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PeopleClient } from "../../src/people/client/people-client.js";
import type { MessageId } from "../../src/people/protocol/ids.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import {
  Recorder,
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";

describe("PeopleClient: sending again under the same message id", function () {
  this.timeout(60_000);
  let a: TestServer;
  let b: TestServer;
  let jane: PeopleClient;
  let joe: PeopleClient;

  before(async () => {
    a = await startTestServer("a.test");
    b = await startTestServer("b.test");
    const network = networkOf([a, b]);
    jane = await PeopleClient.create({
      ...clientOptions(network, tempDir("p-jane")),
      address: "jane@a.test",
    });
    joe = await PeopleClient.create({ ...clientOptions(network, tempDir("p-joe")), address: "joe@b.test" });
  });

  after(async () => {
    await jane?.close().catch(() => undefined);
    await joe?.close().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  it("delivers the message once when it is sent twice under one id, and a new id is a new message", async () => {
    const joeSees = new Recorder(joe);
    await joe.start();
    await jane.start();
    const id = randomBytes(16).toString("base64url") as MessageId;
    assert.equal(await jane.sendText(["joe@b.test"], "once", { messageId: id }), id);
    assert.equal(await jane.sendText(["joe@b.test"], "once", { messageId: id }), id);
    await jane.sendText(["joe@b.test"], "after");
    await waitUntil(() => joeSees.texts().includes("after"), "the message after the repeat");
    await waitUntil(async () => (await jane.outboxSize()) === 0, "jane's outbox to drain");
    assert.deepEqual(joeSees.texts(), ["once", "after"]);
    assert.equal(joeSees.messages[0]!.id, id);
  });
});
