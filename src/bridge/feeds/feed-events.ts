// Matrix events in feed rooms: the user's reply or reaction to a post goes to
// its author as a People message that names the post; the user leaving ends
// the follow. Everything else there (the ghost's own events, room settings,
// other members) is left alone. The feed service takes a feed room's events
// before the portals do (bridge.ts): a feed room is never a portal.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, RoomEvent } from "../core/ports/matrix-side.js";
import { notice, noticeContent } from "../core/notice.js";
import type { PeopleSide } from "../core/ports/people-side.js";
import type { FeedStore } from "../core/ports/store.js";
import { answerContent, feedAnswerOf } from "./feed-content.js";
import type { FeedService } from "./feed-service.js";

export class FeedEvents {
  constructor(
    private readonly o: {
      feeds: FeedService;
      store: FeedStore;
      ghosts: GhostSide;
      people: PeopleSide;
      log: Logger;
    },
  ) {}

  /** True when the event's room is a feed room (handled here, whatever it was). */
  readonly handle = async (event: RoomEvent): Promise<boolean> => {
    const room = await this.o.store.byRoom(event.roomId);
    if (!room) return false;
    if (event.type === "m.room.member") {
      const membership = event.content.membership;
      if (event.stateKey === room.matrixUser && (membership === "leave" || membership === "ban"))
        await this.o.feeds.left(room);
      return true;
    }
    if (event.sender !== room.matrixUser) return true;
    const answer = feedAnswerOf(event.type, event.content);
    if (answer.kind === "none") return true;
    const author = room.author as PeopleAddress;
    const ghost = this.o.ghosts.ghostId(author);
    const tell = (text: string) =>
      this.o.ghosts.sendEvent(
        ghost,
        room.roomId,
        "m.room.message",
        noticeContent(notice(text)),
        `feed.answer.${event.eventId}`,
      );
    if (answer.kind === "unanswerable") {
      await tell(answer.why);
      return true;
    }
    const postId = await this.o.store.postOfEvent(room.roomId, answer.target);
    if (!postId) {
      await tell("That is not a post of this room, so there is nothing to answer.");
      return true;
    }
    const account = await this.o.people.accountFor(room.matrixUser);
    // The People message id derives from the event: a redelivered event is the same message.
    await account.send(author, answerContent(answer, author, postId), { sourceId: event.eventId });
    this.o.log.debug({ room: room.roomId, post: postId, kind: answer.kind }, "a post answered from Matrix");
    return true;
  };
}
