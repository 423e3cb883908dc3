// After a restart, a report of the outbox can name a message the send status
// reporter knows nothing of: sent just before the restart, before any copy's
// outcome (nothing is written for it then). The message map and the room's
// portal give back what the flow told at the time: event, room, recipients
// and the ghost that speaks there.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { MessageMapStore } from "../core/ports/store.js";
import type { GroupService } from "./group-service.js";
import type { PortalService } from "./portal-service.js";
import type { SentMessage } from "./send-status.js";

export function sentMessageOf(o: {
  messages: Pick<MessageMapStore, "byMessage">;
  service: Pick<PortalService, "byRoom">;
  groups: Pick<GroupService, "byRoom" | "viewFor">;
}): (sender: string, messageId: string) => Promise<SentMessage | undefined> {
  return async (sender, messageId) => {
    const mapped = await o.messages.byMessage(sender, messageId);
    if (!mapped) return undefined;
    const base = { eventId: mapped.matrixEventId, roomId: mapped.roomId, sender: sender as PeopleAddress };
    const dm = await o.service.byRoom(mapped.roomId);
    if (dm) {
      const address = dm.peopleAddress as PeopleAddress;
      return { ...base, messageId, to: [address], noticeGhost: address, label: address };
    }
    const group = await o.groups.byRoom(mapped.roomId);
    const speaker = group?.members.find((m) => m.address === sender)?.matrixUser;
    const view = group && speaker ? o.groups.viewFor(group, speaker) : undefined;
    return view && { ...base, messageId, to: view.to, noticeGhost: view.noticeGhost, label: view.label };
  };
}
