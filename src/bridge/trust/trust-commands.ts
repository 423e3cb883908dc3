// Trust commands of the management room: whom the user's People account talks
// to, and whether their keys are the ones the user compared. `fingerprint`
// shows the safety number to compare (or, alone, the user's own devices),
// `contacts` and `devices` what is pinned, `verify` records that the numbers
// matched, and with `--accept-change` accepts keys that changed in a way the
// contact's account did not sign (after comparing the new number).
import { parseAddress, type PeopleAddress } from "../../people/protocol/address.js";
import { type Command, type CommandContext } from "../core/commands.js";
import { notice } from "../core/notice.js";
import type { ContactTrust, PeopleAccount, PeopleSide } from "../core/ports/people-side.js";
import { userError } from "../core/error-kinds.js";

const ACCEPT_CHANGE = "--accept-change";

/** 12 groups of 5 digits as 3 lines of 4, each a code span. */
export function numberLines(number: string): string[] {
  const groups = number.split(" ");
  const out: string[] = [];
  for (let i = 0; i < groups.length; i += 4) out.push(`\`${groups.slice(i, i + 4).join(" ")}\``);
  return out;
}

function addressArg(raw: string | undefined, usage: string): PeopleAddress {
  if (raw === undefined) throw userError(usage);
  try {
    return parseAddress(raw);
  } catch {
    throw userError(`That is not a People address. ${usage}`);
  }
}

async function contactAccount(people: PeopleSide, ctx: CommandContext, address: PeopleAddress) {
  const account = await people.accountFor(ctx.sender);
  if (address === account.address) {
    throw userError("That is your own People address: `fingerprint` alone shows your devices.");
  }
  return account;
}

function stateText(c: ContactTrust): string {
  if (c.state === "unexplained") return "KEYS CHANGED (not signed by their account; their messages are held)";
  return c.verified ? "verified" : "not verified";
}

function changedLines(address: PeopleAddress, pending: string): string[] {
  return [
    `⚠️ The keys of \`${address}\` changed in a way their account did not sign: their messages are held ` +
      "and nothing is sent to them. The safety number of their new keys:",
    ...numberLines(pending),
    `Compare it with them (in person, or on a call you trust). Only if it matches, send ` +
      `\`verify ${address} ${ACCEPT_CHANGE}\`.`,
  ];
}

async function ownFingerprint(account: PeopleAccount) {
  const devices = await account.ownDevices();
  return notice(
    `Your People address: \`${account.address}\``,
    "Devices of your People account:",
    ...devices.map(
      (d) =>
        `• \`${d.device}\`${d.self ? " (this bridge)" : ""}: key #${d.seq}${d.revoked ? ", revoked" : ""}`,
    ),
    "Safety numbers are per contact: `fingerprint <address>` shows the one to compare with someone.",
  );
}

export function fingerprintCommand(people: PeopleSide): Command {
  const usage = "Usage: `fingerprint [<address>]`, for example `fingerprint joe@example.com`.";
  return {
    name: "fingerprint",
    args: "[<address>]",
    help: "the safety number to compare with a People address (alone: your own address and devices)",
    level: "user",
    async run(ctx) {
      if (ctx.args.length > 1) throw userError(usage);
      if (ctx.args.length === 0) return ownFingerprint(await people.accountFor(ctx.sender));
      const address = addressArg(ctx.args[0], usage);
      const account = await contactAccount(people, ctx, address);
      const n = await account.fingerprint(address);
      const lines = [
        `Safety number of your People address \`${account.address}\` and \`${address}\`` +
          (n.pending ? " (the keys pinned before their change):" : ":"),
        ...numberLines(n.current),
      ];
      if (n.pending) lines.push(...changedLines(address, n.pending));
      else if (n.contact.verified) lines.push(`\`${address}\` is verified.`);
      else
        lines.push(
          `Compare it with ${address} (in person, or on a call you trust); if they see the same number, ` +
            `send \`verify ${address}\`.`,
        );
      return notice(...lines);
    },
  };
}

export function contactsCommand(people: PeopleSide): Command {
  return {
    name: "contacts",
    help: "the People addresses you have talked with, and whether their keys are verified",
    level: "user",
    async run(ctx) {
      const account = await people.accountFor(ctx.sender);
      const contacts = await account.contacts();
      if (contacts.length === 0) return notice("No contacts yet.");
      return notice(
        "Your People contacts:",
        ...contacts.map(
          (c) =>
            `• \`${c.address}\`: ${stateText(c)}, ${c.devices.length} device${c.devices.length === 1 ? "" : "s"}`,
        ),
      );
    },
  };
}

export function devicesCommand(people: PeopleSide): Command {
  const usage = "Usage: `devices <address>`, for example `devices joe@example.com`.";
  return {
    name: "devices",
    args: "<address>",
    help: "the devices of a People address, as its account signed them",
    level: "user",
    async run(ctx) {
      if (ctx.args.length !== 1) throw userError(usage);
      const address = addressArg(ctx.args[0], usage);
      const account = await contactAccount(people, ctx, address);
      const c = await account.contact(address);
      return notice(
        `Devices of \`${address}\` (${stateText(c)})${c.state === "unexplained" ? ", as pinned before the change" : ""}:`,
        ...c.devices.map((d) => `• \`${d.device}\`: key #${d.seq}`),
        ...(c.stale ? ["(their server could not be reached: this is the list saved before)"] : []),
      );
    },
  };
}

export function verifyCommand(people: PeopleSide): Command {
  const usage = `Usage: \`verify <address> [${ACCEPT_CHANGE}]\`, after comparing \`fingerprint <address>\`.`;
  return {
    name: "verify",
    args: `<address> [${ACCEPT_CHANGE}]`,
    help: "mark a People address verified once your safety numbers match (accepting changed keys with --accept-change)",
    level: "user",
    async run(ctx) {
      const accept = ctx.args.includes(ACCEPT_CHANGE);
      const rest = ctx.args.filter((a) => a !== ACCEPT_CHANGE);
      if (rest.length !== 1 || rest[0]!.startsWith("--")) throw userError(usage);
      const address = addressArg(rest[0], usage);
      const account = await contactAccount(people, ctx, address);
      const n = await account.fingerprint(address);
      if (n.pending && !accept) throw userError(changedLines(address, n.pending).join("\n"));
      if (n.pending) {
        const accepted = await account.acceptChange(address);
        // Accepting fetches the keys again: they must still be the ones whose number was shown.
        if (accepted.current !== n.pending) {
          throw userError(
            `The keys of \`${address}\` changed again meanwhile: their current keys are accepted but NOT ` +
              `verified. Compare again: \`fingerprint ${address}\`.`,
          );
        }
        await account.verify(address);
        return notice(
          `Accepted the new keys of \`${address}\` and marked them verified; messages held meanwhile are delivered now.`,
        );
      }
      await account.verify(address);
      return notice(
        `\`${address}\` is verified.` +
          (accept ? " (No change of their keys was waiting to be accepted.)" : ""),
      );
    },
  };
}

export function trustCommands(people: PeopleSide): Command[] {
  return [fingerprintCommand(people), contactsCommand(people), devicesCommand(people), verifyCommand(people)];
}
