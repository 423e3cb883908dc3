// Feeds part of `npm run bench -- feeds`: a new feed room catching up POSTS
// existing posts (Alice follows Joe, who has posted them publicly), against the
// same number of plain Matrix sends by Joe's ghost into a room, measured in the
// same run as the baseline.
//
// The real parts: Synapse from .cache, the bridge in this process
// (test/helpers/bridge-world.ts) with its embedded People server, and Joe's
// PeopleClient on a second People server. Catching up is timed from the
// `follow` command until the last post's row is written (which the bridge does
// after its Matrix send); the baseline sends POSTS m.text events one after
// another as the ghost, with the appservice token, as the bridge does (half
// before the catch-up and half after it).
import assert from "node:assert/strict";
import { Preset } from "matrix-js-sdk";
import { readRegistrationFile } from "../src/bridge/registration.js";
import { eventually, matrixApi } from "../test/helpers/bridge-harness.js";
import { BridgeWorld, OTHER, ghostOf } from "../test/helpers/bridge-world.js";
import { fmt, table } from "./harness.js";

const POSTS = Number(process.env.BENCH_FEED_POSTS ?? 500);
const JOE = `joe@${OTHER}`;
const JOE_GHOST = ghostOf(JOE);
const BOT = "@peoplebot:localhost";

export async function runFeedsBench(): Promise<void> {
  console.log(
    `\n== feeds: a feed room catching up ${POSTS} posts, against ${POSTS} plain sends by the ghost ==`,
  );
  const world = await BridgeWorld.start({
    permissions: { "@alice:localhost": "user" },
    configure: (input) => ({
      ...input,
      logging: { level: "warn" },
      bridge: { ...input.bridge, feeds: { backfill_limit: POSTS, poll_interval: "1h" } },
    }),
  });
  try {
    const joe = (await world.startPeopleUser(JOE)).client;
    const alice = await world.startMatrixUser("alice");
    const api = (method: string, path: string, body?: unknown) =>
      matrixApi(world.hs, alice.accessToken, method, path, body);
    for (let i = 0; i < POSTS; i++) await joe.posts.postPublic({ text: `post ${i}` });

    // Baseline: the ghost sends POSTS plain events, one after another, into a room Alice is in.
    const asToken = readRegistrationFile(world.files.registrationPath).as_token;
    const as = `user_id=${encodeURIComponent(JOE_GHOST)}`;
    await matrixApi(world.hs, asToken, "POST", "/_matrix/client/v3/register", {
      type: "m.login.application_service",
      username: JOE_GHOST.slice(1, JOE_GHOST.indexOf(":")),
    }).catch(() => undefined); // already registered is fine
    const baselineRoom = String(
      (
        await matrixApi(world.hs, asToken, "POST", `/_matrix/client/v3/createRoom?${as}`, {
          invite: [alice.userId],
        })
      ).room_id,
    );
    // Half before and half after the catch-up, so that a change of the machine's load meanwhile
    // (it is shared) weighs on both sides alike.
    let sent = 0;
    const plainSends = async (n: number): Promise<number> => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++, sent++) {
        const path = `/_matrix/client/v3/rooms/${encodeURIComponent(baselineRoom)}/send/m.room.message/b${sent}?${as}`;
        await matrixApi(world.hs, asToken, "PUT", path, { msgtype: "m.text", body: `post ${sent}` });
      }
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    let baselineMs = await plainSends(Math.floor(POSTS / 2));

    // Catching up: `follow` in the management room, until every post is shown.
    const { room_id: management } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    await eventually(
      "the bot to join",
      async () => {
        const r = await api(
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(management)}/joined_members`,
        );
        return BOT in (r.joined as Record<string, unknown>) ? true : undefined;
      },
      60_000,
    );
    // Alice's People account first, so that the timing is the feed's and not the account's creation.
    await world.bridge.handle.accounts.accountFor(alice.userId);
    const feeds = world.bridge.handle.store.feeds;
    const last =
      (await joe.posts.feed(JOE, { after: 0, max: POSTS })).posts.at(-1)?.id ?? assert.fail("no posts");
    const start = process.hrtime.bigint();
    await api(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(management)}/send/m.room.message/follow`,
      {
        msgtype: "m.text",
        body: `follow ${JOE}`,
      },
    );
    const room = await eventually("the feed room", () => feeds.roomOf(alice.userId, JOE), 120_000);
    await eventually(
      "every post shown",
      async () => ((await feeds.post(room.roomId, last))?.state === "shown" ? true : undefined),
      600_000,
    );
    const catchUpMs = Number(process.hrtime.bigint() - start) / 1e6;
    baselineMs += await plainSends(POSTS - Math.floor(POSTS / 2));
    assert.ok(catchUpMs > 0 && baselineMs > 0);

    table([
      {
        path: `${POSTS} plain sends by the ghost (baseline)`,
        "total ms": fmt(baselineMs),
        "ms per post": fmt(baselineMs / POSTS, 2),
        ratio: "1.00",
      },
      {
        path: `feed room catching up ${POSTS} posts`,
        "total ms": fmt(catchUpMs),
        "ms per post": fmt(catchUpMs / POSTS, 2),
        ratio: fmt(catchUpMs / baselineMs, 2),
      },
    ]);
  } finally {
    await world.stop();
  }
}
