// At start: the MatrixRTC calls a crash cut (rows left in rtc_calls) are ended on both legs as a
// hangup would have: the ghost's call membership emptied (and its delayed leave cancelled), the
// People devices told the call is over, the line Element shows left in the room; then the row
// goes. Each step is tried once and a failure logged, so one unreachable room holds up nothing.
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { PeopleSide } from "../../core/ports/people-side.js";
import type { RtcCallStore } from "../../core/ports/store.js";
import type { Logger } from "../../logger.js";
import type { RtcGhostPort } from "./rtc-call-ports.js";
import { CALL_MEMBER_TYPE, leftoverLine, memberStateKey } from "./rtc-content.js";

export async function endLeftoverRtcCalls(o: {
  store: RtcCallStore;
  ghost: RtcGhostPort;
  people: Pick<PeopleSide, "accountFor">;
  log: Logger;
  /**
   * The calls this start already runs (ids and People sessions): a People offer delivered again
   * after the crash rings anew before this runs, and is no leftover.
   */
  live(): { ids: ReadonlySet<string>; sessions: ReadonlySet<string> };
}): Promise<number> {
  const rows = await o.store.all();
  let ended = 0;
  for (const row of rows) {
    const log = o.log.child({ room: row.roomId, call: row.callId });
    const live = o.live();
    if (live.ids.has(row.callId)) continue;
    if (row.session !== undefined && live.sessions.has(row.session)) {
      // The same People call rings again (its offer was delivered again): the new call holds the
      // ghost's membership and the People leg; only the old row goes.
      await o.store.remove(row.callId);
      log.info("a MatrixRTC call a crash cut rings again: its old row forgotten");
      continue;
    }
    ended++;
    const step = (what: string, run: () => Promise<unknown>) =>
      run().catch((err: unknown) => log.warn({ err }, `a MatrixRTC call a crash cut: ${what} failed`));
    if (row.ghostDevice !== undefined) {
      const stateKey = memberStateKey(row.ghost, row.ghostDevice);
      await step("emptying the ghost's membership", () =>
        o.ghost.setState(row.ghost, row.roomId, CALL_MEMBER_TYPE, stateKey, {}),
      );
      const delayId = row.delayId;
      // Already sent when the bridge was down longer than its delay: a 404, nothing to do.
      if (delayId !== undefined && o.ghost.cancelLeave)
        await o.ghost.cancelLeave(row.ghost, delayId).catch(() => undefined);
    }
    const session = row.session;
    if (session !== undefined)
      await step("the hangup to the People devices", async () => {
        const account = await o.people.accountFor(row.matrixUser);
        await account.calls?.hangupLost(row.peopleAddress as PeopleAddress, session);
      });
    await step("the call's line", () =>
      o.ghost.send(
        row.ghost,
        row.roomId,
        "m.room.message",
        { msgtype: "m.notice", body: leftoverLine({ ...row, name: row.peopleAddress }) },
        // The live call's key: a line sent just before the crash is not sent twice.
        `rtc.line.${session ?? row.callId}`,
      ),
    );
    await o.store.remove(row.callId);
    log.info(
      { direction: row.direction, state: row.state },
      "a MatrixRTC call a crash cut was ended on both legs",
    );
  }
  return ended;
}
