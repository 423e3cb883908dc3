// A bridged Matrix user left out of a group conversation by a People reply
// (its sender answered the others without them) is told in the room, by name,
// and removed from it: their messages would no longer reach anyone. The kick
// is tried by the sender's ghost, then by the room's creator ghost (the one
// with the power in rooms the bridge made); in a room a Matrix user made no
// ghost may, and the notice alone tells them (later messages are answered as
// not a participant's).
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { notice, noticeContent } from "../core/notice.js";

export function leftOutUserText(user: string, by: PeopleAddress): string {
  return (
    `${user}: ${by} answered this People conversation without you, so you are no longer in it ` +
    "and your messages here would reach no one."
  );
}

export async function removeLeftOutUsers(
  o: { ghosts: GhostSide; log: Logger },
  change: { room: string; users: readonly MatrixUserId[]; by: PeopleAddress; key: string },
): Promise<void> {
  if (change.users.length === 0) return;
  const sender = o.ghosts.ghostId(change.by);
  const { room } = change;
  const create = await o.ghosts.roomState(sender, room, "m.room.create", "").catch(() => undefined);
  const creator = create?.sender && o.ghosts.addressOf(create.sender) ? create.sender : undefined;
  const kickers = [...new Set([sender, ...(creator ? [creator as MatrixUserId] : [])])];
  for (const user of change.users) {
    const text = leftOutUserText(user, change.by);
    const content = { ...noticeContent(notice(text)), "m.mentions": { user_ids: [user] } };
    await o.ghosts.sendEvent(sender, room, "m.room.message", content, `left-out-user.${change.key}.${user}`);
    let removed = false;
    for (const kicker of kickers) {
      try {
        await o.ghosts.kick(kicker, room, user, `${change.by} left you out of the People conversation`);
        removed = true;
        break;
      } catch (err) {
        o.log.debug({ err, room }, "a ghost could not remove a left-out user");
      }
    }
    o.log.info(
      { room, user, removed },
      "a Matrix user was left out of a group conversation by a People reply",
    );
  }
}
