// `dm <address>`: a direct chat with a People address. The address's ghost
// creates the room and invites the user (or invites them again to the one
// they have).
import { parseAddress, type PeopleAddress } from "../../people/protocol/address.js";
import { type Command } from "../core/commands.js";
import { notice } from "../core/notice.js";
import type { PortalService } from "./portal-service.js";
import { userError } from "../core/error-kinds.js";

const USAGE = "Usage: `dm <address>`, for example `dm joe@example.com`.";

function roomLink(roomId: string): string {
  return `https://matrix.to/#/${encodeURIComponent(roomId)}`;
}

export function dmCommand(portals: PortalService): Command {
  return {
    name: "dm",
    args: "<address>",
    help: "start a direct chat with a People address",
    level: "user",
    async run(ctx) {
      const [raw] = ctx.args;
      if (raw === undefined || ctx.args.length !== 1) throw userError(USAGE);
      let address: PeopleAddress;
      try {
        address = parseAddress(raw);
      } catch {
        throw userError(`That is not a People address. ${USAGE}`);
      }
      const { portal, created } = await portals.startDm(ctx.sender, address);
      return created
        ? notice(`Started a direct chat with \`${address}\`: accept the invite to ${roomLink(portal.roomId)}`)
        : notice(`You already have a direct chat with \`${address}\`: ${roomLink(portal.roomId)}`);
    },
  };
}
