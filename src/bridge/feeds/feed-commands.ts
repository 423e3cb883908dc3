// `follow <address>` and `unfollow <address>` in the management room.
import { parseAddress, type PeopleAddress } from "../../people/protocol/address.js";
import type { Command } from "../core/commands.js";
import { userError } from "../core/error-kinds.js";
import { notice } from "../core/notice.js";
import type { FeedService } from "./feed-service.js";

function addressArg(args: string[], usage: string): PeopleAddress {
  const [raw, ...rest] = args;
  if (raw === undefined || rest.length > 0) throw userError(`Usage: \`${usage}\``);
  try {
    return parseAddress(raw);
  } catch {
    throw userError(`\`${raw}\` is not a People address (like joe@example.com).`);
  }
}

export function feedCommands(feeds: FeedService): Command[] {
  return [
    {
      name: "follow",
      args: "<address>",
      help: "follow an address's posts in a feed room (its public posts, and the group posts you can read)",
      level: "user",
      async run(ctx) {
        const address = addressArg(ctx.args, "follow <address>");
        const { created } = await feeds.follow(ctx.sender, address);
        return created
          ? notice(`You follow ${address} now: their posts come to the room I invited you to.`)
          : notice(`You already follow ${address}; their posts come to your feed room with them.`);
      },
    },
    {
      name: "unfollow",
      args: "<address>",
      help: "stop following an address: its feed room gets no more posts",
      level: "user",
      async run(ctx) {
        const address = addressArg(ctx.args, "unfollow <address>");
        const ended = await feeds.unfollow(ctx.sender, address);
        return notice(ended ? `You no longer follow ${address}.` : `You do not follow ${address}.`);
      },
    },
  ];
}
