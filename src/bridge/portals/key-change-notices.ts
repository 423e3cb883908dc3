// Key changes told in the DM portal: when a contact's keys change, the
// portal's ghost posts an m.notice in the room the user has with that contact
// (the bot is not in portals; the ghost is, and already speaks there for the
// bridge). A change the contact's account signed (a rotated key, a new or
// revoked device) gets a short note; an unexplained one a loud warning: mail
// from the address is held until the user compares the new safety number and
// accepts it in the management room. Without a portal nothing is posted
// (the log has it, and `contacts` shows it).
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import { notice, noticeContent } from "../core/notice.js";
import { portalOwnerOf, type KeyChange, type KeyChangeHandler } from "../core/ports/people-side.js";
import { numberLines } from "../trust/trust-commands.js";
import type { PortalService } from "./portal-service.js";

function continuedText(change: Extract<KeyChange, { kind: "continued" }>): string {
  const parts = [
    ...(change.added.length
      ? [`added ${change.added.length === 1 ? "a device" : `${change.added.length} devices`}`]
      : []),
    ...(change.rotated.length ? ["rotated a device key"] : []),
    ...(change.removed.length
      ? [`revoked ${change.removed.length === 1 ? "a device" : `${change.removed.length} devices`}`]
      : []),
  ];
  const what = parts.length ? parts.join(", ") : "updated their device list";
  return `ℹ️ ${change.address} ${what}, signed by their account: their keys continue as before (no action needed).`;
}

export function keyChangeNotices(o: {
  ghosts: GhostSide;
  service: PortalService;
  log: Logger;
}): KeyChangeHandler {
  let seq = 0;
  return async (account, change) => {
    if (change.kind === "moved") {
      const moved = await o.service.moveContact(
        account.owner,
        change.address,
        change.to,
        portalOwnerOf(account),
      );
      if (!moved) return;
      const line = `${change.address} moved to ${change.to} (verified with their account key).`;
      await o.ghosts.sendEvent(
        o.ghosts.ghostId(change.to),
        moved.roomId,
        "m.room.message",
        noticeContent(notice(`ℹ️ ${line}`)),
        `moved.${Date.now()}.${++seq}`,
      );
      return;
    }
    const portal = await o.service.byPair(account.owner, change.address, portalOwnerOf(account));
    if (!portal) return;
    let lines: string[];
    if (change.kind === "move_refused") {
      lines = [
        `⚠️ WARNING: a notice claiming that ${change.address} moved to another address was refused: ` +
          "it is not signed by the account key you know for them. Nothing changed; they are still here.",
      ];
    } else if (change.kind === "continued") {
      lines = [continuedText(change)];
    } else {
      let pending: string | undefined;
      try {
        pending = (await account.fingerprint(change.address)).pending;
      } catch (err) {
        o.log.debug({ err }, "no safety number of the changed keys for the warning");
      }
      lines = [
        `⚠️ WARNING: the keys of ${change.address} changed in a way their account did not sign. ` +
          "This can mean they reinstalled or lost their devices, or that someone is impersonating them.",
        `Messages from ${change.address} are held (not shown) and nothing is sent to them until you decide.`,
        ...(pending ? ["The safety number of their new keys:", ...numberLines(pending)] : []),
        "Compare it with them (in person, or on a call you trust): `fingerprint " +
          `${change.address}\` in the management room shows it. Only if it matches, send ` +
          `\`verify ${change.address} --accept-change\` there.`,
      ];
    }
    const ghost = o.ghosts.ghostId(change.address);
    await o.ghosts.sendEvent(
      ghost,
      portal.roomId,
      "m.room.message",
      noticeContent(notice(...lines)),
      `keychange.${change.kind}.${Date.now()}.${++seq}`,
    );
    o.log.info({ room: portal.roomId, contact: change.address, kind: change.kind }, "told a key change");
  };
}
