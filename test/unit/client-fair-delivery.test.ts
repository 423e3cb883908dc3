// Received mail handed to the listeners, without IO: the fair queue serves
// keys round-robin, several at once if asked, and keeps each key's order; the delivery queue sets a
// failing message aside, lets later mail go on, and tries it again alone.
import assert from "node:assert/strict";
import { DeliveryQueue } from "../../src/people/client/delivery-queue.js";
import { ClientEvents } from "../../src/people/client/events.js";
import { FairQueue } from "../../src/people/client/fair-queue.js";
import type { InboxEntry } from "../../src/people/client/local-store.js";

/** A promise and its resolve, to hold a job until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

function entry(seq: number, from: string): InboxEntry {
  return {
    id: `m${seq}`,
    from,
    device: "d",
    ts: seq,
    exp: seq + 1000,
    to: ["alice@people.test"],
    content: { type: "text", body: `${from} ${seq}` },
    receivedAt: seq,
    outgoing: false,
    seq,
    delivered: false,
  };
}

describe("fair queue", function () {
  it("serves keys round-robin: one message from B waits for one of A's, not for A's backlog", async function () {
    const q = new FairQueue();
    const order: string[] = [];
    const first = gate();
    const jobs: Promise<void>[] = [];
    jobs.push(
      q.push("a", async () => {
        order.push("a1");
        await first.promise;
      }),
    );
    for (let i = 2; i <= 100; i++) jobs.push(q.push("a", async () => void order.push(`a${i}`)));
    jobs.push(q.push("b", async () => void order.push("b1")));
    jobs.push(q.push("c", async () => void order.push("c1")));
    first.open();
    await Promise.all(jobs);
    assert.deepEqual(order.slice(0, 5), ["a1", "b1", "c1", "a2", "a3"]);
    // Each key's own order is kept.
    assert.deepEqual(
      order.filter((x) => x.startsWith("a")),
      Array.from({ length: 100 }, (_, i) => `a${i + 1}`),
    );
  });

  it("runs one job at a time; a failing job rejects its own promise only", async function () {
    const q = new FairQueue();
    let running = 0;
    let most = 0;
    const job = (fail: boolean) => async () => {
      most = Math.max(most, ++running);
      await Promise.resolve();
      running--;
      if (fail) throw new Error("no");
    };
    const results = await Promise.allSettled([
      q.push("a", job(false)),
      q.push("b", job(true)),
      q.push("a", job(false)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.equal(most, 1);
    assert.equal(q.pending, 0);
    await q.idle();
  });

  it("a job pushing another of its key queues it behind the others", async function () {
    const q = new FairQueue();
    const order: string[] = [];
    let inner: Promise<void> | undefined;
    const a = q.push("a", async () => {
      order.push("a1");
      inner = q.push("a", async () => void order.push("a2"));
    });
    const b = q.push("b", async () => void order.push("b1"));
    await Promise.all([a, b]);
    await inner;
    assert.deepEqual(order, ["a1", "b1", "a2"]);
  });
});

describe("fair queue serving several keys at once", function () {
  it("runs up to `concurrency` keys side by side, never two jobs of one key, each key in its order", async function () {
    const q = new FairQueue(3);
    const running = new Map<string, number>();
    let most = 0;
    const order: string[] = [];
    const jobs: Promise<void>[] = [];
    for (let i = 1; i <= 20; i++) {
      for (const key of ["a", "b", "c", "d", "e"]) {
        jobs.push(
          q.push(key, async () => {
            const mine = (running.get(key) ?? 0) + 1;
            assert.equal(mine, 1, `two jobs of ${key} at once`);
            running.set(key, mine);
            most = Math.max(
              most,
              [...running.values()].reduce((x, y) => x + y, 0),
            );
            // Uneven job lengths, so keys finish in other orders than they started.
            for (let t = 0; t < (i * key.charCodeAt(0)) % 4; t++) await new Promise(setImmediate);
            order.push(`${key}${i}`);
            running.set(key, 0);
          }),
        );
      }
    }
    await Promise.all(jobs);
    assert.equal(most, 3, "three keys at once, and not more");
    for (const key of ["a", "b", "c", "d", "e"]) {
      assert.deepEqual(
        order.filter((x) => x[0] === key),
        Array.from({ length: 20 }, (_, i) => `${key}${i + 1}`),
      );
    }
    assert.equal(q.pending, 0);
    await q.idle();
  });

  it("a key held up does not hold up the others (one slot of several stays busy)", async function () {
    const q = new FairQueue(2);
    const slow = gate();
    const done: string[] = [];
    const a = q.push("a", async () => {
      await slow.promise;
      done.push("a1");
    });
    const rest = [1, 2, 3].map((i) => q.push("b", async () => void done.push(`b${i}`)));
    await Promise.all(rest);
    assert.deepEqual(done, ["b1", "b2", "b3"]);
    slow.open();
    await a;
    assert.deepEqual(done, ["b1", "b2", "b3", "a1"]);
  });

  it("refuses a concurrency that is not a positive integer", function () {
    assert.throws(() => new FairQueue(0), RangeError);
    assert.throws(() => new FairQueue(1.5), RangeError);
  });
});

describe("delivery queue", function () {
  it("keys by conversation: a group's messages from two senders keep their order, DMs go side by side", async function () {
    const started: number[] = [];
    const holdDm = gate();
    const q = new DeliveryQueue({
      events: new ClientEvents(),
      retry: { concurrency: 4 },
      run: async (e) => {
        started.push(e.seq);
        if (e.seq === 1) await holdDm.promise;
      },
    });
    // 1: a DM held up; 2 and 3: one group conversation (two senders); 4: another DM.
    const dm = q.deliver(entry(1, "joe@x.test"));
    const g1 = q.deliver({ ...entry(2, "ann@x.test"), to: ["alice@people.test", "bob@x.test"] });
    const g2 = q.deliver({ ...entry(3, "bob@x.test"), to: ["ann@x.test", "alice@people.test"] });
    const other = q.deliver(entry(4, "zoe@x.test"));
    await Promise.all([g1, g2, other]);
    assert.deepEqual(started, [1, 2, 4, 3], "the group's second message waited for its first");
    holdDm.open();
    await dm;
    await q.stop();
  });

  it("sets a failing message aside: later mail is delivered, and the message is retried alone until it passes", async function () {
    const delivered: number[] = [];
    const errors: string[] = [];
    const events = new ClientEvents();
    events.on("error", (e) => errors.push(e.where));
    let failuresLeft = 3;
    const retried = gate();
    const q = new DeliveryQueue({
      events,
      retry: { baseMs: 1, maxMs: 4 },
      run: async (e) => {
        if (e.seq === 1 && failuresLeft-- > 0) throw new Error("the homeserver is down");
        delivered.push(e.seq);
        if (e.seq === 1) retried.open();
      },
    });
    // Each resolves once delivered or set aside: none waits for message 1's retries.
    await Promise.all([q.deliver(entry(1, "a")), q.deliver(entry(2, "a")), q.deliver(entry(3, "b"))]);
    // Round-robin: after a's message 1, b's turn comes before a's message 2.
    assert.deepEqual(delivered, [3, 2]);
    assert.equal(q.setAside, 1);
    // The same message arriving again while set aside is not delivered twice.
    await q.deliver(entry(1, "a"));
    await retried.promise;
    await q.idle();
    assert.deepEqual(delivered, [3, 2, 1]);
    assert.equal(q.setAside, 0);
    assert.deepEqual(errors, ["deliver", "deliver", "deliver"]);
    await q.stop();
  });

  it("the same message queued twice while waiting is handled once", async function () {
    const runs: number[] = [];
    const hold = gate();
    const q = new DeliveryQueue({
      events: new ClientEvents(),
      run: async (e) => {
        runs.push(e.seq);
        if (e.seq === 1) await hold.promise;
      },
    });
    const first = q.deliver(entry(1, "a"));
    const second = [q.deliver(entry(2, "a")), q.deliver(entry(2, "a"))];
    hold.open();
    await Promise.all([first, ...second]);
    assert.deepEqual(runs, [1, 2]);
  });

  it("after stop nothing is retried: the message stays undelivered for the next start", async function () {
    let runs = 0;
    const q = new DeliveryQueue({
      events: new ClientEvents(),
      retry: { baseMs: 60_000, maxMs: 60_000 },
      run: async () => {
        runs++;
        throw new Error("down");
      },
    });
    await q.deliver(entry(1, "a"));
    assert.equal(q.setAside, 1);
    await q.stop();
    assert.equal(q.setAside, 0);
    await q.deliver(entry(2, "a"));
    assert.equal(runs, 1);
  });
});
