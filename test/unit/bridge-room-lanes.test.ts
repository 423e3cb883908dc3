// A transaction's events in one lane per room (room-lanes.ts): rooms side by
// side, each room's events strictly in order, a failure stopping every lane
// only after what was under way finished. Fake slow handlers, no IO.
import assert from "node:assert/strict";
import fc from "fast-check";
import { runInRoomLanes, type LaneItem } from "../../src/bridge/adapters/appservice/room-lanes.js";

/** A promise released from outside. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Waits until `check` holds, a turn of the event loop at a time (no fixed delay). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check(), "the condition never held");
}

describe("room lanes for a transaction's events", function () {
  it("lets a room proceed while another room's slow event runs, keeping each room's order", async function () {
    const log: string[] = [];
    const slow = gate();
    const item = (lane: string, id: string, wait?: Promise<void>): LaneItem => ({
      lane,
      run: async () => {
        log.push(`start ${id}`);
        if (wait) await wait;
        await new Promise((r) => setImmediate(r));
        log.push(`end ${id}`);
      },
    });
    const items = [
      item("!a", "a1", slow.wait),
      item("!b", "b1"),
      item("!a", "a2"),
      item("!b", "b2"),
      item("!a", "a3"),
    ];
    const run = runInRoomLanes(items, 16);
    // Room b finishes both events while a1 is still held.
    await until(() => log.includes("end b2"));
    assert.ok(!log.includes("end a1"));
    assert.ok(!log.includes("start a2"), "a2 waits for a1");
    slow.open();
    const { maxAtOnce } = await run;
    assert.equal(maxAtOnce, 2);
    const a = log.filter((l) => l.endsWith("a1") || l.endsWith("a2") || l.endsWith("a3"));
    assert.deepEqual(a, ["start a1", "end a1", "start a2", "end a2", "start a3", "end a3"]);
  });

  it("runs items without a room after every room, in order", async function () {
    const log: string[] = [];
    const slow = gate();
    const items: LaneItem[] = [
      { lane: undefined, run: async () => void log.push("presence") },
      {
        lane: "!a",
        run: async () => {
          await slow.wait;
          log.push("a1");
        },
      },
      { lane: "!b", run: async () => void log.push("b1") },
    ];
    const run = runInRoomLanes(items, 4);
    await until(() => log.includes("b1"));
    assert.ok(!log.includes("presence"));
    slow.open();
    await run;
    assert.deepEqual(log, ["b1", "a1", "presence"]);
  });

  it("with limit 1 runs everything in the given order, one at a time", async function () {
    const log: string[] = [];
    const items = ["!a", "!b", "!a", "!c"].map((lane, i) => ({
      lane,
      run: async () => {
        log.push(`start ${i}`);
        await new Promise((r) => setImmediate(r));
        log.push(`end ${i}`);
      },
    }));
    assert.deepEqual(await runInRoomLanes(items, 1), { maxAtOnce: 1 });
    assert.deepEqual(log, ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  });

  it("on a failure takes no further item, and rejects only once the items under way finished", async function () {
    const log: string[] = [];
    const slow = gate();
    const items: LaneItem[] = [
      {
        lane: "!a",
        run: async () => {
          log.push("a1 start");
          await slow.wait;
          log.push("a1 end");
        },
      },
      { lane: "!a", run: async () => void log.push("a2") },
      {
        lane: "!b",
        run: async () => {
          throw new Error("database down");
        },
      },
      { lane: "!b", run: async () => void log.push("b2") },
      { lane: "!c", run: async () => void log.push("c1") },
      { lane: undefined, run: async () => void log.push("presence") },
    ];
    let settled = false;
    const run = runInRoomLanes(items, 2).finally(() => (settled = true));
    await until(() => log.includes("a1 start"));
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "a1 is still under way");
    slow.open();
    await assert.rejects(run, /database down/);
    // a1 finished; nothing after the failure started (c1 waited for a free lane, a2 for a1).
    assert.deepEqual(log, ["a1 start", "a1 end"]);
  });

  it("never runs more rooms at once than the limit, nor two events of one room", async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        async (rooms, limit) => {
          const busyRooms = new Set<number>();
          const order = new Map<number, number[]>();
          let busy = 0;
          let most = 0;
          const items = rooms.map((room, i) => ({
            lane: `!${room}`,
            run: async () => {
              assert.ok(!busyRooms.has(room), "two events of one room at once");
              busyRooms.add(room);
              most = Math.max(most, ++busy);
              for (let k = 0; k < (i % 3) + 1; k++) await new Promise((r) => setImmediate(r));
              order.set(room, [...(order.get(room) ?? []), i]);
              busy--;
              busyRooms.delete(room);
            },
          }));
          const { maxAtOnce } = await runInRoomLanes(items, limit);
          assert.ok(most <= limit);
          assert.equal(maxAtOnce, most);
          for (const [room, seen] of order)
            assert.deepEqual(
              seen,
              rooms.flatMap((r, i) => (r === room ? [i] : [])),
            );
          assert.equal([...order.values()].flat().length, rooms.length);
        },
      ),
      { numRuns: 100 },
    );
  });
});
