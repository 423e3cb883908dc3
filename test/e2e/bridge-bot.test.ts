// The bridge against a real Synapse: the registration made by the real CLI,
// the bot's management room opened from an Element-like client (matrix-js-sdk),
// help/status/unknown commands, polite refusal of unpermitted users, and
// exactly-once appservice transactions (replayed, concurrent, across a restart).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { Preset } from "matrix-js-sdk";
import {
  bridgeConfigInput,
  generateRegistrationWithCli,
  isBotReplyTo,
  makeBridgeDir,
  matrixApi,
  putTransaction,
  roomMessages,
  startMatrixUser,
  startTestBridge,
  waitForTimelineEvent,
  writeConfigFile,
  type BridgeDir,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { freePort } from "../helpers/ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";
import type { Registration } from "../../src/bridge/registration.js";
import type { BridgeConfigInput } from "../../src/bridge/config.js";

const PEOPLE_DOMAIN = "people.test";

describe("bridge bot on a real Synapse", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let files: BridgeDir;
  let hs: SynapseHandle | undefined;
  let bridge: TestBridge | undefined;
  let registration: Registration;
  let input: BridgeConfigInput;
  let alice: MatrixUser | undefined;
  let mallory: MatrixUser | undefined;
  let roomId: string;
  const bot = "@peoplebot:localhost";

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    await ensureSynapseInstalled();
    files = makeBridgeDir();
    const appservicePort = await freePort();
    // The registration does not depend on the homeserver URL: a placeholder until Synapse runs.
    const fileInput = bridgeConfigInput(files.dir, {
      homeserverUrl: "http://127.0.0.1:9",
      appservicePort,
      peopleDomain: PEOPLE_DOMAIN,
      permissions: { "@alice:localhost": "admin" },
    });
    writeConfigFile(files.configPath, fileInput);
    registration = await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
    hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
    input = { ...fileInput, homeserver: { url: hs.url, domain: hs.serverName } };
    bridge = await startTestBridge(input, registration, { registrationPath: files.registrationPath });
    await bridge.handle.ready;
  });

  after(async function () {
    this.timeout(60_000);
    alice?.client.stopClient();
    mallory?.client.stopClient();
    await bridge?.stop();
    await hs?.stop();
    files?.remove();
  });

  const running = (): TestBridge => bridge ?? assert.fail("bridge not started");
  const synapse = (): SynapseHandle => hs ?? assert.fail("synapse not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");

  it("the CLI wrote a registration Synapse accepts, with fresh secrets, mode 0600", function () {
    assert.equal(statSync(files.registrationPath).mode & 0o777, 0o600);
    assert.match(registration.as_token, /^[0-9a-f]{64}$/);
    assert.match(registration.hs_token, /^[0-9a-f]{64}$/);
    assert.notEqual(registration.as_token, registration.hs_token);
    assert.equal(registration.sender_localpart, "peoplebot");
    assert.deepEqual(registration.namespaces.users, [
      { exclusive: true, regex: "^@_people_[a-z0-9._=\\-/]+:localhost$" },
    ]);
    assert.equal(running().handle.connectionState(), "connected");
  });

  it("gives the bot its display name", async function () {
    const profile = await matrixApi(
      synapse(),
      synapse().adminToken!,
      "GET",
      `/_matrix/client/v3/profile/${bot}`,
    );
    assert.equal(profile.displayname, "People bridge");
  });

  it("joins a DM from a permitted user and greets them", async function () {
    alice = await startMatrixUser(synapse(), "alice");
    const created = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [bot],
      is_direct: true,
    });
    roomId = created.room_id;
    await waitForTimelineEvent(
      user().client,
      roomId,
      (e) =>
        e.getType() === "m.room.member" && e.getStateKey() === bot && e.getContent().membership === "join",
    );
    const welcome = await waitForTimelineEvent(
      user().client,
      roomId,
      (e) => e.getSender() === bot && e.getContent().msgtype === "m.notice",
    );
    assert.match(String(welcome.getContent().body), /help/);
    assert.equal((await running().handle.store.managementRooms.forUser(user().userId))?.roomId, roomId);
  });

  async function command(text: string): Promise<string> {
    const { event_id: eventId } = await user().client.sendTextMessage(roomId, text);
    const reply = await waitForTimelineEvent(user().client, roomId, isBotReplyTo(bot, eventId));
    const content = reply.getContent();
    assert.equal(content.format, "org.matrix.custom.html");
    return String(content.body);
  }

  it("answers help with the list of commands, as m.notice", async function () {
    const body = await command("help");
    assert.match(body, /People bridge commands/);
    assert.match(body, /`help`/);
    assert.match(body, /`status`/);
  });

  it("answers status with the homeserver, the People domain, the accounts and the version", async function () {
    const body = await command("status");
    assert.match(body, /reachable/);
    assert.doesNotMatch(body, /NOT reachable/);
    assert.ok(body.includes(`domain \`${PEOPLE_DOMAIN}\``), body);
    assert.ok(body.includes(running().handle.people.url), body);
    assert.match(body, /People accounts: 0/);
    assert.match(body, /Version: matrix-appservice-people \d+\.\d+\.\d+/);
  });

  it("answers an unknown command with a hint", async function () {
    const body = await command("frobnicate now");
    assert.match(body, /Unknown command `frobnicate`/);
    assert.match(body, /Send `help`/);
  });

  it("answers in every management room of a user, the older ones too", async function () {
    const { room_id: second } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [bot],
      is_direct: true,
    });
    await waitForTimelineEvent(
      user().client,
      second,
      (e) => e.getSender() === bot && e.getContent().msgtype === "m.notice",
    );
    assert.deepEqual(
      (await running().handle.store.managementRooms.roomsOf(user().userId)).map((r) => r.roomId).sort(),
      [roomId, second].sort(),
    );
    for (const room of [second, roomId]) {
      const { event_id: eventId } = await user().client.sendTextMessage(room, "help");
      const reply = await waitForTimelineEvent(user().client, room, isBotReplyTo(bot, eventId));
      assert.match(String(reply.getContent().body), /People bridge commands/);
    }
  });

  it("says it cannot read encrypted messages, and that the admin can turn encryption on", async function () {
    const sent = await matrixApi(
      synapse(),
      user().accessToken,
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/enc-${Date.now()}`,
      { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "AwgAEn...", session_id: "x", device_id: "X" },
    );
    const reply = await waitForTimelineEvent(user().client, roomId, isBotReplyTo(bot, String(sent.event_id)));
    assert.match(String(reply.getContent().body), /cannot read encrypted messages/);
    assert.match(
      String(reply.getContent().body),
      /`encryption\.allow: true`/,
      "names the key the admin sets",
    );
  });

  it("politely declines a DM from a user who may not use the bridge", async function () {
    mallory = await startMatrixUser(synapse(), "mallory");
    const { room_id: malloryRoom } = await mallory.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [bot],
      is_direct: true,
    });
    const declined = await waitForTimelineEvent(
      mallory.client,
      malloryRoom,
      (e) =>
        e.getType() === "m.room.member" && e.getStateKey() === bot && e.getContent().membership === "leave",
    );
    assert.match(String(declined.getContent().reason), /not allowed to use this People bridge/);
    assert.equal(await running().handle.store.managementRooms.forUser(mallory.userId), undefined);
  });

  // --- exactly-once transactions -------------------------------------------

  /** A `help` command event as the homeserver would push it (its id is not in Synapse). */
  function helpEvent(): Record<string, unknown> {
    return {
      type: "m.room.message",
      room_id: roomId,
      sender: user().userId,
      event_id: `$replay-${randomBytes(8).toString("hex")}`,
      origin_server_ts: Date.now(),
      content: { msgtype: "m.text", body: "help" },
    };
  }

  async function repliesTo(eventId: string): Promise<number> {
    const events = await roomMessages(synapse(), user().accessToken, roomId);
    return events.filter(
      (e) =>
        e.sender === bot &&
        (e.content as { "m.relates_to"?: { "m.in_reply_to"?: { event_id?: string } } })["m.relates_to"]?.[
          "m.in_reply_to"
        ]?.event_id === eventId,
    ).length;
  }

  it("refuses a transaction without the homeserver's token", async function () {
    const res = await putTransaction(running().handle.appservicePort, "not-the-token", "bad-token-txn", {
      events: [helpEvent()],
    });
    assert.equal(res.status, 403);
    assert.equal(res.body.errcode, "M_FORBIDDEN");
  });

  it("applies a transaction replayed with the same id once", async function () {
    const port = running().handle.appservicePort;
    const event = helpEvent();
    const txnId = `replay-${randomBytes(6).toString("hex")}`;
    for (let i = 0; i < 2; i++) {
      const res = await putTransaction(port, registration.hs_token, txnId, { events: [event] });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {});
    }
    // The first answer came only after the reply was sent: it is in the room now.
    assert.equal(await repliesTo(event.event_id as string), 1);
    assert.equal(
      (await running().handle.store.transactions.get(txnId))?.txnId,
      txnId,
      "the transaction id is recorded",
    );
  });

  it("applies concurrent deliveries of one transaction once", async function () {
    const port = running().handle.appservicePort;
    const event = helpEvent();
    const txnId = `concurrent-${randomBytes(6).toString("hex")}`;
    const results = await Promise.all(
      [0, 1, 2].map(() => putTransaction(port, registration.hs_token, txnId, { events: [event] })),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200],
    );
    assert.equal(await repliesTo(event.event_id as string), 1);
  });

  it("remembers applied transactions across a restart of the bridge", async function () {
    const event = helpEvent();
    const txnId = `restart-${randomBytes(6).toString("hex")}`;
    let res = await putTransaction(running().handle.appservicePort, registration.hs_token, txnId, {
      events: [event],
    });
    assert.equal(res.status, 200);
    await running().stop();
    bridge = await startTestBridge(input, registration, { registrationPath: files.registrationPath });
    await running().handle.ready;
    res = await putTransaction(running().handle.appservicePort, registration.hs_token, txnId, {
      events: [event],
    });
    assert.equal(res.status, 200);
    assert.equal(await repliesTo(event.event_id as string), 1);
    // And the bot still answers in the management room after the restart.
    assert.match(await command("help"), /`status`/);
  });

  it("serves /health and Prometheus /metrics for the bridge and its People server", async function () {
    const base = running().handle.metricsUrl ?? assert.fail("metrics disabled");
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), {
      ok: true,
      homeserver: "connected",
      database: "ok",
      people: "ok",
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^bridge_transactions_total\{outcome="processed"\} \d+/m);
    assert.match(metrics, /^bridge_homeserver_connected 1$/m);
    assert.match(metrics, /^bridge_commands_total\{command="help",outcome="ok"\} \d+/m);
    assert.match(metrics, /^people_envelopes_accepted_total /m);
  });
});
