// Nothing acknowledged is lost (DESIGN §4), end to end: Alice on Synapse and
// Joe on a second People server (other.test) write to each other in a DM
// portal while the bridge, running as its real command in a child process, is
// SIGKILLed and restarted, and while Synapse is stopped and started again.
// Afterwards every message is on the other side exactly once (counted by body).
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Preset } from "matrix-js-sdk";
import { GHOST_DEVICE_ID } from "../../src/bridge/adapters/appservice/ghost-devices.js";
import { readRegistrationFile } from "../../src/bridge/registration.js";
import { eventually, matrixApi, type BridgeProcess, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, type PeopleUser } from "../helpers/bridge-world.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";

type Json = Record<string, unknown>;

/** How often each body occurs. */
function tally(bodies: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of bodies) counts.set(b, (counts.get(b) ?? 0) + 1);
  return counts;
}

/** The expected bodies that are missing, and those present more than once. */
function defects(expected: string[], counts: Map<string, number>): { missing: string[]; twice: string[] } {
  return {
    missing: expected.filter((b) => !counts.get(b)),
    twice: expected.filter((b) => (counts.get(b) ?? 0) > 1),
  };
}

describe("crash safety of the bridge: a real Synapse, the bridge as a child process, a second People server", function () {
  this.timeout(240_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let joe: PeopleUser | undefined;
  let portal: string;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const synapse = (): SynapseHandle => started().hs;
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const joeClient = () => joe ?? assert.fail("joe not started");
  const bridge = (): BridgeProcess => started().child;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({ permissions: { "@alice:localhost": "user" }, childProcess: true });
    joe = await world.startPeopleUser(JOE);
    alice = await world.startMatrixUser("alice");

    // The portal: Alice invites Joe's ghost to a direct chat; the ghost joins.
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [JOE_GHOST],
      is_direct: true,
    });
    portal = roomId;
    await eventually("Joe's ghost to join the portal", async () => {
      const members = await matrixApi(
        synapse(),
        user().accessToken,
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/joined_members`,
      );
      return JOE_GHOST in (members.joined as Json) ? true : undefined;
    });
    // Both directions work before anything is broken.
    await sendAsAlice("warm-up-a", "warm-up-a");
    await joeClient().client.sendText([ALICE_PEOPLE], "warm-up-j");
    await eventually("the warm-up to reach Joe", () =>
      joeBodies().includes("warm-up-a") ? true : undefined,
    );
    await eventually("the warm-up to reach Alice", async () =>
      (await timelineBodies()).includes("warm-up-j") ? true : undefined,
    );
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  // --- helpers -------------------------------------------------------------

  /**
   * Alice sends a text as Element does: PUT with a transaction id, repeated with the same id
   * until Synapse answers (it does not while it is down). Returns the event id.
   */
  async function sendAsAlice(body: string, txnId: string): Promise<{ eventId: string; attempts: number }> {
    const url =
      `${synapse().url}/_matrix/client/v3/rooms/${encodeURIComponent(portal)}` +
      `/send/m.room.message/${encodeURIComponent(txnId)}`;
    for (let attempts = 1; ; attempts++) {
      try {
        const res = await fetch(url, {
          method: "PUT",
          headers: { authorization: `Bearer ${user().accessToken}`, "content-type": "application/json" },
          body: JSON.stringify({ msgtype: "m.text", body }),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.ok) return { eventId: ((await res.json()) as { event_id: string }).event_id, attempts };
        if (res.status < 500 && res.status !== 429)
          assert.fail(`sending ${body}: ${res.status} ${await res.text()}`);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        // Synapse is down or went down mid-request: the outcome is unknown, so send again.
      }
      await sleep(200);
    }
  }

  const joeBodies = (): string[] =>
    joeClient()
      .rec.messages.filter((m) => m.from === ALICE_PEOPLE && m.content.type === "text")
      .map((m) => (m.content as { body: string }).body);

  /** The bodies of all m.room.message events from Joe's ghost in the portal, paginating /messages. */
  async function timelineBodies(): Promise<string[]> {
    const bodies: string[] = [];
    let from: string | undefined;
    for (;;) {
      const page = await matrixApi(
        synapse(),
        user().accessToken,
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/messages?dir=b&limit=500` +
          (from ? `&from=${encodeURIComponent(from)}` : ""),
      );
      const chunk = (page.chunk as Json[] | undefined) ?? [];
      for (const e of chunk) {
        const body = (e.content as Json | undefined)?.body;
        if (e.sender === JOE_GHOST && e.type === "m.room.message" && typeof body === "string")
          bodies.push(body);
      }
      if (chunk.length === 0 || typeof page.end !== "string") return bodies;
      from = page.end;
    }
  }

  /** A counter of the running bridge's /metrics (its URL from the last "bridge started" log line). */
  async function bridgeCounter(name: string, labels: string): Promise<number> {
    const started = bridge()
      .logs.filter((l) => l.msg === "bridge started")
      .at(-1);
    const text = await (await fetch(`${String(started?.metrics)}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(" ").at(-1)) : 0;
  }
  const caughtUpCount = () => bridgeCounter("bridge_catchup_events_total", 'outcome="caught_up"');
  const toPeopleDuplicates = () =>
    bridgeCounter("bridge_portal_messages_total", 'direction="to_people",outcome="duplicate"');

  /** Runs `count` sends in order, `width` at a time, at least `paceMs` apart per lane. */
  async function stream(count: number, width: number, paceMs: number, send: (i: number) => Promise<unknown>) {
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < count) {
          const i = next++;
          const started = Date.now();
          await send(i);
          await sleep(Math.max(0, paceMs - (Date.now() - started)));
        }
      }),
    );
  }

  /** Waits until both sides have everything, then a little longer for any late duplicate. */
  async function checkBothWays(aBodies: string[], jBodies: string[], timeoutMs: number) {
    await eventually(
      "every a-i at Joe and every j-i in Alice's timeline",
      async () => {
        const atJoe = tally(joeBodies());
        const atAlice = tally(await timelineBodies());
        return aBodies.every((b) => atJoe.has(b)) && jBodies.every((b) => atAlice.has(b)) ? true : undefined;
      },
      timeoutMs,
    ).catch(() => undefined); // the assertions below say what is missing
    await sleep(3_000);
    const toJoe = defects(aBodies, tally(joeBodies()));
    const toAlice = defects(jBodies, tally(await timelineBodies()));
    return { toJoe, toAlice };
  }

  // --- the tests -------------------------------------------------------------

  it("loses and duplicates nothing when the bridge is SIGKILLed mid-stream, again and again", async function () {
    const N = 200;
    const MIN_KILLS = 2;
    const started = Date.now();
    let done = false;
    let kills = 0;
    const aBodies = Array.from({ length: N }, (_, i) => `a-${i}`);
    const jBodies = Array.from({ length: N }, (_, i) => `j-${i}`);

    const aliceSends = stream(N, 2, 150, (i) => sendAsAlice(aBodies[i]!, `crash1-${i}`));
    const joeSends = stream(N, 2, 150, (i) => joeClient().client.sendText([ALICE_PEOPLE], jBodies[i]!));
    const killer = (async () => {
      while (!done || kills < MIN_KILLS) {
        await sleep(2_000 + Math.random() * 2_000);
        await bridge().kill("SIGKILL");
        kills++;
        await sleep(300);
        await bridge().start();
      }
    })();
    await Promise.all([aliceSends, joeSends]);
    done = true;
    const sentMs = Date.now() - started;
    await killer;

    const { toJoe, toAlice } = await checkBothWays(aBodies, jBodies, 150_000);
    console.log(
      `      bridge SIGKILL: ${N} messages each way, ${kills} kills and restarts, ` +
        `sending took ${(sentMs / 1000).toFixed(1)} s, everything settled after ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s; Matrix → People missing ${toJoe.missing.length}, ` +
        `twice ${toJoe.twice.length}; People → Matrix missing ${toAlice.missing.length}, twice ${toAlice.twice.length}`,
    );
    assert.ok(kills >= MIN_KILLS);
    assert.deepEqual(toJoe, { missing: [], twice: [] }, "Matrix → People");
    assert.deepEqual(toAlice, { missing: [], twice: [] }, "People → Matrix");
  });

  it("a ghost's send repeated after a Synapse restart is answered with the first event (the ghost's device)", async function () {
    const asToken = readRegistrationFile(started().files.registrationPath).as_token;
    const as = `user_id=${encodeURIComponent(JOE_GHOST)}`;
    // The bridge made Joe's ghost its device when it first sent as him.
    const { devices } = await matrixApi(synapse(), asToken, "GET", `/_matrix/client/v3/devices?${as}`);
    assert.ok(
      (devices as Json[]).some((d) => d.device_id === GHOST_DEVICE_ID),
      `devices of the ghost: ${JSON.stringify(devices)}`,
    );
    const path =
      `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/send/m.room.message/restart-check` +
      `?${as}&device_id=${GHOST_DEVICE_ID}`;
    const content = { msgtype: "m.notice", body: "restart-check" };
    const first = await matrixApi(synapse(), asToken, "PUT", path, content);
    await synapse().restart();
    const again = await matrixApi(synapse(), asToken, "PUT", path, content);
    assert.equal(again.event_id, first.event_id);
  });

  // What Synapse 1.163.2 does to a bridge when it stops, and what covers for it:
  // - it drops the appservice events queued in memory, its stream position already past them
  //   (element-hq/synapse#11637): the bridge reads the portal's history when Synapse is back
  //   (catch-up.ts) and bridges what it had not;
  // - it forgets a ghost's send transaction ids unless the ghost sends from a device: a send it
  //   stored but did not answer, repeated after the restart, would appear twice; ghosts send
  //   from their own device (ghost-devices.ts), whose transaction ids Synapse keeps in its database.
  it("loses and duplicates nothing when Synapse is stopped and started mid-stream", async function () {
    const N = 100;
    const OUTAGES = 2;
    const started = Date.now();
    const logsBefore = bridge().logs.length;
    const caughtUpBefore = await caughtUpCount();
    const duplicatesBefore = await toPeopleDuplicates();
    let done = false;
    let outages = 0;
    let resent = 0;
    const aBodies = Array.from({ length: N }, (_, i) => `sa-${i}`);
    const jBodies = Array.from({ length: N }, (_, i) => `sj-${i}`);

    const aliceSends = stream(N, 2, 100, async (i) => {
      const { attempts } = await sendAsAlice(aBodies[i]!, `outage-${i}`);
      resent += attempts - 1;
    });
    const joeSends = stream(N, 2, 100, (i) => joeClient().client.sendText([ALICE_PEOPLE], jBodies[i]!));
    const outage = (async () => {
      while (!done && outages < OUTAGES) {
        await sleep(2_000 + Math.random() * 1_000);
        await synapse().restart({ whileDown: () => sleep(3_000) });
        outages++;
      }
    })();
    await Promise.all([aliceSends, joeSends]);
    done = true;
    const sentMs = Date.now() - started;
    await outage;

    const { toJoe, toAlice } = await checkBothWays(aBodies, jBodies, 120_000);
    // The bridge's catch-up runs since the test started (from its log), and what they bridged
    // (from its metrics); an event Synapse delivered after catch-up had bridged it counts as a
    // duplicate of the Matrix → People flow.
    const runs = bridge()
      .logs.slice(logsBefore)
      .filter((l) => l.component === "catch-up" && "caughtUp" in l);
    const caughtUp = (await caughtUpCount()) - caughtUpBefore;
    const deliveredToo = (await toPeopleDuplicates()) - duplicatesBefore;
    console.log(
      `      Synapse outage: ${N} messages each way, ${outages} stops and restarts, ` +
        `${resent} sends by Alice repeated, sending took ${(sentMs / 1000).toFixed(1)} s, everything settled ` +
        `after ${((Date.now() - started) / 1000).toFixed(1)} s; ${runs.length} catch-up runs ` +
        `(${runs.map((l) => String(l.reason)).join(", ")}) bridged ${caughtUp} events Synapse had not delivered yet, ` +
        `${deliveredToo} of which it delivered later; ` +
        `Matrix → People missing ${toJoe.missing.length}, twice ${toJoe.twice.length}; ` +
        `People → Matrix missing ${toAlice.missing.length}, twice ${toAlice.twice.length}`,
    );
    assert.ok(outages >= 1);
    assert.deepEqual(toJoe, { missing: [], twice: [] }, "Matrix → People");
    assert.deepEqual(toAlice, { missing: [], twice: [] }, "People → Matrix");
  });
});
