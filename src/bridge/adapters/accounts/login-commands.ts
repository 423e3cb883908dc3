// Management-room commands for the addresses a user holds here:
//   `login <address> <code>`  the bridge becomes a new device of an address the
//                             user has, with the code `people link-code` shows on
//                             one of its devices (linking runs on; the answer
//                             follows in the room);
//   `logout`                  the bridge's device of that address revokes itself;
//   `link-code`               a code that makes the user's own `people` CLI a
//                             device of the address the bridge made for them;
//   `accounts`                which address is used for what;
//   `use <address>`           which own address new chats and `dm` write as.
import { parseLinkCode } from "../../../people/client/link-code.js";
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import type { Command, CommandContext } from "../../core/commands.js";
import { isUserError, userError } from "../../core/error-kinds.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import { notice, type Notice } from "../../core/notice.js";
import type { PeopleAccounts } from "./people-accounts.js";
import type { DoublePuppets } from "../../core/ports/puppet-side.js";

export const LOGIN_USAGE =
  "Usage: `login <address> <code>`: run `people link-code` on a device of that address and send the code it shows.";

export const USE_USAGE = "Usage: `use <your address>`: new chats and `dm` write as that address of yours.";

/** `use`'s argument: one People address (one of the user's own, checked when it runs). */
export function parseUseArgs(args: readonly string[]): PeopleAddress {
  if (args.length !== 1) throw userError(USE_USAGE);
  try {
    return parseAddress(args[0]!);
  } catch {
    throw userError(`That is not a People address. ${USE_USAGE}`);
  }
}

export interface LoginArgs {
  address: PeopleAddress;
  /** The link code as typed (checked: 26 base32 letters). */
  code: string;
}

/** `login`'s arguments, checked: a People address and a link code (spaces in the code are allowed). */
export function parseLoginArgs(args: readonly string[]): LoginArgs {
  const [rawAddress, ...codeWords] = args;
  if (rawAddress === undefined || codeWords.length === 0) throw userError(LOGIN_USAGE);
  let address: PeopleAddress;
  try {
    address = parseAddress(rawAddress);
  } catch {
    throw userError(`That is not a People address. ${LOGIN_USAGE}`);
  }
  const code = codeWords.join("");
  try {
    parseLinkCode(code);
  } catch {
    throw userError(
      `That is not a link code (26 letters and digits, as \`people link-code\` shows). ${LOGIN_USAGE}`,
    );
  }
  return { address, code };
}

export interface LoginCommandDeps {
  accounts: PeopleAccounts;
  peopleDomain: string;
  /** Says something in a room later (a login finished, a device joined), deduplicated by `txnKey`. */
  tell(roomId: string, n: Notice, txnKey: string): Promise<void>;
  log: Logger;
  /** Double puppeting, when configured (bridge.double_puppet): `accounts` says whether it covers the user. */
  puppets?: DoublePuppets;
}

export function loginCommands(d: LoginCommandDeps): Command[] {
  const logins = () => d.accounts.logins ?? failNoLogins();
  const later = (ctx: CommandContext, key: string, work: Promise<Notice>) => {
    void work
      .catch((err: unknown) => {
        if (isUserError(err)) return notice(err.userText);
        d.log.error({ err }, `${key} failed`);
        return notice(`Something went wrong (${key}); the bridge's log has the details.`);
      })
      .then((n) => d.tell(ctx.roomId, n, `${key}.${ctx.eventId}`))
      .catch((err: unknown) => d.log.warn({ err }, "could not tell the room how a login went"));
  };
  return [
    {
      name: "login",
      args: "<address> <code>",
      help: "use a People address you already have here: the bridge becomes one of its devices (`people link-code` gives the code)",
      level: "user",
      run(ctx) {
        const { address, code } = parseLoginArgs(ctx.args);
        const user = ctx.sender as MatrixUserId;
        later(
          ctx,
          "login",
          logins()
            .login(user, address, code)
            .then((account) =>
              notice(
                `Logged in: the bridge is now device \`${account.client.device}\` of \`${address}\`.`,
                `Mail to \`${address}\` lands in its own chats, where you write as it; new chats and \`dm\` use it (\`use\` changes that).`,
              ),
            ),
        );
        return notice(
          `Linking the bridge to \`${address}\`… keep \`people link-code\` running on your device; the answer follows here.`,
        );
      },
    },
    {
      name: "logout",
      help: "the bridge's device of your logged-in address revokes itself; its mail stops arriving here",
      level: "user",
      async run(ctx) {
        const { address, device } = await logins().logout(ctx.sender as MatrixUserId);
        return notice(
          `Logged out of \`${address}\`: the bridge's device \`${device}\` is revoked and its keys erased here.`,
          `Mail to \`${address}\` no longer arrives in Matrix; its other devices keep it.`,
        );
      },
    },
    {
      name: "link-code",
      help: "make your own `people` program a device of the address the bridge made for you",
      level: "user",
      async run(ctx) {
        const account = await d.accounts.heldAccountFor(ctx.sender);
        const offer = account.client.createLinkCode();
        later(
          ctx,
          "link-code",
          offer.completed.then((device) =>
            notice(
              `Device \`${device}\` joined \`${account.address}\`. The bridge stays a device too, until you revoke it from there.`,
            ),
          ),
        );
        return notice(
          "On your computer, run:",
          `\`people link ${account.address} --code ${offer.code}\``,
          `The code works once, for 10 minutes.`,
        );
      },
    },
    {
      name: "use",
      args: "<your address>",
      help: "new chats and `dm` write as this address of yours (existing chats keep theirs)",
      level: "user",
      async run(ctx) {
        const address = parseUseArgs(ctx.args);
        await d.accounts.use(ctx.sender, address);
        return notice(
          `New chats and \`dm\` now write as \`${address}\`.`,
          "Each existing chat keeps the address it was made for; `dm <address> --as <yours>` picks one for a new chat.",
        );
      },
    },
    {
      name: "accounts",
      help: "your People addresses here, and which one your chats use",
      level: "user",
      async run(ctx) {
        const login = await logins().accountOf(ctx.sender);
        const current = (await d.accounts.accountFor(ctx.sender)).address;
        // The held account's own address: the one the bridge made, or where `move` took it.
        const made = (await d.accounts.hasHeldAccount(ctx.sender))
          ? (await d.accounts.heldAccountFor(ctx.sender)).address
          : undefined;
        const lines = ["Your People addresses on this bridge:"];
        if (login) {
          lines.push(
            `• \`${login.address}\` (logged in, device \`${login.client.device}\`): ${usedFor(login.address, current)}`,
          );
        }
        if (made) {
          lines.push(`• \`${made}\` (made by the bridge): ${usedFor(made, current)}`);
        }
        if (!login && !made)
          lines.push("none yet: you get one with your first chat, or `login` to one you have.");
        else
          lines.push(
            d.puppets?.covers?.(ctx.sender as MatrixUserId)
              ? "What you send from your addresses' other devices shows in your chats as sent by you (double puppeting)."
              : "What you send from your addresses' other devices shows in your chats from your address's ghost, marked.",
          );
        return notice(...lines);
      },
    },
  ];
}

/** What `accounts` says of one own address: each has its own chats; one is the default for new ones. */
function usedFor(address: string, current: string): string {
  return address === current
    ? "its own chats, and new chats and `dm` (the default; `use` changes it)"
    : `its own chats (\`use ${address}\` or \`dm <address> --as ${address}\` for new ones)`;
}

function failNoLogins(): never {
  throw userError("Logging in is not available on this bridge.");
}
