// Received mail handed to the listeners, without IO: the fair queue serves
// senders round-robin and keeps each sender's order; the delivery queue sets a
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

describe("delivery queue", function () {
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
