// The provisioning API against the real thing: a real Synapse, the bridge
// with its embedded People server (people.test) and the API on its
// appservice listener, a second People server (other.test) with Joe and Ann.
// Alice may use the bridge, Mallory may not. The secret is the one the bridge
// generated into its data directory on first start. The tests run in order
// and share the rooms. Also here: the portals' bridge state events (MSC2346)
// and the bot's `status`.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Preset } from "matrix-js-sdk";
import {
  eventually,
  isBotReplyTo,
  matrixApi,
  waitForTimelineEvent,
  type MatrixUser,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { PROVISIONING_SECRET_FILE } from "../../src/bridge/adapters/provisioning/secret.js";
import { groupChannelId } from "../../src/bridge/model/bridge-info.js";

const ALICE = "@alice:localhost";
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
const NOBODY = `nobody@${OTHER}`;
const BOT = "@peoplebot:localhost";

type Json = Record<string, unknown>;

interface Answer {
  status: number;
  body: Json;
}

describe("provisioning API on a real Synapse and a second People server", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let secret: string;
  let dmRoom: string;
  let groupRoom: string;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({ permissions: { [ALICE]: "user" } });
    for (const address of [JOE, ANN]) await world.startPeopleUser(address);
    alice = await world.startMatrixUser("alice");
    secret = readFileSync(join(world.files.dir, "data", PROVISIONING_SECRET_FILE), "utf8").trim();
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  /** A provisioning call; `auth` false sends no Authorization, a string sends that secret. */
  async function call(
    method: "GET" | "POST" | "PUT",
    path: string,
    o: { user?: string | null; auth?: string | false; body?: string; contentType?: string } = {},
  ): Promise<Answer> {
    const url = new URL(
      `http://127.0.0.1:${started().bridge.handle.appservicePort}/_matrix/provision${path}`,
    );
    if (o.user !== null) url.searchParams.set("user_id", o.user ?? ALICE);
    const headers: Record<string, string> = {};
    if (o.auth !== false) headers.authorization = `Bearer ${o.auth ?? secret}`;
    if (o.body !== undefined) headers["content-type"] = o.contentType ?? "application/json";
    const res = await fetch(url, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}) });
    const text = await res.text();
    let body: Json;
    try {
      body = JSON.parse(text) as Json;
    } catch {
      assert.fail(`${method} ${path}: ${res.status}, not JSON: ${text.slice(0, 200)}`);
    }
    return { status: res.status, body };
  }

  function refused(answer: Answer, status: number, errcode: string): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.equal(answer.body.errcode, errcode, JSON.stringify(answer.body));
    assert.equal(typeof answer.body.error, "string");
  }

  async function bridgeState(roomId: string, type: string, stateKey: string): Promise<Json> {
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/${encodeURIComponent(stateKey)}`;
    return matrixApi(started().hs, user().accessToken, "GET", path);
  }

  async function joinWhenInvited(roomId: string): Promise<void> {
    await eventually("alice's invite", () => (user().client.getRoom(roomId) ? true : undefined));
    await user().client.joinRoom(roomId);
  }

  // --- auth ------------------------------------------------------------------

  it("made a random secret on first start, readable only by the bridge's user", function () {
    assert.match(secret, /^[0-9a-f]{64}$/);
    const mode = statSync(join(started().files.dir, "data", PROVISIONING_SECRET_FILE)).mode & 0o777;
    assert.equal(mode, 0o600);
  });

  it("refuses a request without the secret, with a wrong one, or of a user the bridge does not serve", async function () {
    refused(await call("GET", "/v3/whoami", { auth: false }), 401, "M_MISSING_TOKEN");
    refused(await call("GET", "/v3/whoami", { auth: "not-the-secret" }), 401, "M_UNKNOWN_TOKEN");
    const oneOff = `${secret.slice(0, -1)}${secret.endsWith("0") ? "1" : "0"}`;
    refused(await call("GET", "/v3/whoami", { auth: oneOff }), 401, "M_UNKNOWN_TOKEN");
    refused(await call("GET", "/v3/whoami", { user: null }), 400, "M_INVALID_PARAM");
    refused(await call("GET", "/v3/whoami", { user: "alice" }), 400, "M_INVALID_PARAM");
    refused(await call("GET", "/v3/whoami", { user: "@mallory:localhost" }), 403, "M_FORBIDDEN");
    refused(await call("POST", `/v3/create_dm/${JOE}`, { user: "@mallory:localhost" }), 403, "M_FORBIDDEN");
    // Nothing was made for the refused user.
    assert.equal(await started().bridge.handle.store.peopleAccounts.get("@mallory:localhost"), undefined);
    assert.equal(await started().bridge.handle.store.portals.byPair("@mallory:localhost", JOE), undefined);
  });

  it("answers unknown endpoints, wrong methods and the endpoints still to come with JSON errors", async function () {
    refused(await call("GET", "/v3/frobnicate"), 404, "M_UNRECOGNIZED");
    refused(await call("GET", `/v3/create_dm/${JOE}`), 405, "M_UNRECOGNIZED");
    refused(await call("GET", "/v3/login/flows"), 501, "PEOPLE.NOT_YET");
    refused(await call("POST", "/v3/logout/all"), 501, "PEOPLE.NOT_YET");
    refused(await call("POST", `/v3/follow/${JOE}`), 501, "PEOPLE.NOT_YET");
    // A browser's preflight needs no secret; the answer lets the bearer header through.
    const port = started().bridge.handle.appservicePort;
    const preflight = await fetch(`http://127.0.0.1:${port}/_matrix/provision/v3/whoami`, {
      method: "OPTIONS",
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /Authorization/);
  });

  // --- whoami, resolve ---------------------------------------------------------

  it("whoami names the bridge and the address the user will get, before they have an account", async function () {
    const { status, body } = await call("GET", "/v3/whoami");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.bridge_bot, BOT);
    assert.equal(body.homeserver, "localhost");
    assert.deepEqual(body.logins, []);
    const people = body.people as Json;
    assert.equal(people.domain, PEOPLE_DOMAIN);
    assert.deepEqual(people.addresses, []);
    assert.equal(people.address_on_first_use, ALICE_PEOPLE);
    assert.equal((body.network as Json).network_id, "people");
  });

  it("resolves a People address to its ghost, and tells a bad or unknown address apart", async function () {
    refused(await call("GET", "/v3/resolve_identifier/not-an-address"), 400, "M_INVALID_PARAM");
    refused(await call("GET", `/v3/resolve_identifier/${NOBODY}`), 404, "M_NOT_FOUND");
    refused(await call("GET", `/v3/resolve_identifier/${ALICE_PEOPLE}`), 400, "PEOPLE.OWN_ADDRESS");
    const { status, body } = await call("GET", `/v3/resolve_identifier/${JOE}`);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.id, JOE);
    assert.equal(body.mxid, ghostOf(JOE));
    assert.deepEqual(body.identifiers, [`people:${JOE}`]);
    assert.equal(body.dm_room_mxid, undefined);
  });

  // --- DMs -----------------------------------------------------------------------

  it("create_dm makes the DM portal, and gives the same room again", async function () {
    refused(await call("POST", `/v3/create_dm/${NOBODY}`), 404, "M_NOT_FOUND");
    const first = await call("POST", `/v3/create_dm/${JOE}`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.just_created, true);
    assert.equal(first.body.mxid, ghostOf(JOE));
    dmRoom = String(first.body.dm_room_mxid);
    assert.match(dmRoom, /^!/);
    const portal = await started().bridge.handle.store.portals.byPair(ALICE, JOE);
    assert.equal(portal?.roomId, dmRoom);
    const again = await call("POST", `/v3/create_dm/${JOE}`);
    assert.equal(again.status, 200);
    assert.equal(again.body.dm_room_mxid, dmRoom);
    assert.equal(again.body.just_created, false);
    const resolved = await call("GET", `/v3/resolve_identifier/${JOE}`);
    assert.equal(resolved.body.dm_room_mxid, dmRoom);
  });

  it("the DM is the room the bot's `dm` command gives", async function () {
    const { room_id: management } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    await waitForTimelineEvent(
      user().client,
      management,
      (e) => e.getSender() === BOT && e.getContent().msgtype === "m.notice",
    );
    const { event_id: asked } = await user().client.sendTextMessage(management, `dm ${JOE}`);
    const reply = await waitForTimelineEvent(user().client, management, isBotReplyTo(BOT, asked));
    const body = String(reply.getContent().body);
    assert.match(body, /already have a direct chat/);
    assert.ok(body.includes(encodeURIComponent(dmRoom)), body);
    // whoami now names the management room and the account the DM made.
    const who = await call("GET", "/v3/whoami");
    assert.equal(who.body.management_room, management);
    const logins = who.body.logins as Json[];
    assert.equal(logins.length, 1);
    assert.equal(logins[0]!.id, ALICE_PEOPLE);
    // Her People client connects to its server by itself.
    await eventually("alice's login CONNECTED", async () => {
      const again = (await call("GET", "/v3/whoami")).body.logins as Json[];
      return (again[0]?.state as Json | undefined)?.state_event === "CONNECTED" ? true : undefined;
    });
  });

  it("the DM portal carries m.bridge and uk.half-shot.bridge naming People, the domain and the address", async function () {
    await joinWhenInvited(dmRoom);
    const key = `people://${OTHER}/${JOE}`;
    for (const type of ["m.bridge", "uk.half-shot.bridge"]) {
      const content = await bridgeState(dmRoom, type, key);
      assert.deepEqual(content, {
        bridgebot: BOT,
        creator: BOT,
        protocol: { id: "people", displayname: "People" },
        network: { id: OTHER, displayname: OTHER },
        channel: { id: JOE, displayname: JOE },
      });
    }
  });

  it("contacts lists whom the user wrote to, with the state of their keys", async function () {
    await user().client.sendTextMessage(dmRoom, "hello Joe");
    const joe = started().person(JOE);
    await eventually("joe receives alice's message", () =>
      joe.rec.messages.some((m) => m.from === ALICE_PEOPLE) ? true : undefined,
    );
    const contacts = await eventually("joe among alice's contacts", async () => {
      const { status, body } = await call("GET", "/v3/contacts");
      assert.equal(status, 200, JSON.stringify(body));
      const list = body.contacts as Json[];
      return list.some((c) => c.id === JOE) ? list : undefined;
    });
    const entry = contacts.find((c) => c.id === JOE)!;
    assert.equal(entry.mxid, ghostOf(JOE));
    assert.equal(entry.dm_room_mxid, dmRoom);
    const trust = entry.trust as Json;
    assert.equal(trust.verified, false);
    assert.ok(["new", "unchanged", "continued"].includes(String(trust.state)), JSON.stringify(trust));
    assert.ok(Number(trust.devices) >= 1);
  });

  // --- groups ---------------------------------------------------------------------

  it("create_group refuses malformed JSON, a wrong shape, too few or unknown addresses", async function () {
    refused(await call("POST", "/v3/create_group", { body: "{not json" }), 400, "M_NOT_JSON");
    refused(
      await call("POST", "/v3/create_group", { body: "{}", contentType: "text/plain" }),
      400,
      "M_NOT_JSON",
    );
    refused(
      await call("POST", "/v3/create_group", { body: JSON.stringify({ participants: "joe" }) }),
      400,
      "M_BAD_JSON",
    );
    refused(
      await call("POST", "/v3/create_group", { body: JSON.stringify({ participants: ["nope"] }) }),
      400,
      "M_BAD_JSON",
    );
    refused(
      await call("POST", "/v3/create_group", { body: JSON.stringify({ participants: [JOE] }) }),
      400,
      "PEOPLE.REFUSED",
    );
    refused(
      await call("POST", "/v3/create_group", { body: JSON.stringify({ participants: [JOE, NOBODY] }) }),
      404,
      "M_NOT_FOUND",
    );
    refused(await call("POST", "/v3/create_group", { body: "x".repeat(70 * 1024) }), 413, "M_TOO_LARGE");
    assert.equal(await started().bridge.handle.store.groups.count(), 0);
  });

  it("create_group makes a group portal with the addresses, named as asked, that People users receive", async function () {
    const { status, body } = await call("POST", "/v3/create_group", {
      body: JSON.stringify({ participants: [JOE, ANN], name: "Weekend trip" }),
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.just_created, true);
    groupRoom = String(body.mxid);
    const group = await started().bridge.handle.store.groups.byRoom(groupRoom);
    assert.deepEqual(
      group?.members.map((m) => m.address),
      [ALICE_PEOPLE, ANN, JOE].sort(),
    );
    await joinWhenInvited(groupRoom);
    const name = await matrixApi(
      started().hs,
      user().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(groupRoom)}/state/m.room.name`,
    );
    assert.equal(name.name, "Weekend trip");
    await eventually("both ghosts joined", async () => {
      const members = await matrixApi(
        started().hs,
        user().accessToken,
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(groupRoom)}/joined_members`,
      );
      const joined = Object.keys(members.joined as Json);
      return joined.includes(ghostOf(JOE)) && joined.includes(ghostOf(ANN)) ? true : undefined;
    });
    await user().client.sendTextMessage(groupRoom, "who brings the tent?");
    for (const address of [JOE, ANN]) {
      const got = await eventually(`${address} receives the group message`, () =>
        started()
          .person(address)
          .rec.messages.find((m) => m.content.type === "text" && m.content.body === "who brings the tent?"),
      );
      assert.equal(got.from, ALICE_PEOPLE);
      assert.deepEqual([...got.to].sort(), [ANN, JOE].sort());
    }
    const again = await call("POST", "/v3/create_group", { body: JSON.stringify({ addresses: [ANN, JOE] }) });
    assert.equal(again.status, 200);
    assert.equal(again.body.mxid, groupRoom);
    assert.equal(again.body.just_created, false);
  });

  it("the group portal carries both bridge state events, named after the room", async function () {
    const id = groupChannelId(groupRoom);
    for (const type of ["m.bridge", "uk.half-shot.bridge"]) {
      const content = await bridgeState(groupRoom, type, `people://${PEOPLE_DOMAIN}/${id}`);
      assert.deepEqual(content, {
        bridgebot: BOT,
        creator: BOT,
        protocol: { id: "people", displayname: "People" },
        network: { id: PEOPLE_DOMAIN, displayname: PEOPLE_DOMAIN },
        channel: { id, displayname: "Weekend trip" },
      });
    }
  });

  it("a DM the user opens by inviting a ghost gets its bridge state too", async function () {
    const { room_id: room } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [ghostOf(ANN)],
      is_direct: true,
    });
    const key = `people://${OTHER}/${ANN}`;
    // Both are set one after the other: wait for the second.
    const [bridge, halfShot] = await eventually("the bridge state of the invited DM", async () => {
      if (!(await started().bridge.handle.store.portals.byRoom(room))) return undefined;
      const both = await Promise.all(
        ["m.bridge", "uk.half-shot.bridge"].map((type) =>
          bridgeState(room, type, key).catch(() => undefined),
        ),
      );
      return both.every((c) => c !== undefined) ? (both as Json[]) : undefined;
    });
    assert.deepEqual((bridge as Json).channel, { id: ANN, displayname: ANN });
    assert.deepEqual(halfShot, bridge);
  });

  it("puts a bridge state someone else changed right at once, and a start asks nothing of labelled rooms", async function () {
    const key = `people://${OTHER}/${JOE}`;
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(dmRoom)}/state/uk.half-shot.bridge/${encodeURIComponent(key)}`;
    // Alice has the power in her DM (a trusted private chat): she spoils one of the two events.
    await matrixApi(started().hs, user().accessToken, "PUT", path, { bridgebot: "@someone:else" });
    const restored = await eventually("the bridge state put right", async () => {
      const content = await bridgeState(dmRoom, "uk.half-shot.bridge", key);
      return content.bridgebot === BOT ? content : undefined;
    });
    assert.deepEqual(restored, await bridgeState(dmRoom, "m.bridge", key));
    // Every portal's label is recorded as set: after a restart the homeserver is not asked about them.
    await started().stopBridge();
    await started().startBridge();
    const state = started().bridge.handle.portals.state ?? assert.fail("no bridge state");
    assert.deepEqual(await state.syncAll(), { set: 0, unchanged: 0, skipped: 0, recorded: 3, failed: 0 });
  });

  // --- status ------------------------------------------------------------------------

  it("the bot's status names the version, the user's address, the portals and the queues", async function () {
    const management = (await started().bridge.handle.store.managementRooms.forUser(ALICE))!.roomId;
    const { event_id: asked } = await user().client.sendTextMessage(management, "status");
    const reply = await waitForTimelineEvent(user().client, management, isBotReplyTo(BOT, asked));
    const body = String(reply.getContent().body);
    assert.match(body, /Version: matrix-appservice-people \d+\.\d+\.\d+/);
    assert.ok(body.includes(`Your People address: \`${ALICE_PEOPLE}\``), body);
    assert.match(body, /Portals: 2 direct chats, 1 groups/);
    assert.match(body, /Queues: \d+ People envelopes waiting in outboxes, \d+ Matrix events to retry/);
  });
});
