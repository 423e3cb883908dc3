// Message send status: the pure mapping from copy outcomes to
// com.beeper.message_send_status, and the reporter that tells it (fake
// homeserver, real SQLite bridge store), across a "restart" (a new reporter on
// the same store).
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import {
  MESSAGE_STATUS_EVENT,
  copyFailedText,
  nextCopyState,
  statusEventContent,
  statusOfCopies,
  worthTelling,
} from "../../src/bridge/model/send-status.js";
import { SendStatusReporter, type SentMessage } from "../../src/bridge/portals/send-status.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore } from "../../src/bridge/core/ports/store.js";
import { FakeGhosts, MemoryMessages, MemoryPortals, silentLog } from "../helpers/portal-fakes.js";
import { sentMessageOf } from "../../src/bridge/portals/send-status-recovery.js";
import type { GroupPortal } from "../../src/bridge/core/ports/store.js";
import type { OutboxReport } from "../../src/bridge/core/ports/people-side.js";

const ALICE = parseAddress("alice@people.test");
const JOE = parseAddress("joe@other.test");
const ANN = parseAddress("ann@third.test");

describe("send status: copies → status (pure)", () => {
  it("SUCCESS only when every recipient's copy was delivered; nothing while copies are only queued", () => {
    assert.equal(statusOfCopies({}), undefined);
    assert.equal(statusOfCopies({ [JOE]: { state: "queued" } }), undefined);
    assert.deepEqual(statusOfCopies({ [JOE]: { state: "delivered" } }), { status: "SUCCESS" });
    assert.equal(
      statusOfCopies({ [JOE]: { state: "delivered" }, [ANN]: { state: "queued" } }),
      undefined,
      "one copy still on its way",
    );
  });

  it("PENDING while a copy waits, naming the server's domain", () => {
    const s = statusOfCopies({ [JOE]: { state: "delivered" }, [ANN]: { state: "waiting", code: "X" } });
    assert.equal(s?.status, "PENDING");
    assert.equal(s?.reason, "m.foreign_network_error");
    assert.match(s!.message!, /^Waiting for the People server of third\.test, which cannot be reached now/);
  });

  it("FAIL_PERMANENT when a copy failed, whatever the others did, saying why", () => {
    const s = statusOfCopies({
      [JOE]: { state: "failed", code: "PEOPLE_EXPIRED" },
      [ANN]: { state: "delivered" },
    });
    assert.equal(s?.status, "FAIL_PERMANENT");
    assert.match(
      s!.message!,
      /^Not delivered to joe@other\.test: The People server of other\.test could not/,
    );
    assert.match(
      copyFailedText("x@example.invalid", "PEOPLE_NO_SERVER"),
      /no People server for example\.invalid/,
    );
    assert.equal(copyFailedText(JOE, "PEOPLE_UNKNOWN_RECIPIENT"), "joe@other.test has no People account");
    assert.match(copyFailedText(JOE, "PEOPLE_TOO_LARGE"), /refused it: The request is too large$/);
    assert.match(copyFailedText(JOE, "SOMETHING_ELSE"), /refused it: it was refused$/);
  });

  it("a copy's final state stays; a deferral after delivery changes nothing", () => {
    assert.deepEqual(nextCopyState({ state: "queued" }, { kind: "deferred", code: "C" }), {
      state: "waiting",
      code: "C",
    });
    assert.deepEqual(nextCopyState({ state: "waiting", code: "C" }, { kind: "delivered" }), {
      state: "delivered",
    });
    assert.deepEqual(nextCopyState({ state: "delivered" }, { kind: "deferred" }), { state: "delivered" });
    assert.deepEqual(nextCopyState({ state: "failed", code: "A" }, { kind: "delivered" }), {
      state: "failed",
      code: "A",
    });
    assert.deepEqual(nextCopyState(undefined, { kind: "undeliverable" }), {
      state: "failed",
      code: "PEOPLE_INTERNAL",
    });
  });

  it("tells a change once; a failure is final", () => {
    assert.equal(worthTelling(null, { status: "PENDING" }), true);
    assert.equal(worthTelling("PENDING", { status: "PENDING" }), false);
    assert.equal(worthTelling("PENDING", { status: "SUCCESS" }), true);
    // SUCCESS only ends a PENDING: the ghost's event would mark the message read by the contact.
    assert.equal(worthTelling(null, { status: "SUCCESS" }), false);
    assert.equal(worthTelling("FAIL_PERMANENT", { status: "SUCCESS" }), false);
    assert.equal(worthTelling("FAIL_RETRIABLE", { status: "PENDING" }), false);
  });

  it("any copies: failed wins, then all delivered, then waiting; only queued and delivered say nothing", () => {
    const state = fc.oneof(
      fc.constant({ state: "queued" as const }),
      fc.constant({ state: "delivered" as const }),
      fc.record({ state: fc.constant("waiting" as const), code: fc.constantFrom("PEOPLE_UNAVAILABLE", "X") }),
      fc.record({
        state: fc.constant("failed" as const),
        code: fc.constantFrom("PEOPLE_EXPIRED", "PEOPLE_NO_SERVER"),
      }),
    );
    const address = fc.constantFrom("a@one.test", "b@two.test", "c@two.test", "d@three.test");
    fc.assert(
      fc.property(fc.dictionary(address, state), (copies) => {
        const all = Object.values(copies);
        const s = statusOfCopies(copies);
        if (all.length === 0) return assert.equal(s, undefined);
        if (all.some((c) => c.state === "failed")) {
          assert.equal(s?.status, "FAIL_PERMANENT");
          for (const [a, c] of Object.entries(copies))
            if (c.state === "failed") assert.ok(s!.message!.includes(a));
        } else if (all.every((c) => c.state === "delivered")) assert.deepEqual(s, { status: "SUCCESS" });
        else if (all.some((c) => c.state === "waiting")) assert.equal(s?.status, "PENDING");
        else assert.equal(s, undefined);
      }),
    );
  });

  it("the event content has mautrix's shape", () => {
    assert.deepEqual(statusEventContent("$e", { status: "SUCCESS" }), {
      network: "people",
      "m.relates_to": { rel_type: "m.reference", event_id: "$e" },
      status: "SUCCESS",
    });
    const fail = statusEventContent("$e", {
      status: "FAIL_PERMANENT",
      reason: "m.foreign_network_error",
      message: "Not delivered.",
    });
    assert.equal(fail.reason, "m.foreign_network_error");
    assert.equal(fail.message, "Not delivered.");
  });
});

describe("send status: the reporter", () => {
  let store: BridgeStore;
  let ghosts: FakeGhosts;
  let reporter: SendStatusReporter;
  let seq = 0;

  const make = (statusEvents = true) =>
    new SendStatusReporter({ ghosts, store: store.sendStatus, statusEvents, log: silentLog, retellMs: 10 });

  beforeEach(async () => {
    store = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    ghosts = new FakeGhosts();
    reporter = make();
  });
  afterEach(async () => {
    reporter.close();
    await store.close();
  });

  function message(to: PeopleAddress[] = [JOE]): SentMessage {
    seq++;
    return {
      eventId: `$event${seq}`,
      roomId: "!room:hs.test",
      sender: ALICE,
      messageId: `m${seq}`,
      to,
      noticeGhost: to[0]!,
      label: to.join(", "),
    };
  }

  const report = (m: SentMessage, kind: OutboxReport["kind"], address: string, code?: string) =>
    reporter.report({
      kind,
      sender: m.sender,
      messageId: m.messageId,
      address,
      ...(code ? { code } : {}),
    });

  /** Status events for `eventId`, in order. */
  const statuses = (eventId: string) =>
    ghosts.sent
      .filter((s) => s.type === MESSAGE_STATUS_EVENT)
      .filter((s) => (s.content["m.relates_to"] as { event_id: string }).event_id === eventId)
      .map((s) => s.content.status);

  /** Lets the reporter's serialized work run. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it("delivered at the first try: no event at all (it would mark the message read by Joe), nothing written or kept", async () => {
    const m = message();
    reporter.sent(m);
    await settle();
    assert.equal(reporter.tracking, 1);
    await report(m, "delivered", JOE);
    assert.deepEqual(ghosts.sent, []);
    assert.equal(await store.sendStatus.byMessage(ALICE, m.messageId), undefined);
    assert.equal(reporter.tracking, 0);
  });

  it("a report that arrives before the flow recorded the message is applied when it does", async () => {
    const m = message();
    await report(m, "deferred", JOE, "PEOPLE_UNAVAILABLE");
    assert.deepEqual(statuses(m.eventId), []);
    reporter.sent(m);
    await settle();
    assert.deepEqual(statuses(m.eventId), ["PENDING"]);
    assert.equal(ghosts.sent[0]!.ghost, ghosts.ghostId(JOE));
    assert.equal(ghosts.sent[0]!.roomId, m.roomId);
    await report(m, "delivered", JOE);
    await report(m, "deferred", JOE, "PEOPLE_UNAVAILABLE"); // late and stale: changes nothing
    assert.deepEqual(statuses(m.eventId), ["PENDING", "SUCCESS"]);
    assert.equal(reporter.tracking, 0);
  });

  it("waiting: PENDING once however many retries, kept in the store; then SUCCESS, and the row is gone", async () => {
    const m = message();
    reporter.sent(m);
    for (let i = 0; i < 3; i++) await report(m, "deferred", JOE, "PEOPLE_UNAVAILABLE");
    assert.deepEqual(statuses(m.eventId), ["PENDING"]);
    const kept = await store.sendStatus.byMessage(ALICE, m.messageId);
    assert.equal(kept?.said, "PENDING");
    assert.deepEqual(kept?.copies, { [JOE]: { state: "waiting", code: "PEOPLE_UNAVAILABLE" } });
    await report(m, "delivered", JOE);
    assert.deepEqual(statuses(m.eventId), ["PENDING", "SUCCESS"]);
    assert.equal(await store.sendStatus.byMessage(ALICE, m.messageId), undefined);
  });

  it("survives a restart: a new reporter on the same store tells the rest of the story", async () => {
    const m = message();
    reporter.sent(m);
    await report(m, "deferred", JOE, "PEOPLE_UNAVAILABLE");
    reporter.close();
    reporter = make();
    // The outbox after the restart: the copy is dropped when its time runs out.
    await report(m, "undeliverable", JOE, "PEOPLE_EXPIRED");
    assert.deepEqual(statuses(m.eventId), ["PENDING", "FAIL_PERMANENT"]);
    const notices = ghosts.notices();
    assert.equal(notices.length, 1);
    assert.match(
      notices[0]!,
      /^Not delivered to joe@other\.test: The People server of other\.test could not be reached/,
    );
    const reply = ghosts.sent.find((s) => s.content.msgtype === "m.notice")!;
    assert.deepEqual(reply.content["m.relates_to"], { "m.in_reply_to": { event_id: m.eventId } });
    assert.equal(await store.sendStatus.byMessage(ALICE, m.messageId), undefined);
  });

  it("a group: SUCCESS only when every copy is taken; one failure is FAIL with one notice, and stays FAIL", async () => {
    const ok = message([JOE, ANN, ALICE]);
    reporter.sent(ok);
    await report(ok, "delivered", ALICE); // the sender's own copy counts for nothing
    await report(ok, "deferred", ANN, "PEOPLE_UNAVAILABLE");
    await report(ok, "delivered", JOE);
    assert.deepEqual(statuses(ok.eventId), ["PENDING"]);
    await report(ok, "delivered", ANN);
    assert.deepEqual(statuses(ok.eventId), ["PENDING", "SUCCESS"]);

    const bad = message([JOE, ANN]);
    reporter.sent(bad);
    await report(bad, "undeliverable", ANN, "PEOPLE_NO_SERVER");
    await report(bad, "undeliverable", ANN, "PEOPLE_NO_SERVER");
    await report(bad, "delivered", JOE);
    assert.deepEqual(statuses(bad.eventId), ["FAIL_PERMANENT"]);
    assert.deepEqual(ghosts.notices(), [
      "Not delivered to ann@third.test: There is no People server for third.test: the domain does not exist.",
    ]);
  });

  it("with status events off, only the failure's notice is sent", async () => {
    reporter.close();
    reporter = make(false);
    const m = message();
    reporter.sent(m);
    await report(m, "deferred", JOE, "PEOPLE_UNAVAILABLE");
    await report(m, "undeliverable", JOE, "PEOPLE_EXPIRED");
    assert.equal(ghosts.sent.filter((s) => s.type === MESSAGE_STATUS_EVENT).length, 0);
    assert.equal(ghosts.notices().length, 1);
  });

  it("a homeserver that refused the status: told again later, once it takes it", async () => {
    const m = message();
    reporter.sent(m);
    ghosts.failSends = new Error("homeserver down");
    await report(m, "undeliverable", JOE, "PEOPLE_UNKNOWN_RECIPIENT");
    assert.deepEqual(statuses(m.eventId), []);
    // Kept, so that a restart before it is told still tells it.
    const kept = await store.sendStatus.byMessage(ALICE, m.messageId);
    assert.deepEqual(kept?.copies, { [JOE]: { state: "failed", code: "PEOPLE_UNKNOWN_RECIPIENT" } });
    assert.equal(kept?.said, null);
    ghosts.failSends = undefined;
    const deadline = Date.now() + 30_000;
    while (statuses(m.eventId).length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(statuses(m.eventId), ["FAIL_PERMANENT"]);
    assert.deepEqual(ghosts.notices(), [
      "Not delivered to joe@other.test: joe@other.test has no People account.",
    ]);
  });

  it("a message sent just before a restart, with nothing kept: recovered from the message map and the portal", async () => {
    const messages = new MemoryMessages();
    const portals = new MemoryPortals();
    await portals.put({
      roomId: "!dm:hs.test",
      matrixUser: "@alice:hs.test",
      peopleAddress: JOE,
      createdAt: 1,
    });
    const group: GroupPortal = {
      roomId: "!group:hs.test",
      members: [{ address: ALICE, matrixUser: "@alice:hs.test" }, { address: ANN }, { address: JOE }],
      createdAt: 1,
    };
    const groups = {
      byRoom: async (roomId: string) => (roomId === group.roomId ? group : undefined),
      viewFor: (g: GroupPortal, u: string) => {
        assert.equal(u, "@alice:hs.test");
        return {
          roomId: g.roomId,
          matrixUser: u,
          to: [ANN, JOE],
          noticeGhost: ANN,
          label: `the People conversation (${ANN}, ${JOE})`,
        };
      },
    };
    const recover = sentMessageOf({ messages, service: portals, groups });
    await messages.put({
      matrixEventId: "$dm",
      peopleMessageId: "mdm",
      peopleSender: ALICE,
      roomId: "!dm:hs.test",
      createdAt: 1,
    });
    await messages.put({
      matrixEventId: "$grp",
      peopleMessageId: "mgrp",
      peopleSender: ALICE,
      roomId: "!group:hs.test",
      createdAt: 1,
    });
    assert.equal(await recover(ALICE, "unknown"), undefined);
    assert.deepEqual(await recover(ALICE, "mgrp"), {
      eventId: "$grp",
      roomId: "!group:hs.test",
      sender: ALICE,
      messageId: "mgrp",
      to: [ANN, JOE],
      noticeGhost: ANN,
      label: `the People conversation (${ANN}, ${JOE})`,
    });
    reporter.close();
    reporter = new SendStatusReporter({
      ghosts,
      store: store.sendStatus,
      statusEvents: true,
      log: silentLog,
      recover,
    });
    // No sent(): the bridge restarted after queueing them.
    await reporter.report({ kind: "deferred", sender: ALICE, messageId: "mdm", address: JOE, code: "X" });
    assert.deepEqual(statuses("$dm"), ["PENDING"]);
    assert.equal(ghosts.sent.at(-1)!.ghost, ghosts.ghostId(JOE));
    await reporter.report({ kind: "delivered", sender: ALICE, messageId: "mdm", address: JOE });
    assert.deepEqual(statuses("$dm"), ["PENDING", "SUCCESS"]);
    await reporter.report({ kind: "deferred", sender: ALICE, messageId: "mgrp", address: JOE, code: "X" });
    assert.deepEqual(statuses("$grp"), ["PENDING"]);
    assert.equal(ghosts.sent.at(-1)!.ghost, ghosts.ghostId(ANN), "the group's notice ghost");
    await reporter.report({ kind: "delivered", sender: ALICE, messageId: "mgrp", address: JOE });
    assert.deepEqual(statuses("$grp"), ["PENDING"], "Ann's copy is still on its way");
    await reporter.report({ kind: "delivered", sender: ALICE, messageId: "mgrp", address: ANN });
    assert.deepEqual(statuses("$grp"), ["PENDING", "SUCCESS"]);
    assert.equal(reporter.tracking, 0);
  });

  it("the flow's own failures and retries: FAIL as given, PENDING once", async () => {
    const where = { eventId: "$flow", roomId: "!room:hs.test", noticeGhost: JOE };
    await reporter.retrying(where, "The People network cannot be reached now; the bridge keeps trying.");
    await reporter.retrying(where, "The People network cannot be reached now; the bridge keeps trying.");
    await reporter.failed(where, {
      status: "FAIL_RETRIABLE",
      reason: "m.foreign_network_error",
      message: "x",
    });
    assert.deepEqual(statuses("$flow"), ["PENDING", "FAIL_RETRIABLE"]);
  });

  it("a PENDING the flow told while retrying is ended by SUCCESS once the outbox delivers", async () => {
    const m = message();
    await reporter.retrying({ eventId: m.eventId, roomId: m.roomId, noticeGhost: JOE }, "retrying");
    reporter.sent(m);
    await report(m, "delivered", JOE);
    assert.deepEqual(statuses(m.eventId), ["PENDING", "SUCCESS"]);
  });
});
