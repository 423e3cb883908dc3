// `group create <name>`, `post <text>` and `posts room` in the management room.
import type { Command } from "../core/commands.js";
import { userError } from "../core/error-kinds.js";
import { notice } from "../core/notice.js";
import type { PostRooms } from "./post-rooms.js";

const MAX_NAME = 256;

export function postRoomCommands(rooms: PostRooms): Command[] {
  return [
    {
      name: "group",
      args: "create <name>",
      help:
        "make a People post group you own, with its room: invite ghosts there to add members " +
        "(kick to remove, with a new key); what you write there (text, files, video with its thumbnail) " +
        "is posted to the group, and the room's name, topic and picture become the group's",
      level: "user",
      async run(ctx) {
        const [sub, ...words] = ctx.args;
        const name = words.join(" ").trim();
        if (sub?.toLowerCase() !== "create" || !name) throw userError("Usage: `group create <name>`");
        if (name.length > MAX_NAME) throw userError(`A group's name is at most ${MAX_NAME} characters.`);
        await rooms.createGroup(ctx.sender, name, ctx.eventId);
        return notice(
          `Your post group "${name}" is made: its room is the one I invited you to. ` +
            "Invite People ghosts there to add them as members.",
        );
      },
    },
    {
      name: "post",
      args: "<text>",
      help: "post the text publicly from your People address (anyone following you sees it)",
      level: "user",
      async run(ctx) {
        const text = ctx.args.join(" ").trim();
        if (!text) throw userError("Usage: `post <text>`");
        await rooms.postPublic(ctx.sender, text, ctx.eventId);
        const { created } = await rooms.publicRoom(ctx.sender);
        return notice(
          created
            ? "Posted publicly. What you write in the room I invited you to (My public posts) is posted too."
            : "Posted publicly.",
        );
      },
    },
    {
      name: "posts",
      args: "room",
      help: 'the room "My public posts": what you write there is posted publicly; edits and redactions follow',
      level: "user",
      async run(ctx) {
        if (ctx.args[0]?.toLowerCase() !== "room" || ctx.args.length > 1)
          throw userError("Usage: `posts room`");
        const { created } = await rooms.publicRoom(ctx.sender);
        return notice(
          created
            ? "Your room My public posts is made: I invited you to it."
            : "You have your room My public posts already.",
        );
      },
    },
  ];
}
