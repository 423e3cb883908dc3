// A ghost invited in several rooms at once (the appservice runs a transaction's
// rooms side by side) is registered and named once: the rooms share one
// profile read and at most one display-name write, and a failure is not kept.
import assert from "node:assert/strict";
import type { Bridge } from "matrix-appservice-bridge";
import { GhostIntents } from "../../src/bridge/adapters/appservice/ghost-intents.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import { silentLog } from "../helpers/portal-fakes.js";

/** A homeserver's profile API as matrix-appservice-bridge's Intent shows it, with a held profile read. */
function fakeBridge() {
  const calls: string[] = [];
  let release!: () => void;
  let held = new Promise<void>((resolve) => (release = resolve));
  let failNext = false;
  const names = new Map<string, string>();
  const bridge = {
    getIntent: (userId: string) => ({
      ensureRegistered: async () => void calls.push(`register ${userId}`),
      matrixClient: {
        getUserProfile: async (id: string) => {
          calls.push(`profile ${id}`);
          await held;
          if (failNext) {
            failNext = false;
            throw Object.assign(new Error("homeserver down"), { statusCode: 502 });
          }
          return { displayname: names.get(id) ?? "localpart" };
        },
        setDisplayName: async (name: string) => {
          calls.push(`name ${userId}`);
          names.set(userId, name);
        },
      },
    }),
  } as unknown as Bridge;
  return {
    bridge,
    calls,
    release: () => release(),
    hold: () => (held = new Promise<void>((resolve) => (release = resolve))),
    failOnce: () => (failNext = true),
  };
}

/** The bridge's ghost intents over the fake homeserver. */
function intentsOver(hs: ReturnType<typeof fakeBridge>): GhostIntents {
  return new GhostIntents({
    bridge: hs.bridge,
    domain: "hs.test",
    prefix: "_people_",
    log: silentLog,
    homeserverUrl: "http://127.0.0.1:9",
    asToken: "as",
  });
}

describe("ghosts named once however many rooms ask", function () {
  const ghost = "@_people_joe=40other.test:hs.test" as MatrixUserId;

  it("shares one profile read and one name write between rooms asking at the same time", async function () {
    const hs = fakeBridge();
    const ghosts = intentsOver(hs);
    const asks = [1, 2, 3].map(() => ghosts.ensureGhost(ghost, "joe@other.test"));
    // All three are waiting on the one read.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      hs.calls.filter((c) => c.startsWith("profile")),
      [`profile ${ghost}`],
    );
    hs.release();
    await Promise.all(asks);
    assert.deepEqual(
      hs.calls.filter((c) => !c.startsWith("register")),
      [`profile ${ghost}`, `name ${ghost}`],
    );
    // Named now: no request at all.
    const before = hs.calls.length;
    await ghosts.ensureGhost(ghost, "joe@other.test");
    assert.equal(hs.calls.length, before);
  });

  it("does not keep a failure: the next ask tries again", async function () {
    const hs = fakeBridge();
    const ghosts = intentsOver(hs);
    hs.failOnce();
    hs.release();
    await assert.rejects(ghosts.ensureGhost(ghost, "joe@other.test"), /homeserver down/);
    await ghosts.ensureGhost(ghost, "joe@other.test");
    assert.deepEqual(
      hs.calls.filter((c) => !c.startsWith("register")),
      [`profile ${ghost}`, `profile ${ghost}`, `name ${ghost}`],
    );
  });
});
