// `move <new address> [invite]` in the management room: the address the bridge
// made for the user moves to another People server (PROTOCOL §20), as
// `people move` does. The bridge's device holds the account key (§6.3), so it
// registers the new address under the same key (with the invite when that
// server wants one), has the old server keep the signed notice, reads the old
// mailbox to its end, and tells every contact; it then is a device of the new
// address, reached over that server's WebSocket. The portals stay: contacts'
// clients follow the notice with no warning (their rooms continue under the new
// ghost), and what the user writes is sent as the new address.
import { PeopleError } from "../../../people/errors.js";
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import type { Command, CommandContext } from "../../core/commands.js";
import { isUserError, userError } from "../../core/error-kinds.js";
import type { Logger } from "../../logger.js";
import { notice, type Notice } from "../../core/notice.js";
import type { PeopleAccounts } from "./people-accounts.js";

export const MOVE_USAGE =
  "Usage: `move <new address> [invite code]`: moves the address the bridge made for you to another People server.";

export interface MoveArgs {
  to: PeopleAddress;
  /** The new server's invite code, when it takes registrations only with one. */
  invite?: string;
}

/** Printable, no spaces, as long as a server's tokens may sensibly be. */
const INVITE = /^[\x21-\x7e]{1,512}$/;

/** `move`'s arguments, checked: a People address and an optional invite code. */
export function parseMoveArgs(args: readonly string[]): MoveArgs {
  const [rawAddress, invite, ...rest] = args;
  if (rawAddress === undefined || rest.length > 0) throw userError(MOVE_USAGE);
  let to: PeopleAddress;
  try {
    to = parseAddress(rawAddress);
  } catch {
    throw userError(`That is not a People address. ${MOVE_USAGE}`);
  }
  if (invite === undefined) return { to };
  if (!INVITE.test(invite)) throw userError(`That is not an invite code. ${MOVE_USAGE}`);
  return { to, invite };
}

export interface MoveCommandDeps {
  accounts: PeopleAccounts;
  /** Says something in a room later, deduplicated by `txnKey`. */
  tell(roomId: string, n: Notice, txnKey: string): Promise<void>;
  log: Logger;
}

export function moveCommand(d: MoveCommandDeps): Command {
  const moving = new Set<string>();
  const later = (ctx: CommandContext, work: Promise<Notice>) => {
    void work
      .catch((err: unknown) => {
        if (isUserError(err)) return notice(err.userText);
        d.log.error({ err }, "move failed");
        return notice("Something went wrong (move); the bridge's log has the details.");
      })
      .then((n) => d.tell(ctx.roomId, n, `move.${ctx.eventId}`))
      .catch((err: unknown) => d.log.warn({ err }, "could not tell the room how a move went"));
  };
  return {
    name: "move",
    args: "<new address> [invite code]",
    help: "move the address the bridge made for you to another People server; your chats and contacts follow",
    level: "user",
    async run(ctx) {
      const { to, invite } = parseMoveArgs(ctx.args);
      const login = await d.accounts.logins?.accountOf(ctx.sender);
      if (login) {
        throw userError(
          `Your chats use \`${login.address}\`, which you logged in to: \`logout\` first (move it with \`people move\` on its own device).`,
        );
      }
      if (!(await d.accounts.hasHeldAccount(ctx.sender)))
        throw userError("The bridge has made no People address for you yet: there is nothing to move.");
      const account = await d.accounts.heldAccountFor(ctx.sender);
      const from = account.address;
      if (from === to) throw userError(`\`${to}\` is your address already.`);
      if (moving.has(ctx.sender))
        throw userError("A move is under way for you already: wait for its answer.");
      moving.add(ctx.sender);
      later(
        ctx,
        account.client
          .move(to, invite !== undefined ? { invite } : {})
          .then(
            (r) => {
              d.log.info(
                { user: ctx.sender, from: r.from, to: r.to, notified: r.notified },
                "moved a bridge-made address",
              );
              return notice(
                `Moved \`${r.from}\` to \`${r.to}\`: the bridge is a device of \`${r.to}\` now, and your chats use it.`,
                `${r.notified} contact${r.notified === 1 ? " was" : "s were"} told, signed with your account key: their chats with you continue, with no warning.`,
              );
            },
            (err: unknown) => {
              throw moveFailure(to, err);
            },
          )
          .finally(() => moving.delete(ctx.sender)),
      );
      return notice(`Moving \`${from}\` to \`${to}\`… the answer follows here.`);
    },
  };
}

/** What the user hears when the move did not finish (the detail goes to the log); running it again resumes it. */
function moveFailure(to: PeopleAddress, err: unknown): unknown {
  if (!(err instanceof PeopleError)) return err;
  const text: Record<string, string> = {
    PEOPLE_FORBIDDEN: `The server of \`${to}\` refused it: the address is taken, or that server wants an invite code (\`move ${to} <invite code>\`).`,
    PEOPLE_NO_SERVER: `There is no People server for \`${to}\`.`,
    PEOPLE_BAD_REQUEST: `\`${to}\` cannot be moved to: ${err.publicText}`,
  };
  return userError(
    text[err.code] ??
      `The move to \`${to}\` did not finish: ${err.publicText} Send the same \`move\` again to resume it.`,
    `move failed: ${err.code}`,
    { cause: err },
  );
}
