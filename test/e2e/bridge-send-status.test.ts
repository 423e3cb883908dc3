// Message send status and errors that mean what they say, against the real
// thing: Synapse, the bridge with its People server, Joe on a second People
// server that the bridge reaches through a proxy the test switches off (a
// server that is down) and on. Alice, in Element's place, sees what became of
// each message: com.beeper.message_send_status PENDING while it waits in the
// outbox, SUCCESS when Joe's server took it after all (a message taken at once
// gets no event), FAIL with one notice when the outbox gave up
// (bridge.delivery_timeout); and an address of a domain that does not exist is
// told so, in the bot's `dm` command and in an invite.
import assert from "node:assert/strict";
import { Preset } from "matrix-js-sdk";
import { MESSAGE_STATUS_EVENT } from "../../src/bridge/model/send-status.js";
import {
  eventually,
  isBotReplyTo,
  matrixApi,
  roomMessages,
  waitForTimelineEvent,
  type MatrixUser,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, ghostOf } from "../helpers/bridge-world.js";
import { SwitchProxy } from "../helpers/switch-proxy.js";

const JOE = `joe@${OTHER}`;
const JOE_GHOST = ghostOf(JOE);
const NOWHERE = "x@example.invalid";
/** Short enough for a test to see the outbox give up, long enough for a loaded machine to see PENDING first. */
const DELIVERY_TIMEOUT_S = 40;
/** Generous for a loaded machine. */
const WAIT_MS = 120_000;

type Json = Record<string, unknown>;

describe("Message send status and clear errors (real Synapse, bridge, a second People server behind a switch)", function () {
  this.timeout(300_000);
  let world: BridgeWorld | undefined;
  let proxy: SwitchProxy | undefined;
  let alice: MatrixUser | undefined;
  let portal = "";

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const the = (): SwitchProxy => proxy ?? assert.fail("no proxy");
  const joeGot = (body: string) =>
    started()
      .person(JOE)
      .rec.messages.filter((m) => m.content.type === "text" && m.content.body === body).length;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    proxy = await SwitchProxy.start();
    const p = proxy;
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (input) => {
        const discovery = input.people!.discovery!;
        // The bridge reaches other.test through the proxy; Joe's own client reaches it directly.
        p.target = Number(discovery.pins![OTHER]!.split(":")[1]);
        return {
          ...input,
          bridge: { ...input.bridge, delivery_timeout: `${DELIVERY_TIMEOUT_S}s` },
          people: { ...input.people!, discovery: { ...discovery, pins: { [OTHER]: `127.0.0.1:${p.port}` } } },
        };
      },
    });
    await world.startPeopleUser(JOE);
    alice = await world.startMatrixUser("alice");
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [JOE_GHOST],
      is_direct: true,
    });
    portal = roomId;
    await eventually(
      "Joe's ghost to join Alice's portal",
      async () => {
        const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`;
        const members = await matrixApi(world!.hs, user().accessToken, "GET", path);
        return JOE_GHOST in (members.joined as Json) ? true : undefined;
      },
      WAIT_MS,
    );
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
    await proxy?.stop();
  });

  async function send(body: string): Promise<string> {
    const { event_id: eventId } = await user().client.sendTextMessage(portal, body);
    return eventId;
  }

  /** The send status events relating to `eventId`, oldest first, as the homeserver holds them. */
  async function statuses(eventId: string): Promise<Json[]> {
    const events = await roomMessages(started().hs, user().accessToken, portal, 200);
    return events
      .filter((e) => e.type === MESSAGE_STATUS_EVENT)
      .filter((e) => ((e.content as Json)["m.relates_to"] as Json | undefined)?.event_id === eventId)
      .reverse();
  }

  async function statusIs(eventId: string, status: string): Promise<Json> {
    return eventually(
      `a ${status} status for ${eventId}`,
      async () => {
        const found = (await statuses(eventId)).find((e) => (e.content as Json).status === status);
        return found;
      },
      WAIT_MS,
    );
  }

  /** The ghost's notices in reply to `eventId`. */
  async function noticesFor(eventId: string): Promise<string[]> {
    const events = await roomMessages(started().hs, user().accessToken, portal, 200);
    return events
      .filter((e) => e.sender === JOE_GHOST && (e.content as Json | undefined)?.msgtype === "m.notice")
      .filter((e) => {
        const rel = (e.content as Json)["m.relates_to"] as Json | undefined;
        return (rel?.["m.in_reply_to"] as Json | undefined)?.event_id === eventId;
      })
      .map((e) => String((e.content as Json).body));
  }

  let firstEvent = "";

  it("delivered at once: no status event (the ghost's event would mark it read by Joe), no notice", async function () {
    const eventId = (firstEvent = await send("hello joe"));
    await eventually("Joe to receive it", () => (joeGot("hello joe") > 0 ? true : undefined), WAIT_MS);
    await eventually(
      "the bridge's outbox to be empty",
      async () => ((await started().bridge.handle.accounts.outboxSize()) === 0 ? true : undefined),
      WAIT_MS,
    );
    assert.deepEqual(await statuses(eventId), []);
    assert.deepEqual(await noticesFor(eventId), []);
  });

  it("Joe's server down: PENDING naming it, then SUCCESS when it is back, and the message arrives once", async function () {
    the().goDown();
    const eventId = await send("while you were down");
    const pending = await statusIs(eventId, "PENDING");
    assert.equal((pending.content as Json).reason, "m.foreign_network_error");
    assert.match(String((pending.content as Json).message), /^Waiting for the People server of other\.test/);
    assert.equal(joeGot("while you were down"), 0, "not delivered while the server is down");
    assert.ok(the().refused > 0, "the bridge tried the server");
    the().goUp();
    await statusIs(eventId, "SUCCESS");
    await eventually(
      "Joe to receive it",
      () => (joeGot("while you were down") > 0 ? true : undefined),
      WAIT_MS,
    );
    // A later message arrives after it (order per recipient), so a second copy would have come first.
    await send("after the outage");
    await eventually("the next message", () => (joeGot("after the outage") > 0 ? true : undefined), WAIT_MS);
    assert.equal(joeGot("while you were down"), 1);
    const told = await statuses(eventId);
    assert.deepEqual(
      told.map((e) => (e.content as Json).status),
      ["PENDING", "SUCCESS"],
    );
    assert.equal(told[1]!.sender, JOE_GHOST);
    assert.deepEqual(told[1]!.content, {
      network: "people",
      "m.relates_to": { rel_type: "m.reference", event_id: eventId },
      status: "SUCCESS",
    });
    assert.deepEqual(await noticesFor(eventId), []);
    // Still nothing for the first message, long after it was delivered.
    assert.deepEqual(await statuses(firstEvent), []);
  });

  it("given up after bridge.delivery_timeout: FAIL_PERMANENT and one notice saying why; the message never arrives", async function () {
    the().goDown();
    const eventId = await send("too late");
    await statusIs(eventId, "PENDING");
    const fail = await statusIs(eventId, "FAIL_PERMANENT");
    assert.match(
      String((fail.content as Json).message),
      /^Not delivered to joe@other\.test: The People server of other\.test could not be reached before/,
    );
    const notices = await eventually(
      "the notice",
      async () => {
        const list = await noticesFor(eventId);
        return list.length > 0 ? list : undefined;
      },
      WAIT_MS,
    );
    assert.deepEqual(notices, [String((fail.content as Json).message)]);
    the().goUp();
    await send("back again");
    await eventually("the next message", () => (joeGot("back again") > 0 ? true : undefined), WAIT_MS);
    assert.equal(joeGot("too late"), 0, "the given-up message was dropped, not delivered late");
    assert.equal((await noticesFor(eventId)).length, 1);
  });

  it("a domain that does not exist: the bot's dm command says there is no People server for it", async function () {
    const bot = `@${started().registration.sender_localpart}:localhost`;
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [bot],
      is_direct: true,
    });
    await waitForTimelineEvent(
      user().client,
      roomId,
      (e) => e.getSender() === bot && e.getContent().msgtype === "m.notice",
      WAIT_MS,
    );
    const { event_id: eventId } = await user().client.sendTextMessage(roomId, `dm ${NOWHERE}`);
    const reply = await waitForTimelineEvent(user().client, roomId, isBotReplyTo(bot, eventId), WAIT_MS);
    assert.equal(
      String(reply.getContent().body),
      "There is no People server for example.invalid: the domain does not exist.",
    );
  });

  it("a domain that does not exist: an invite of its ghost is declined with the same words", async function () {
    const ghost = ghostOf(NOWHERE);
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [ghost],
      is_direct: true,
    });
    const left = await waitForTimelineEvent(
      user().client,
      roomId,
      (e) =>
        e.getType() === "m.room.member" && e.getStateKey() === ghost && e.getContent().membership === "leave",
      WAIT_MS,
    );
    assert.equal(
      left.getContent().reason,
      "There is no People server for example.invalid: the domain does not exist.",
    );
    assert.equal(await started().bridge.handle.store.portals.byRoom(roomId), undefined);
  });
});
