// The admin's commands of `people-server`, run beside the server on the same
// config and database (safe while it runs: SQLite in WAL mode with a busy
// timeout, or PostgreSQL). People accounts are made by their users' devices,
// which alone hold the account keys, so the admin does not create accounts:
// they make invites (like Synapse's registration tokens) that a new user
// passes to `people init <address> --invite <token>`.
import { mkdirSync } from "node:fs";
import type { Command } from "commander";
import { isPeopleError } from "../errors.js";
import { openStore } from "../../store/index.js";
import type { PeopleStore } from "../../store/types.js";
import { ConfigError, parseDuration, storeConfig, type ServerConfig } from "./config.js";
import { inviteState, MAX_NOTE, newInvite } from "./invites.js";

/** A failure of an admin command: printed as one line, with its exit code (2: wrong usage). */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "AdminError";
  }
}

const DEFAULT_EXPIRY = "7d";
const ACCOUNT_PAGE = 500;

type LoadConfig = (cmd: Command) => ServerConfig;

interface CreateOpts {
  uses: string;
  unlimited?: boolean;
  expires: string;
  note?: string;
}

export function addAdminCommands(program: Command, loadConfig: LoadConfig): void {
  const json = (cmd: Command) => Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);
  const run =
    <A extends unknown[]>(
      fn: (store: PeopleStore, config: ServerConfig, cmd: Command, ...a: A) => Promise<void>,
    ) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args.at(-1) as Command;
      const config = loadConfig(cmd);
      if (config.database.engine === "sqlite") mkdirSync(config.data_dir, { recursive: true });
      const store = await openStore(storeConfig(config));
      try {
        await fn(store, config, cmd, ...(args.slice(0, -1) as A));
      } finally {
        await store.close();
      }
    };

  const invite = program
    .command("invite")
    .description("registration invites: a new user passes one to `people init <address> --invite <token>`");
  invite
    .command("create")
    .description("make an invite and print its token (shown only now; the server keeps only its hash)")
    .option("--uses <n>", "how many accounts it may create", "1")
    .option("--unlimited", "any number of accounts (until it expires or is revoked)")
    .option("--expires <duration>", 'valid for this long: 30m, 12h, 7d… or "never"', DEFAULT_EXPIRY)
    .option("--note <text>", "a note for `invite list` (whom it is for)")
    .action(
      run(async (store, config, cmd, opts: CreateOpts) => {
        const now = Date.now();
        const maxUses = opts.unlimited ? null : wholeNumber(opts.uses, "--uses");
        const expiresAt = opts.expires === "never" ? null : now + duration(opts.expires, "--expires");
        const note = opts.note === undefined || opts.note === "" ? null : oneLine(opts.note);
        if (note !== null && note.length > MAX_NOTE)
          throw new AdminError(`--note: at most ${MAX_NOTE} characters`, 2);
        const { token, record } = newInvite({ maxUses, expiresAt, note }, now);
        await store.invites.create(record);
        if (json(cmd)) {
          print({ id: record.id, token, max_uses: maxUses, expires_at: iso(expiresAt), note });
          return;
        }
        const uses =
          maxUses === null ? "any number of accounts" : `${maxUses} account${maxUses === 1 ? "" : "s"}`;
        print(
          `Invite ${record.id}: ${uses}, ${expiresAt === null ? "never expires" : `until ${iso(expiresAt)}`}.`,
        );
        print("");
        print(`    ${token}`);
        print("");
        print("Give the token to the new user (it is not shown again); they run:");
        print(`    people init <name>@${config.domain} --invite <token>`);
      }),
    );
  invite
    .command("list")
    .description("list the invites: id, uses, expiry, state (never the tokens)")
    .action(
      run(async (store, _config, cmd) => {
        const now = Date.now();
        const rows = (await store.invites.list()).map((r) => ({
          id: r.id,
          state: inviteState(r, now),
          uses: r.uses,
          max_uses: r.maxUses,
          created_at: iso(r.createdAt),
          expires_at: iso(r.expiresAt),
          note: r.note,
        }));
        if (json(cmd)) return print(rows);
        if (rows.length === 0) return print("No invites. Make one with `people-server invite create`.");
        table(
          ["ID", "STATE", "USES", "CREATED", "EXPIRES", "NOTE"],
          rows.map((r) => [
            r.id,
            r.state,
            `${r.uses}/${r.max_uses ?? "any"}`,
            r.created_at ?? "",
            r.expires_at ?? "never",
            r.note ?? "",
          ]),
        );
      }),
    );
  invite
    .command("revoke")
    .description("revoke an invite: it creates no more accounts (those it created stay)")
    .argument("<id>", "the invite's id, as `invite list` shows it")
    .action(
      run(async (store, _config, cmd, id: string) => {
        if (!/^[0-9a-f]{12}$/.test(id))
          throw new AdminError(`${oneLine(id)}: not an invite id (12 hex digits)`, 2);
        const result = await store.invites.revoke(id, Date.now());
        if (result === "unknown") throw new AdminError(`${id}: no such invite (see \`invite list\`)`);
        if (json(cmd)) return print({ id, revoked: true, already: result === "already" });
        print(result === "already" ? `Invite ${id} was already revoked.` : `Revoked invite ${id}.`);
      }),
    );

  const account = program.command("account").description("the accounts of this server");
  account
    .command("list")
    .description("list the accounts: address, devices, created")
    .action(
      run(async (store, _config, cmd) => {
        const all = [];
        for (let after: string | null = null; ;) {
          const page = await store.accounts.list(after, ACCOUNT_PAGE);
          all.push(...page);
          if (page.length < ACCOUNT_PAGE) break;
          after = page.at(-1)!.address;
        }
        const rows = all.map((a) => ({
          address: a.address,
          devices: a.devices,
          created_at: iso(a.createdAt),
        }));
        if (json(cmd)) return print(rows);
        if (rows.length === 0) return print("No accounts yet.");
        table(
          ["ADDRESS", "DEVICES", "CREATED"],
          rows.map((r) => [r.address, String(r.devices), r.created_at ?? ""]),
        );
      }),
    );
}

function wholeNumber(text: string, flag: string): number {
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new AdminError(`${flag}: expected a whole number of at least 1`, 2);
  return n;
}

function duration(text: string, flag: string): number {
  let ms = 0;
  try {
    ms = parseDuration(text.trim());
  } catch (e) {
    if (!(e instanceof ConfigError || isPeopleError(e))) throw e;
  }
  if (ms <= 0) throw new AdminError(`${flag}: expected a duration such as 30m, 12h or 7d, or "never"`, 2);
  return ms;
}

function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]+/gu, " ").slice(0, 300);
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function print(value: unknown): void {
  process.stdout.write(typeof value === "string" ? `${value}\n` : `${JSON.stringify(value)}\n`);
}

function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [head, ...rows])
    print(
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
}
