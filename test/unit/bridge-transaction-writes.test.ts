// Matrix → People messages of one homeserver transaction share their People
// outbox fsyncs: the flow goes on once a message is committed, and the
// transaction (TransactionWrites) waits for the fsync and the mapping written
// after it before it is recorded. The mapping is never written before the
// fsync; a later event of the same transaction sees it meanwhile.
import assert from "node:assert/strict";
import { TransactionWrites } from "../../src/bridge/adapters/appservice/transaction-writes.js";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import type { PeopleAddress } from "../../src/people/protocol/address.js";
import type { MessageId } from "../../src/people/protocol/ids.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { MatrixToPeopleFlow } from "../../src/bridge/portals/matrix-to-people-flow.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import {
  FakeAccount,
  FakeGhosts,
  FakePeople,
  MemoryMessages,
  newMetrics,
  silentLog,
} from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const JOE = "joe@other.test" as PeopleAddress;
const ROOM = "!p:hs.test";
const portal = { roomId: ROOM, matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };

/** An account whose outbox fsyncs wait until `fsync()` is called. */
class QueueingAccount extends FakeAccount {
  private gates: (() => void)[] = [];
  fsyncsWaiting = 0;

  async queue(to: PeopleAddress | readonly PeopleAddress[], content: MessageContent) {
    const messageId: MessageId = await this.send(to, content);
    this.fsyncsWaiting++;
    const durable = new Promise<void>((resolve) => this.gates.push(resolve));
    return { messageId, durable };
  }

  /** Completes every fsync asked for so far. */
  fsync(): void {
    for (const open of this.gates.splice(0)) open();
    this.fsyncsWaiting = 0;
  }
}

class QueueingPeople extends FakePeople {
  readonly alice = new QueueingAccount(ALICE as MatrixUserId, "alice@people.test" as PeopleAddress);
  override async accountFor(): Promise<FakeAccount> {
    return this.alice;
  }
}

let seq = 0;
function text(body: string, extra: Record<string, unknown> = {}): RoomEvent {
  return {
    type: "m.room.message",
    roomId: ROOM,
    sender: ALICE,
    eventId: `$w${++seq}`,
    content: { msgtype: "m.text", body, ...extra },
  };
}

function setup() {
  const people = new QueueingPeople();
  const messages = new MemoryMessages();
  const writes = new TransactionWrites();
  const metrics = newMetrics();
  const flow = new MatrixToPeopleFlow({
    ghosts: new FakeGhosts(),
    people,
    messages,
    permissions: new Permissions({ "hs.test": "user" }),
    log: silentLog,
    metrics,
    deferWrite: (w) => writes.defer(w),
  });
  return { people, messages, writes, flow, metrics, alice: people.alice };
}

/** Resolves true if `p` settles before the event loop has turned a few times. */
async function settlesSoon(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe("Matrix → People writes left to the transaction", function () {
  it("handles the next event before the fsync, records no mapping before it, and the transaction waits", async function () {
    const s = setup();
    const first = text("one");
    const edit = text("* two", {
      "m.new_content": { msgtype: "m.text", body: "two" },
      "m.relates_to": { rel_type: "m.replace", event_id: first.eventId },
    });
    const txn = s.writes.run(async () => {
      await s.flow.handle(first, portal);
      await s.flow.handle(first, portal); // the same event again: a duplicate, not sent twice
      await s.flow.handle(edit, portal);
    });
    assert.equal(await settlesSoon(txn), false, "the transaction waits for the outbox fsync");
    // Both sends happened before any fsync completed; the edit found the first's pending mapping.
    assert.equal(s.alice.sent.length, 2);
    assert.equal(s.alice.fsyncsWaiting, 2);
    const firstId = s.alice.sent[0]!.id;
    assert.ok(JSON.stringify(s.alice.sent[1]!.content).includes(firstId), "the edit names the first message");
    assert.equal(await s.messages.byEvent(first.eventId), undefined, "no mapping before the fsync");
    s.alice.fsync();
    await txn;
    assert.equal((await s.messages.byEvent(first.eventId))?.peopleMessageId, firstId);
    assert.equal((await s.messages.byEvent(edit.eventId))?.peopleMessageId, s.alice.sent[1]!.id);
  });

  it("a failed fsync fails the transaction (the homeserver sends it again) and records nothing", async function () {
    const s = setup();
    const e = text("lost?");
    s.alice.queue = async (to, content) => ({
      messageId: await s.alice.send(to, content),
      durable: Promise.reject(new Error("EIO")),
    });
    await assert.rejects(
      s.writes.run(() => s.flow.handle(e, portal)),
      /EIO/,
    );
    assert.equal(await s.messages.byEvent(e.eventId), undefined);
  });

  it("an envelope accepted before the outbox fsync still counts in the to_people latency", async function () {
    const s = setup();
    const e = { ...text("quick"), originServerTs: Date.now() - 50 };
    const txn = s.writes.run(() => s.flow.handle(e, portal));
    assert.equal(await settlesSoon(txn), false);
    // The far server answered the POST while the fsync still ran (the outbox posts at the commit).
    s.metrics.peopleDelivery(s.alice.sent[0]!.id, true);
    s.alice.fsync();
    await txn;
    const count = (await s.metrics.registry.getSingleMetricAsString("bridge_message_latency_seconds"))
      .split("\n")
      .find((l) => l.startsWith('bridge_message_latency_seconds_count{direction="to_people"}'));
    assert.equal(count?.split(" ").at(-1), "1");
  });

  it("outside a transaction (retry queue, catch-up) the flow waits for the fsync itself", async function () {
    const s = setup();
    const e = text("alone");
    const handled = s.flow.handle(e, portal);
    assert.equal(await settlesSoon(handled), false);
    s.alice.fsync();
    await handled;
    assert.ok(await s.messages.byEvent(e.eventId));
  });

  it("TransactionWrites: outside() and work started from a finished transaction defer nothing", async function () {
    const writes = new TransactionWrites();
    let late: Promise<boolean> | undefined;
    await writes.run(async () => {
      assert.equal(writes.defer(Promise.resolve()), true);
      assert.equal(await writes.outside(async () => writes.defer(Promise.resolve())), false);
      // A timer set during the transaction fires after it: not the transaction's any more.
      late = new Promise((resolve) => setTimeout(() => resolve(writes.defer(Promise.resolve())), 5));
    });
    assert.equal(await late, false);
    assert.equal(writes.defer(Promise.resolve()), false);
  });
});
