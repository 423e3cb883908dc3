// Post groups part of `npm run bench -- feeds`: one post to a group of MEMBERS
// member accounts (sealed once with the epoch key, uploaded to the owner's
// feed, its notice sealed to every member's device), per member, against
// sealing one 1:1 text message into the outbox, measured in the same run.
//
// The real parts: a People server in this process with MEMBERS registered
// accounts (one device each), and the owner's PeopleClient, which makes the
// group (not timed) and then posts. A round is one post and one 1:1 send,
// alternating, so that a change of the shared machine's load weighs on both;
// medians of ROUNDS rounds.
import assert from "node:assert/strict";
import { PeopleClient } from "../src/people/client/people-client.js";
import { clientOptions, networkOf, removeTempDirs, tempDir } from "../test/helpers/client-fixtures.js";
import { registerAccount, startTestServer } from "../test/helpers/people-servers.js";
import { fmt, table } from "./harness.js";

const MEMBERS = Number(process.env.BENCH_GROUP_MEMBERS ?? 100);
const ROUNDS = Number(process.env.BENCH_GROUP_ROUNDS ?? 7);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function runPostGroupBench(): Promise<void> {
  console.log(`\n== feeds: a post to a group of ${MEMBERS} members, against sealing one 1:1 message ==`);
  const server = await startTestServer("bench.test");
  const owner = await PeopleClient.create({
    ...clientOptions(networkOf([server]), tempDir("owner")),
    address: "owner@bench.test",
  });
  try {
    await owner.start();
    const members: string[] = [];
    for (let i = 0; i < MEMBERS; i++) members.push((await registerAccount(server, `m${i}`)).address);
    const group = await owner.groups.createGroup("bench", members);
    assert.equal(group.undelivered.length, 0, "every member got the key");
    const posts: number[] = [];
    const sends: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      posts.push(await timed(() => owner.posts.post(group.id, { text: `post ${r}` })));
      sends.push(await timed(() => owner.send([members[r % MEMBERS]!], { type: "text", body: `hi ${r}` })));
    }
    const oneToOne = median(sends);
    const post = median(posts);
    table([
      { path: "seal one 1:1 text into the outbox (baseline)", ms: fmt(oneToOne), ratio: "1.00" },
      { path: `one group post to ${MEMBERS} members`, ms: fmt(post), ratio: fmt(post / oneToOne, 2) },
      {
        path: "the group post, per member",
        ms: fmt(post / MEMBERS, 3),
        ratio: fmt(post / MEMBERS / oneToOne, 3),
      },
    ]);
  } finally {
    await owner.close();
    await server.stop();
    removeTempDirs();
  }
}
