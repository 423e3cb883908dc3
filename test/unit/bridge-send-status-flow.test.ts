// The Matrix → People flow's send status hooks (no IO): a bridged event is
// reported sent with its message id and recipients, and its lifetime is
// bridge.delivery_timeout; what the flow refuses is FAIL_PERMANENT with the
// notice's words; an event kept to retry is PENDING; one given up after the
// retry window is FAIL_RETRIABLE.
import assert from "node:assert/strict";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import type { SendStatus } from "../../src/bridge/model/send-status.js";
import { MatrixToPeopleFlow, RETRYING_TEXT } from "../../src/bridge/portals/matrix-to-people-flow.js";
import { RetryWindow } from "../../src/bridge/portals/retry-window.js";
import type { SendStatusHooks, SentMessage, StatusTarget } from "../../src/bridge/portals/send-status.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { isRetryLater } from "../../src/bridge/core/error-kinds.js";
import { PeopleError } from "../../src/people/errors.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { FakeGhosts, FakePeople, MemoryMessages, newMetrics, silentLog } from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const JOE = parseAddress("joe@other.test");
const WINDOW = 60_000;
const TIMEOUT = 90_000;

class RecordingHooks implements SendStatusHooks {
  readonly sentMessages: SentMessage[] = [];
  readonly failures: { where: StatusTarget; status: SendStatus }[] = [];
  readonly retries: { where: StatusTarget; text: string }[] = [];
  sent(m: SentMessage): void {
    this.sentMessages.push(m);
  }
  async failed(where: StatusTarget, status: SendStatus): Promise<void> {
    this.failures.push({ where, status });
  }
  async retrying(where: StatusTarget, text: string): Promise<void> {
    this.retries.push({ where, text });
  }
}

let seq = 0;
const text = (body: string, o: Partial<RoomEvent> = {}): RoomEvent => ({
  type: "m.room.message",
  roomId: "!p:hs.test",
  sender: ALICE,
  eventId: `$s${++seq}`,
  content: { msgtype: "m.text", body },
  ...o,
});
const portal = { roomId: "!p:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };

function setup(permissions = new Permissions({ "hs.test": "user" })) {
  let now = 1_000_000;
  const hooks = new RecordingHooks();
  const people = new FakePeople();
  const ghosts = new FakeGhosts();
  const flow = new MatrixToPeopleFlow({
    ghosts,
    people,
    messages: new MemoryMessages(),
    permissions,
    log: silentLog,
    metrics: newMetrics(),
    retry: new RetryWindow(WINDOW, () => now),
    now: () => now,
    status: hooks,
    deliveryTimeoutMs: TIMEOUT,
  });
  return { hooks, people, ghosts, flow, advance: (ms: number) => (now += ms) };
}

describe("Matrix → People flow: send status hooks", function () {
  it("a bridged event is reported sent, with its message id and recipients, and lives bridge.delivery_timeout", async function () {
    const s = setup();
    const account = await s.people.accountFor(ALICE);
    const options: unknown[] = [];
    const send = account.send.bind(account);
    account.send = (to: PeopleAddress | readonly PeopleAddress[], content: MessageContent, o?: unknown) => {
      options.push(o);
      return send(to, content);
    };
    const e = text("hello");
    await s.flow.handle(e, portal);
    assert.deepEqual(options, [{ sourceId: e.eventId, ttlMs: TIMEOUT }]);
    assert.deepEqual(s.hooks.sentMessages, [
      {
        eventId: e.eventId,
        roomId: portal.roomId,
        noticeGhost: JOE,
        sender: account.address,
        messageId: account.sent[0]!.id,
        to: [JOE],
        label: JOE,
      },
    ]);
    assert.deepEqual(s.hooks.failures, []);
  });

  it("a refusal of People is FAIL_PERMANENT with the notice's words", async function () {
    const s = setup();
    (await s.people.accountFor(ALICE)).failSends = new PeopleError("PEOPLE_UNKNOWN_RECIPIENT", "gone");
    const e = text("hello");
    await s.flow.handle(e, portal);
    assert.equal(s.hooks.failures.length, 1);
    const { where, status } = s.hooks.failures[0]!;
    assert.deepEqual(where, { eventId: e.eventId, roomId: portal.roomId, noticeGhost: JOE });
    assert.equal(status.status, "FAIL_PERMANENT");
    assert.equal(status.reason, "m.foreign_network_error");
    assert.equal(status.message, s.ghosts.notices()[0]);
    assert.deepEqual(s.hooks.sentMessages, []);
  });

  it("a type the bridge answers with a notice, and a user without permission, are FAIL_PERMANENT too", async function () {
    const s = setup();
    await s.flow.handle(text("x", { type: "m.room.encrypted", content: { algorithm: "x" } }), portal);
    assert.equal(s.hooks.failures[0]?.status.reason, "com.beeper.unsupported_event");
    const none = setup(new Permissions({}));
    await none.flow.handle(text("x"), portal);
    assert.equal(none.hooks.failures[0]?.status.reason, "m.no_permission");
    assert.equal(none.hooks.failures[0]?.status.status, "FAIL_PERMANENT");
  });

  it("kept to retry: PENDING (the reporter tells it once); given up after the window: FAIL_RETRIABLE", async function () {
    const s = setup();
    (await s.people.accountFor(ALICE)).failSends = new PeopleError("PEOPLE_UNAVAILABLE", "down");
    const e = text("are you there");
    await assert.rejects(s.flow.handle(e, portal), isRetryLater);
    assert.deepEqual(s.hooks.retries, [
      { where: { eventId: e.eventId, roomId: portal.roomId, noticeGhost: JOE }, text: RETRYING_TEXT },
    ]);
    s.advance(WINDOW);
    await s.flow.handle(e, portal);
    assert.equal(s.hooks.failures.length, 1);
    assert.equal(s.hooks.failures[0]!.status.status, "FAIL_RETRIABLE");
    assert.match(s.hooks.failures[0]!.status.message!, /could not be reached for too long/);
  });
});
