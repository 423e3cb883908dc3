// What a data directory remembers of the network options, so `--pin`, `--ca`,
// `--socks` and `--tor-all` are given once (at init, link or any later command)
// and not on every command: `settings.json` beside the store, mode 0600,
// written atomically and only after a command that used them succeeded. A later
// --pin for a domain replaces the remembered one; a --ca is added to those
// remembered (the same certificate once); a later --socks replaces the proxy,
// and --tor-all stays on once given (turning it off silently would expose the
// IP address it hides). `people config` shows them, `config unpin`/`untrust`/
// `forget-tor` forget.
//
// Not secret, and not what People's security rests on: servers and contacts are
// authenticated by the keys they signed, which are pinned in the encrypted
// store; a wrong pin or certificate can only make a server unreachable.
import { X509Certificate, createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CliError, UsageError } from "./errors.js";

export const SETTINGS_FILE = "settings.json";

/** A SOCKS proxy as the CLI takes it: host:port. */
export const SOCKS_HOST_PORT = /^[a-zA-Z0-9.-]{1,253}:\d{1,5}$/;

const settingsSchema = z.strictObject({
  version: z.literal(1),
  pins: z.record(z.string().max(253), z.string().max(300)),
  ca: z.array(z.string().max(64 * 1024)).max(64),
  // Absent in files written before Tor was remembered.
  tor: z.strictObject({ socks: z.string().regex(SOCKS_HOST_PORT), all: z.boolean() }).optional(),
});

export interface TorSetting {
  /** Tor's SOCKS5 proxy, host:port. */
  socks: string;
  /** All People traffic through it, not only to .onion servers. */
  all: boolean;
}

export interface NetworkSettings {
  /** Domain → host:port. */
  pins: Record<string, string>;
  /** PEM certificates to trust besides the system's. */
  ca: string[];
  /** --socks and --tor-all. */
  tor?: TorSetting;
}

export const NO_SETTINGS: NetworkSettings = { pins: {}, ca: [] };

export function settingsPath(dataDir: string): string {
  return join(dataDir, SETTINGS_FILE);
}

/** The remembered settings (none when the file does not exist); a damaged file is an error naming it. */
export function readSettings(dataDir: string): NetworkSettings {
  const path = settingsPath(dataDir);
  if (!existsSync(path)) return NO_SETTINGS;
  let parsed: z.infer<typeof settingsSchema>;
  try {
    parsed = settingsSchema.parse(JSON.parse(readFileSync(path, "utf8")));
  } catch {
    throw new CliError(path, "is not a valid settings file; fix it or remove it (and give --pin/--ca again)");
  }
  return { pins: parsed.pins, ca: parsed.ca, ...(parsed.tor ? { tor: parsed.tor } : {}) };
}

/** What was given on the command line: --tor-all without a proxy takes the remembered one. */
export interface GivenSettings {
  pins: Record<string, string>;
  ca: string[];
  tor?: { socks?: string; all: boolean };
}

/**
 * `given` over `saved`: a pin per domain replaces the saved one; certificates are added once;
 * a given proxy replaces the saved one and --tor-all, once on, stays on.
 */
export function mergeSettings(saved: NetworkSettings, given: GivenSettings): NetworkSettings {
  const ca = [...saved.ca];
  for (const pem of given.ca) if (!ca.some((c) => samePem(c, pem))) ca.push(pem);
  const socks = given.tor?.socks ?? saved.tor?.socks;
  const all = Boolean(given.tor?.all) || Boolean(saved.tor?.all);
  if (given.tor?.all && socks === undefined) {
    throw new UsageError("--tor-all", "needs --socks (Tor's SOCKS port)");
  }
  return {
    pins: { ...saved.pins, ...given.pins },
    ca,
    ...(socks !== undefined ? { tor: { socks, all } } : {}),
  };
}

export function sameSettings(a: NetworkSettings, b: NetworkSettings): boolean {
  const pins = (s: NetworkSettings) => JSON.stringify(Object.entries(s.pins).sort());
  const tor = (s: NetworkSettings) => JSON.stringify(s.tor ? [s.tor.socks, s.tor.all] : null);
  return (
    pins(a) === pins(b) &&
    tor(a) === tor(b) &&
    a.ca.length === b.ca.length &&
    a.ca.every((c, i) => samePem(c, b.ca[i]!))
  );
}

/** Write the settings (0600, replacing the file in one rename, so a crash leaves the old or the new one). */
export function writeSettings(dataDir: string, settings: NetworkSettings): void {
  const path = settingsPath(dataDir);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, ...settings }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** What `people config` shows of a remembered certificate. */
export function describeCertificate(pem: string): { fingerprint: string; subject: string; validTo: string } {
  try {
    const cert = new X509Certificate(pem);
    const fingerprint = cert.fingerprint256.replace(/:/g, "").toLowerCase().slice(0, 16);
    return { fingerprint, subject: cert.subject.replace(/\n/g, ", "), validTo: cert.validTo };
  } catch {
    const fingerprint = createHash("sha256").update(pem.trim()).digest("hex").slice(0, 16);
    return { fingerprint, subject: "(not a readable certificate)", validTo: "" };
  }
}

function samePem(a: string, b: string): boolean {
  return a.trim() === b.trim();
}
