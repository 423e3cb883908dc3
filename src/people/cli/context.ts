// The global options turned into ClientOptions (data directory, store key,
// pins, trusted certificates), and the shared steps of every command: open the
// device, connect and catch up, report what the client warns about, close.
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { isPeopleError } from "../errors.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { PeopleClient, type ClientOptions } from "../client/people-client.js";
import { CLIENT_DB_FILE } from "../client/local-store-sqlite.js";
import { serverUrlOf } from "../net/discovery.js";
import type { TorOptions } from "../net/tor-route.js";
import type { KeyChangeEvent } from "../client/events.js";
import { CliError, UsageError, about, codeText, fileErrorText, publicMessage } from "./errors.js";
import { oneLine, Output, type Io } from "./output.js";
import { interactive, readSecret } from "./prompt.js";
import {
  SOCKS_HOST_PORT,
  mergeSettings,
  readSettings,
  sameSettings,
  writeSettings,
  type NetworkSettings,
} from "./settings.js";

export interface GlobalOptions {
  data?: string;
  passphraseFile?: string;
  keyFile?: string;
  pin?: string[];
  ca?: string[];
  /** A Tor SOCKS5 proxy (host:port) for .onion servers; with torAll, for every server. */
  socks?: string;
  torAll?: boolean;
  json?: boolean;
  verbose?: boolean;
}

/** How long a command waits to connect and fetch new mail (--timeout overrides it where offered). */
export const CONNECT_TIMEOUT_MS = 20_000;

export class Context {
  readonly out: Output;
  readonly dataDir: string;
  readonly pins: Record<string, string>;
  readonly ca: string[];
  /** What the data directory remembered before this command (settings.json). */
  readonly saved: NetworkSettings;

  constructor(
    readonly io: Io,
    readonly opts: GlobalOptions,
    readonly env: NodeJS.ProcessEnv,
  ) {
    this.out = new Output(io, Boolean(opts.json), Boolean(opts.verbose));
    this.dataDir = resolve(opts.data ?? env.PEOPLE_DATA ?? join(homedir(), ".people"));
    // Checked before anything else, so a typo is reported as such and not as a network failure later.
    const socksGiven = opts.socks ?? env.PEOPLE_TOR_SOCKS;
    if (socksGiven !== undefined && !SOCKS_HOST_PORT.test(socksGiven)) {
      throw new UsageError("--socks", "must be host:port, e.g. 127.0.0.1:9050");
    }
    const given = {
      pins: parsePins(opts.pin ?? []),
      ca: readCertificates(opts.ca ?? []),
      // Only what the command line says is remembered; $PEOPLE_TOR_SOCKS alone is not.
      ...(opts.socks !== undefined || opts.torAll
        ? { tor: { ...(socksGiven !== undefined ? { socks: socksGiven } : {}), all: Boolean(opts.torAll) } }
        : {}),
    };
    // What is given now goes over what the data directory remembered.
    this.saved = readSettings(this.dataDir);
    this.merged = mergeSettings(this.saved, given);
    this.pins = this.merged.pins;
    this.ca = this.merged.ca;
    const socks = socksGiven ?? this.merged.tor?.socks;
    this.tor = socks !== undefined ? { socks, all: Boolean(this.merged.tor?.all) } : undefined;
  }

  /** The settings to remember once the command succeeded. */
  private readonly merged: NetworkSettings;

  /** Tor: .onion servers (and with --tor-all every server) through this SOCKS5 proxy. */
  readonly tor: TorOptions | undefined;

  /**
   * After a command succeeded: remember the --pin, --ca, --socks and --tor-all it was given, in the data
   * directory of a device (not for a directory without a store, nor after a failure).
   */
  rememberNetwork(): void {
    const now = this.merged;
    if (!this.hasStore() || sameSettings(now, this.saved)) return;
    writeSettings(this.dataDir, now);
    this.out.debug(`remembered --pin/--ca/--socks in ${this.dataDir} (see \`people config\`)`);
  }

  get storeFile(): string {
    return join(this.dataDir, CLIENT_DB_FILE);
  }

  hasStore(): boolean {
    return existsSync(this.storeFile);
  }

  /** Options for PeopleClient; `creating`: a new store (init, link), asking for a new passphrase twice. */
  async clientOptions(creating = false): Promise<ClientOptions> {
    const key = await this.storeKey(creating);
    return {
      dataDir: this.dataDir,
      ...key,
      pins: this.pins,
      ca: this.ca,
      ...(this.tor ? { tor: this.tor } : {}),
      // A program that runs now and then: retry undelivered mail at least every few minutes, not hourly.
      backoff: { baseMs: 1000, maxMs: 5 * 60_000 },
    };
  }

  private async storeKey(creating: boolean): Promise<{ passphrase: string } | { keyFile: string }> {
    const { passphraseFile, keyFile } = this.opts;
    if (passphraseFile !== undefined && keyFile !== undefined) {
      throw new UsageError(undefined, "give either --passphrase-file or --key-file, not both");
    }
    if (keyFile !== undefined) {
      const path = resolve(keyFile);
      if (!creating && !existsSync(path)) throw new CliError(path, "no such key file");
      return { keyFile: path };
    }
    if (passphraseFile !== undefined)
      return { passphrase: readPassphraseFile(resolve(passphraseFile), this.out) };
    const fromEnv = this.env.PEOPLE_PASSPHRASE;
    if (fromEnv !== undefined) {
      if (fromEnv === "") throw new UsageError("PEOPLE_PASSPHRASE", "is empty");
      return { passphrase: fromEnv };
    }
    if (!interactive(this.io)) {
      throw new UsageError(
        this.dataDir,
        "no passphrase: give --passphrase-file <file> or --key-file <file>, or set PEOPLE_PASSPHRASE",
      );
    }
    if (!creating) return { passphrase: await this.askPassphrase(`Passphrase for ${this.dataDir}: `) };
    const first = await this.askPassphrase("New passphrase for this device's store: ");
    if (first.length < 8) this.out.warn(undefined, "a passphrase this short is easy to guess");
    const second = await readSecret(this.io, "Repeat it: ");
    if (first !== second) throw new CliError(undefined, "the two passphrases differ");
    return { passphrase: first };
  }

  private async askPassphrase(prompt: string): Promise<string> {
    const value = await readSecret(this.io, prompt);
    if (value === "") throw new CliError(undefined, "empty passphrase");
    return value;
  }

  /** The device kept in the data directory. */
  async open(extra: Partial<ClientOptions> = {}): Promise<PeopleClient> {
    if (!this.hasStore()) {
      throw new CliError(
        this.dataDir,
        "no People account here; create one with `people init <address>` or link this device with `people link <address> --code <code>` (or choose another --data)",
      );
    }
    const options = { ...(await this.clientOptions()), ...extra };
    return about(this.dataDir, () => PeopleClient.open(options));
  }

  /** Open the device, run `fn`, close it whatever happens; `extra` adds client options (a media engine). */
  async withClient<T>(
    fn: (client: PeopleClient) => Promise<T>,
    extra: Partial<ClientOptions> = {},
  ): Promise<T> {
    const client = await this.open(extra);
    try {
      return await fn(client);
    } finally {
      await client.close().catch((e: unknown) => this.out.debug(`close: ${String(e)}`));
    }
  }

  /**
   * Make a new store (init, link): when `make` fails, remove what this attempt
   * created (the store file, the directory, a new key file), so the next try starts clean.
   */
  async creating(subject: string, make: (o: ClientOptions) => Promise<PeopleClient>): Promise<PeopleClient> {
    if (this.hasStore()) {
      throw new CliError(
        this.dataDir,
        "already holds a People client store; choose another directory with --data",
      );
    }
    const options = await this.clientOptions(true);
    const dirExisted = existsSync(this.dataDir);
    const keyFileExisted = options.keyFile !== undefined && existsSync(options.keyFile);
    try {
      return await about(subject, () => make(options));
    } catch (e) {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(this.storeFile + suffix, { force: true });
      if (!dirExisted) rmSync(this.dataDir, { recursive: true, force: true });
      if (options.keyFile !== undefined && !keyFileExisted) rmSync(options.keyFile, { force: true });
      throw e;
    }
  }

  /** Print what the client warns about while it runs: key changes, held and unreadable mail. */
  reportEvents(client: PeopleClient): () => void {
    const offs = [
      client.onKeyChange((e) => this.keyChangeWarning(e)),
      client.on("held", (e) =>
        this.out.warn(e.from, "a message is held unread until you accept the change of its keys"),
      ),
      client.on("rejected", (e) =>
        this.out.warn(e.from ?? "unknown sender", `a message could not be read: ${codeText(e.code)}`),
      ),
      client.on("error", (e) =>
        this.out.debug(`${e.where}: ${e.error instanceof Error ? e.error.message : String(e.error)}`),
      ),
      client.on("contactMoved", (e) =>
        this.out.note(`${e.from} moved to ${e.to} (verified with their account key).`),
      ),
      client.on("moveRefused", (e) =>
        this.out.warn(
          e.from,
          `WARNING: a notice claiming that ${e.from} moved${e.to ? ` to ${e.to}` : ""} was refused: ` +
            `${codeText(e.code)} It is not signed by the account key you know for ${e.from}; nothing changed.`,
        ),
      ),
    ];
    return () => offs.forEach((off) => off());
  }

  private keyChangeWarning(e: KeyChangeEvent): void {
    if (e.kind === "account") {
      this.out.warn(
        e.subject,
        `WARNING: the keys of ${e.subject} changed in a way their account did not sign. ` +
          `Their new keys are not used and their messages are held. Compare safety numbers with them ` +
          `(in person or on a call you trust; \`people fingerprint ${e.subject} --pending\` shows the new ` +
          `number), then run \`people verify ${e.subject} --accept-change\`.`,
      );
    } else {
      this.out.warn(
        e.subject,
        `WARNING: the identity key of the server for ${e.subject} changed. Accept it only if you know why: ` +
          `\`people verify <address at ${e.subject}> --accept-server-key\`.`,
      );
    }
  }

  /**
   * Start the client (receive, deliver the outbox) and wait until the server
   * sent everything pending. Fails on the first connection failure, naming the own domain.
   */
  async connect(client: PeopleClient, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
    const domain = addressDomain(client.address);
    let off: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new CliError(domain, "timed out waiting for the server to send new mail")),
        timeoutMs,
      );
      timer.unref();
      const done = (error?: unknown) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      off = [
        client.on("caughtUp", () => done()),
        client.on("error", (e) => {
          if (e.where === "live" || e.where === "receive") done(e.error);
        }),
        client.on("connection", (c) => {
          if (c.state === "closed")
            done(new CliError(domain, `the server closed the connection${c.code ? ` (${c.code})` : ""}`));
        }),
      ];
    });
    ready.catch(() => undefined); // awaited below, unless start() throws first
    try {
      await client.start();
      await about(domain, () => ready);
      this.out.debug(`connected to the server for ${domain}`);
    } finally {
      clearTimeout(timer);
      off.forEach((f) => f());
    }
  }

  /**
   * Rotate keys if due and erase retired ones. Done by inbox and watch once connected (so the own
   * server is known to answer and the new key gets published before anything is signed with it);
   * `watch` also does it hourly while it runs.
   */
  async maintain(client: PeopleClient): Promise<void> {
    try {
      const r = await client.rotateIfDue();
      if (r.rotated) this.out.note(`Rotated this device's keys (they are renewed daily).`);
    } catch (e) {
      this.out.debug(`rotation: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Send what waits in the outbox and is due, briefly; say so if some is left. */
  async flushQueued(client: PeopleClient): Promise<void> {
    if ((await client.outboxSize()) === 0) return;
    const left = await this.deliver(client, 2000);
    if (left > 0)
      this.out.note(`${left} message cop${left === 1 ? "y is" : "ies are"} still waiting to be delivered.`);
  }

  /** Try to deliver what is queued until the outbox is empty or `timeoutMs` passed; returns what is left. */
  async deliver(client: PeopleClient, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = await client.outboxSize();
      if (left === 0 || Date.now() >= deadline) return left;
      const next = await client.flush();
      if ((await client.outboxSize()) === 0) return 0;
      const wait = Math.min(Math.max(next - Date.now(), 50), 1000, deadline - Date.now());
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** An address the user typed; a malformed one is a usage error naming it. */
export function addressArg(input: string): PeopleAddress {
  try {
    return parseAddress(input);
  } catch (e) {
    if (isPeopleError(e)) throw new UsageError(oneLine(input), publicMessage(e), { cause: e });
    throw e;
  }
}

/** `--pin domain=host:port` values. */
export function parsePins(values: string[]): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    const domain = value.slice(0, eq).trim().toLowerCase();
    const hostPort = value.slice(eq + 1).trim();
    const ok = eq > 0 && /^[a-z0-9.-]+$/.test(domain) && serverUrlOf(hostPort) !== null;
    if (!ok)
      throw new UsageError(value, "expected --pin <domain>=<host>:<port>, e.g. example.com=192.0.2.7:7367");
    pins[domain] = hostPort;
  }
  return pins;
}

/** `--ca` files: PEM certificates to trust besides the system's. */
export function readCertificates(files: string[]): string[] {
  return files.map((file) => {
    const path = resolve(file);
    let pem: string;
    try {
      pem = readFileSync(path, "utf8");
    } catch (e) {
      throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new CliError(path, "not a PEM certificate");
    return pem;
  });
}

export function readPassphraseFile(path: string, out: Output): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
    if ((statSync(path).mode & 0o077) !== 0) {
      out.warn(path, "others can read this passphrase file; `chmod 600` it");
    }
  } catch (e) {
    throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
  }
  const passphrase = text.replace(/\r?\n$/, "");
  if (passphrase === "") throw new CliError(path, "the passphrase file is empty");
  return passphrase;
}
