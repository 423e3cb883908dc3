// Proves the Synapse harness (test/helpers/synapse.ts): the pinned Synapse installs
// (or comes from the cache), starts, takes an appservice registration with the flags
// the bridge relies on, lets two users talk, and keeps its data across a restart.

import { matrixApi } from "../helpers/bridge-harness.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";

type Json = Record<string, unknown>;

const api = matrixApi;

interface Sync {
  next_batch: string;
  rooms?: { join?: Record<string, { timeline: { events: { event_id: string; content: Json }[] } }> };
}

/** Syncs as `token` until the event shows up in the room's timeline; returns the next batch token. */
async function syncUntil(
  hs: SynapseHandle,
  token: string,
  roomId: string,
  eventId: string,
  since?: string,
): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const query = since ? `?timeout=2000&since=${encodeURIComponent(since)}` : "?timeout=0";
    const sync = (await api(hs, token, "GET", `/_matrix/client/v3/sync${query}`)) as unknown as Sync;
    const events = sync.rooms?.join?.[roomId]?.timeline.events ?? [];
    if (events.some((e) => e.event_id === eventId)) return sync.next_batch;
    assert.ok(Date.now() < deadline, `event ${eventId} never arrived through /sync`);
    since = sync.next_batch;
  }
}

describe("Synapse test harness", function () {
  let hs: SynapseHandle | undefined;
  let scratch: string | undefined;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse from PyPI
    await ensureSynapseInstalled();
    scratch = mkdtempSync(join(tmpdir(), "people-synapse-test-"));
  });
  const dir = (): string => scratch ?? assert.fail("no scratch dir");

  after(async function () {
    this.timeout(60_000);
    await hs?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("rejects a missing appservice registration file with a clear error", async function () {
    const missing = join(dir(), "no-such-registration.yaml");
    await assert.rejects(startSynapse({ appserviceRegistrations: [missing] }), (err: Error) => {
      assert.match(err.message, /appservice registration file not found/);
      assert.ok(err.message.includes(missing), err.message);
      return true;
    });
  });

  it("reports Synapse's own error when a registration file is invalid", async function () {
    this.timeout(120_000);
    const bad = join(dir(), "bad-registration.yaml");
    writeFileSync(bad, "id: broken\nurl: null\n"); // no tokens, no sender_localpart
    await assert.rejects(startSynapse({ appserviceRegistrations: [bad] }), (err: Error) => {
      const headline = err.message.split("\n")[0] ?? "";
      assert.match(
        headline,
        /^Synapse exited with code \d+ while starting: KeyError: .*'as_token'/,
        headline,
      );
      assert.ok(headline.includes(bad), headline);
      return true;
    });
  });

  it("starts Synapse, two users talk in a room, and it survives a restart", async function () {
    this.timeout(180_000);
    const registration = join(dir(), "people-registration.yaml");
    const asToken = "as-token-harness";
    writeFileSync(
      registration,
      toYaml({
        id: "people-harness",
        url: null, // no transactions pushed: nothing listens in this test
        as_token: asToken,
        hs_token: "hs-token-harness",
        sender_localpart: "peoplebot",
        namespaces: { users: [{ exclusive: true, regex: "@people_.*:localhost" }], aliases: [], rooms: [] },
        rate_limited: false,
        "de.sorunome.msc2409.push_ephemeral": true,
        receive_ephemeral: true,
        "org.matrix.msc3202": true,
        "io.element.msc4190": true,
      }),
    );

    const server = await startSynapse({ appserviceRegistrations: [registration] });
    hs = server;
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.serverName, "localhost");

    // The appservice is known, and MSC4190 lets it create a device with PUT /devices.
    const whoami = await api(server, asToken, "GET", "/_matrix/client/v3/account/whoami");
    assert.equal(whoami.user_id, "@peoplebot:localhost");
    // (201: created; without MSC4190 this is a 404 for an unknown device)
    await api(server, asToken, "PUT", "/_matrix/client/v3/devices/PEOPLEHARNESS", {
      display_name: "harness",
    });
    const devices = (await api(server, asToken, "GET", "/_matrix/client/v3/devices")) as {
      devices?: { device_id: string }[];
    };
    assert.ok(devices.devices?.some((d) => d.device_id === "PEOPLEHARNESS"));

    const alice = await server.registerUser("alice", "alice-password");
    const bob = await server.registerUser("bob", "bob-password");
    assert.equal(alice.userId, "@alice:localhost");
    assert.ok(alice.accessToken && alice.deviceId);
    const adminToken = server.adminToken ?? assert.fail("no admin token");
    const adminView = await api(server, adminToken, "GET", `/_synapse/admin/v2/users/${alice.userId}`);
    assert.equal(adminView.name, alice.userId);

    const { room_id: roomId } = (await api(
      server,
      alice.accessToken,
      "POST",
      "/_matrix/client/v3/createRoom",
      {
        preset: "private_chat",
        invite: [bob.userId],
      },
    )) as { room_id: string };
    await api(server, bob.accessToken, "POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    const send = (text: string, txn: string): Promise<Json> =>
      api(
        server,
        alice.accessToken,
        "PUT",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`,
        { msgtype: "m.text", body: text },
      );
    const first = (await send("hello before restart", "t1")).event_id as string;
    const since = await syncUntil(server, bob.accessToken, roomId, first);

    const portBefore = server.port;
    await server.restart();
    assert.equal(server.port, portBefore);

    // Same data: old tokens work and the message is still in the room's history.
    const history = (await api(
      server,
      bob.accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=20`,
    )) as { chunk: { event_id: string; content: Json }[] };
    const kept = history.chunk.find((e) => e.event_id === first);
    assert.equal(kept?.content.body, "hello before restart");

    // And the sync stream carries on from where it was.
    const second = (await send("hello after restart", "t2")).event_id as string;
    await syncUntil(server, bob.accessToken, roomId, second, since);
  });
});
