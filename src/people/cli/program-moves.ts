// The `move` command of `people` (kept out of program.ts, which holds the others).
import type { Command } from "commander";
import type * as MoveCmd from "./commands/move.js";
import type { Context } from "./context.js";

type Act = <M>(
  load: () => Promise<M>,
  fn: (m: M, ctx: Context, args: unknown[]) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

const MOVE_HELP = [
  "",
  "The new address is made with the same account key, this device its first device there; your",
  "other devices must be linked to it again. The account key signs a move notice: the old server",
  "keeps it, refuses new mail with it (senders follow to the new address), and your contacts get it",
  "and keep their trust in you, with no warning. Mail still waiting at the old server is read first.",
].join("\n");

export function addMoveCommands(program: Command, act: Act): void {
  const moves = () => import("./commands/move.js") as Promise<typeof MoveCmd>;
  program
    .command("move")
    .description("move this account to another address (another server), keeping contacts and trust")
    .argument("<address>", "the new address, e.g. joe@new.example")
    .option("--invite <token>", "an invite of the new server, if it needs one")
    .addHelpText("after", MOVE_HELP)
    .action(
      act(moves, (m, ctx, [address, opts]) => m.move(ctx, address as string, opts as { invite?: string })),
    );
}
