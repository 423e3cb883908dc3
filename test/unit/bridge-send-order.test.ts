// People → Matrix in order while the next messages get ready (send-order.ts):
// plain DM messages release the conversation and go to the room in the order
// they came; what depends on an earlier message waits for its turn first.
import assert from "node:assert/strict";
import type { IncomingMessage, PeopleAccount } from "../../src/bridge/core/ports/people-side.js";
import type { MessageId } from "../../src/people/protocol/ids.js";
import type { PeopleAddress } from "../../src/people/protocol/address.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { SendOrder } from "../../src/bridge/portals/send-order.js";

const ME = "alice@people.test" as PeopleAddress;
const JOE = "joe@other.test" as PeopleAddress;
const account = { address: ME, owner: "@alice:hs" } as unknown as PeopleAccount;

function message(i: number, content: MessageContent, release?: () => void): IncomingMessage {
  return {
    id: `m${i}` as MessageId,
    from: JOE,
    to: [ME],
    ts: i,
    content,
    ...(release ? { release } : {}),
  };
}

const text = (body: string): MessageContent => ({ type: "text", body });
const tick = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("send order (People → Matrix pipelining)", function () {
  it("plain messages release at once and reach the room in the order they came", async function () {
    const order = new SendOrder();
    const sent: number[] = [];
    const prepared: number[] = [];
    const slow = gate();
    const handler = order.wrap(async (_account, m) => {
      const i = m.ts;
      prepared.push(i);
      if (i === 0) await slow.promise; // the first one's lookups take long
      await order.ready(m);
      sent.push(i);
    });
    let released = 0;
    const runs = [0, 1, 2].map((i) =>
      handler(
        account,
        message(i, text(`t${i}`), () => released++),
      ),
    );
    await tick();
    assert.equal(released, 3, "each released the conversation");
    assert.deepEqual(prepared, [0, 1, 2], "all three got ready side by side");
    assert.deepEqual(sent, [], "none overtook the first, still getting ready");
    slow.open();
    await Promise.all(runs);
    assert.deepEqual(sent, [0, 1, 2]);
    assert.equal(order.size, 0);
  });

  it("a reply, an own copy or a receipt does not release and starts after the earlier ones are in the room", async function () {
    const order = new SendOrder();
    const events: string[] = [];
    const first = gate();
    const handler = order.wrap(async (_account, m) => {
      events.push(`start ${m.id}`);
      if (m.id === "m0") await first.promise;
      await order.ready(m);
      events.push(`sent ${m.id}`);
    });
    let released = 0;
    const release = () => released++;
    const runs = [
      handler(account, message(0, text("hello"), release)),
      handler(account, message(1, { type: "text", body: "re", reply_to: "m0" } as MessageContent, release)),
      handler(account, { ...message(2, text("mine"), release), from: ME, to: [JOE] }),
      handler(account, message(3, { type: "receipt", ids: ["m0"] } as unknown as MessageContent, release)),
    ];
    await tick();
    assert.equal(released, 1, "only the plain message released");
    assert.deepEqual(events, ["start m0"]);
    first.open();
    await Promise.all(runs);
    assert.deepEqual(events, [
      "start m0",
      "sent m0",
      "start m1",
      "sent m1",
      "start m2",
      "sent m2",
      "start m3",
      "sent m3",
    ]);
  });

  it("a message that fails early still lets no later one overtake its predecessors", async function () {
    const order = new SendOrder();
    const sent: number[] = [];
    const first = gate();
    const handler = order.wrap(async (_account, m) => {
      if (m.ts === 1) throw new Error("fails before its turn");
      if (m.ts === 0) await first.promise;
      await order.ready(m);
      sent.push(m.ts);
    });
    const settled = Promise.allSettled(
      [0, 1, 2].map((i) =>
        handler(
          account,
          message(i, text(`t${i}`), () => 0),
        ),
      ),
    );
    await tick();
    assert.deepEqual(sent, []);
    first.open();
    const results = await settled;
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.deepEqual(sent, [0, 2]);
  });

  it("conversations of other accounts or peers do not wait for each other", async function () {
    const order = new SendOrder();
    const held = gate();
    const sent: string[] = [];
    const handler = order.wrap(async (_account, m) => {
      if (m.from === JOE) await held.promise;
      await order.ready(m);
      sent.push(m.from);
    });
    const a = handler(
      account,
      message(0, text("joe"), () => undefined),
    );
    const b = handler(account, {
      ...message(1, text("bob"), () => undefined),
      from: "bob@other.test" as PeopleAddress,
    });
    await b;
    assert.deepEqual(sent, ["bob@other.test"]);
    held.open();
    await a;
  });
});
