// The `move`, `export` and `import` commands of `people` (kept out of program.ts, which holds the others).
import type { Command } from "commander";
import type * as ArchiveCmd from "./commands/archive.js";
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

const ARCHIVE_HELP = [
  "",
  "The archive holds this device's keys (the account key too), its contacts with their trust, its",
  "groups with their keys and its history, sealed under a passphrase of its own (scrypt). It restores",
  "this very device: export retires the store here, so that one copy of the device runs, never two.",
  "The archive passphrase comes from --archive-passphrase-file, PEOPLE_ARCHIVE_PASSPHRASE, or the terminal.",
].join("\n");

export function addMoveCommands(program: Command, act: Act): void {
  const archive = () => import("./commands/archive.js") as Promise<typeof ArchiveCmd>;
  for (const [name, description, fn] of [
    [
      "export",
      "seal this device's account into an archive file to restore on a new machine",
      "exportArchive",
    ],
    [
      "import",
      "restore a device from an archive `people export` made (into an empty --data)",
      "importArchive",
    ],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument("<file>", "the archive file")
      .option("--archive-passphrase-file <file>", "read the archive's passphrase from this file")
      .addHelpText("after", ARCHIVE_HELP)
      .action(
        act(archive, (m, ctx, [file, opts]) => m[fn](ctx, file as string, opts as ArchiveCmd.ArchiveOpts)),
      );
  }
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
