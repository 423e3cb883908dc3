// A transaction's events, one lane per room (as mautrix bridges keep a queue
// per portal): each room's events run strictly in their order, one at a time,
// while up to `limit` rooms run side by side. The homeserver sends the next
// transaction only once this one is answered, so one room's slow event (a
// ghost's invite: account, lookup, join) must not hold up the other rooms'.
// Items without a lane (presence: no room) run last, in order, as before.
// A failure stops every lane from taking its next item; the items under way
// finish (nothing may still run once the transaction is answered) and the
// first failure is thrown.

export interface LaneItem {
  /** The room; undefined runs after every lane. */
  lane: string | undefined;
  run(): Promise<void>;
}

export interface LaneRun {
  /** The most lanes that ran at once. */
  maxAtOnce: number;
}

/** Runs `items` per lane; `limit` 1 runs them in their given order, one at a time. */
export async function runInRoomLanes(items: readonly LaneItem[], limit: number): Promise<LaneRun> {
  if (limit <= 1) {
    for (const item of items) await item.run();
    return { maxAtOnce: items.length > 0 ? 1 : 0 };
  }
  const lanes = new Map<string, LaneItem[]>();
  const rest: LaneItem[] = [];
  for (const item of items) {
    if (item.lane === undefined) rest.push(item);
    else {
      const lane = lanes.get(item.lane);
      if (lane) lane.push(item);
      else lanes.set(item.lane, [item]);
    }
  }
  const queue = [...lanes.values()];
  let failure: { err: unknown } | undefined;
  let busy = 0;
  let maxAtOnce = 0;
  const worker = async (): Promise<void> => {
    for (let lane = queue.shift(); lane && !failure; lane = queue.shift()) {
      busy++;
      maxAtOnce = Math.max(maxAtOnce, busy);
      try {
        for (const item of lane) {
          if (failure) break;
          await item.run();
        }
      } catch (err) {
        failure ??= { err };
      } finally {
        busy--;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
  if (failure) throw failure.err;
  for (const item of rest) await item.run();
  return { maxAtOnce: Math.max(maxAtOnce, rest.length > 0 ? 1 : 0) };
}
