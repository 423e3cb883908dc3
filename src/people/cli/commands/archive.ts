// `people export <file>` and `people import <file>`: a device's account in a
// passphrase-sealed archive, to restore on a new machine (device-export.ts).
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { exportDevice, importDevice, type ArchiveSummary } from "../../client/device-export.js";
import { readPassphraseFile, type Context } from "../context.js";
import { CliError, UsageError, about } from "../errors.js";
import { interactive, readSecret } from "../prompt.js";

export interface ArchiveOpts {
  archivePassphraseFile?: string;
}

async function archivePassphrase(ctx: Context, opts: ArchiveOpts, creating: boolean): Promise<string> {
  if (opts.archivePassphraseFile !== undefined)
    return readPassphraseFile(resolve(opts.archivePassphraseFile), ctx.out);
  const fromEnv = ctx.env.PEOPLE_ARCHIVE_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!interactive(ctx.io))
    throw new UsageError(
      undefined,
      "no archive passphrase: give --archive-passphrase-file <file> or set PEOPLE_ARCHIVE_PASSPHRASE",
    );
  const first = await readSecret(ctx.io, "Passphrase for the archive: ");
  if (!creating) return first;
  if ((await readSecret(ctx.io, "Repeat it: ")) !== first)
    throw new CliError(undefined, "the two passphrases differ");
  return first;
}

function show(ctx: Context, verb: string, file: string, s: ArchiveSummary): void {
  if (ctx.out.json) ctx.out.data({ file, ...s });
  else
    ctx.out.line(
      `${verb} ${s.address} (device ${s.device}): ${s.contacts} contact(s), ${s.groups} group(s), ${s.messages} message(s).`,
    );
}

export async function exportArchive(ctx: Context, input: string, opts: ArchiveOpts): Promise<void> {
  const file = resolve(input);
  if (!ctx.hasStore()) throw new CliError(ctx.dataDir, "no People account here to export");
  const passphrase = await archivePassphrase(ctx, opts, true);
  const options = await ctx.clientOptions();
  const { text, summary, retire } = await about(ctx.dataDir, () => exportDevice(options, passphrase));
  // Never over an existing file; on disk (fsynced) before the store here is retired.
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (e) {
    throw new CliError(
      file,
      (e as NodeJS.ErrnoException).code === "EEXIST" ? "exists already" : "cannot be written",
    );
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw new CliError(file, `cannot be written: ${(e as Error).message}`);
  }
  closeSync(fd);
  await retire();
  show(ctx, "Exported", file, summary);
  if (!ctx.out.json) {
    if (summary.unsent > 0)
      ctx.out.warn(undefined, `${summary.unsent} message copies waiting to be sent are not in the archive.`);
    ctx.out.line(`This device now stops here: run \`people import ${input}\` on the new machine.`);
  }
}

export async function importArchive(ctx: Context, input: string, opts: ArchiveOpts): Promise<void> {
  const file = resolve(input);
  if (ctx.hasStore())
    throw new CliError(ctx.dataDir, "already holds a People client store; choose another --data");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new CliError(file, "cannot be read");
  }
  const passphrase = await archivePassphrase(ctx, opts, false);
  const options = await ctx.clientOptions(true);
  const summary = await about(file, () => importDevice(options, text, passphrase));
  show(ctx, "Imported", file, summary);
}
