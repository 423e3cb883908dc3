// The power levels that let a portal's members join its MatrixRTC call (model/call-power.ts).
import assert from "node:assert/strict";
import fc from "fast-check";
import { CALL_MEMBER_EVENT_TYPES, withCallMembersAllowed } from "../../src/bridge/model/call-power.js";

/** Synapse's power levels for a room it creates with no override (handlers/room.py). */
const SYNAPSE_DEFAULT = {
  users: { "@_people_joe=40other.test:localhost": 100 },
  users_default: 0,
  events: {
    "m.room.name": 50,
    "m.room.power_levels": 100,
    "m.room.history_visibility": 100,
    "m.room.canonical_alias": 50,
    "m.room.avatar": 50,
    "m.room.tombstone": 100,
    "m.room.server_acl": 100,
    "m.room.encryption": 100,
  },
  events_default: 0,
  state_default: 50,
  ban: 50,
  kick: 50,
  redact: 50,
  invite: 50,
  historical: 100,
};

describe("call membership power levels (model/call-power)", () => {
  it("sets every call membership type to 0 in a room Synapse made, and keeps everything else", () => {
    const next = withCallMembersAllowed(SYNAPSE_DEFAULT);
    assert.ok(next);
    const events = next.events as Record<string, number>;
    for (const t of CALL_MEMBER_EVENT_TYPES) assert.equal(events[t], 0, t);
    assert.deepEqual(
      {
        ...next,
        events: Object.fromEntries(
          Object.entries(events).filter(([t]) => !CALL_MEMBER_EVENT_TYPES.includes(t)),
        ),
      },
      SYNAPSE_DEFAULT,
    );
  });

  it("changes nothing where members may already send them (Element's rooms, a low state_default)", () => {
    const element = {
      ...SYNAPSE_DEFAULT,
      events: {
        ...SYNAPSE_DEFAULT.events,
        "org.matrix.msc3401.call.member": 0,
        "m.call.member": 0,
        "org.matrix.msc4143.rtc.member": 0,
      },
    };
    assert.equal(withCallMembersAllowed(element), undefined);
    assert.equal(withCallMembersAllowed({ ...SYNAPSE_DEFAULT, state_default: 0 }), undefined);
  });

  it("raises only the types members could not send", () => {
    const next = withCallMembersAllowed({
      ...SYNAPSE_DEFAULT,
      events: { "m.call.member": 0, "org.matrix.msc3401.call.member": 75 },
    });
    assert.deepEqual(next?.events, {
      "m.call.member": 0,
      "org.matrix.msc3401.call.member": 0,
      "org.matrix.msc4143.rtc.member": 0,
    });
  });

  it("on any power levels content: afterwards members may send every call membership type, and a second pass changes nothing", () => {
    const level = fc.oneof(
      fc.integer({ min: -10, max: 200 }),
      fc.constant(undefined),
      fc.string(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            users_default: level,
            state_default: level,
            events: fc.oneof(
              fc.dictionary(fc.constantFrom(...CALL_MEMBER_EVENT_TYPES, "m.room.name", "x"), level),
              fc.constant(null),
              fc.array(fc.integer()),
            ),
          },
          { requiredKeys: [] },
        ),
        (levels) => {
          const next = withCallMembersAllowed(levels as Record<string, unknown>) ?? levels;
          assert.equal(withCallMembersAllowed(next as Record<string, unknown>), undefined);
        },
      ),
    );
  });
});
