// `dm <address>`: a direct chat with a People address. The address's ghost
// creates the room and invites the user (or invites them again to the one
// they have).
import { type Command } from "../core/commands.js";
import { notice } from "../core/notice.js";
import type { PortalService } from "./portal-service.js";
import { parseDmArgs } from "./dm-args.js";

function roomLink(roomId: string): string {
  return `https://matrix.to/#/${encodeURIComponent(roomId)}`;
}

export function dmCommand(portals: PortalService): Command {
  return {
    name: "dm",
    args: "<address> [--as <your address>]",
    help: "start a direct chat with a People address (`--as`: which of your addresses writes there)",
    level: "user",
    async run(ctx) {
      const { address, as } = parseDmArgs(ctx.args);
      const { portal, created } = await portals.startDm(ctx.sender, address, as);
      const writer = portal.ownerAddress ? ` (you write there as \`${portal.ownerAddress}\`)` : "";
      return created
        ? notice(
            `Started a direct chat with \`${address}\`${writer}: accept the invite to ${roomLink(portal.roomId)}`,
          )
        : notice(`You already have a direct chat with \`${address}\`${writer}: ${roomLink(portal.roomId)}`);
    },
  };
}
