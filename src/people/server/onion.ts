// Publishing a People server as a Tor onion service (v3), two ways:
// - through the control port of a tor the admin runs: ADD_ONION with an
//   ed25519 key kept in data_dir (onion.key, 0600), so the address survives
//   restarts; the service goes away when the server stops (its control
//   connection closes);
// - or a HiddenServiceDir the admin configured in torrc, whose `hostname`
//   file names the address (tor publishes it; we only read it).
// The onion address is the service's public key (rend-spec-v3 §6), so it is
// computed here from the key, before tor is asked for anything.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TorControl } from "../net/tor-control.js";
import { ConfigError, type ServerConfig } from "./config.js";

export const ONION_KEY_FILE = "onion.key";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** The v3 onion address (without ".onion") of an ed25519 public key. */
export function onionAddressOf(publicKey: Buffer): string {
  const version = Buffer.from([3]);
  const checksum = createHash("sha3-256")
    .update(Buffer.concat([Buffer.from(".onion checksum"), publicKey, version]))
    .digest()
    .subarray(0, 2);
  return base32(Buffer.concat([publicKey, checksum, version]));
}

export interface OnionKey {
  /** "<56 base32>.onion" */
  address: string;
  /** The ADD_ONION key argument, "ED25519-V3:<base64 expanded secret key>". Secret. */
  torKey: string;
}

/** The onion key of this data directory, created (0600) on first use. */
export function onionKey(dataDir: string): OnionKey {
  const file = join(dataDir, ONION_KEY_FILE);
  if (!existsSync(file))
    writeFileSync(file, randomBytes(32).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  const seed = Buffer.from(readFileSync(file, "utf8").trim(), "hex");
  if (seed.length !== 32) throw new ConfigError("onion", `${file} is not an onion key`);
  // PKCS#8 wrapper of a raw ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x!, "base64url");
  const expanded = createHash("sha512").update(seed).digest();
  expanded[0]! &= 248;
  expanded[31]! &= 127;
  expanded[31]! |= 64;
  return {
    address: `${onionAddressOf(publicKey)}.onion`,
    torKey: `ED25519-V3:${expanded.toString("base64")}`,
  };
}

/** The onion address this server will publish, or undefined when it publishes none. */
export function configuredOnion(config: ServerConfig): string | undefined {
  const o = config.onion;
  if (o.hidden_service_dir !== undefined) {
    const file = join(o.hidden_service_dir, "hostname");
    try {
      return readFileSync(file, "utf8").trim();
    } catch (cause) {
      throw new ConfigError("onion.hidden_service_dir", `cannot read ${file}: ${(cause as Error).message}`);
    }
  }
  if (o.control_port === undefined) return undefined;
  return onionKey(config.data_dir).address;
}

/** Publishes local host:port as the onion's virtual port; returns how to take it down. */
export async function publishOnion(
  config: ServerConfig,
  local: { host: string; port: number },
): Promise<() => void> {
  const o = config.onion;
  if (o.control_port === undefined) return () => undefined; // none, or tor publishes a HiddenServiceDir
  const control = await TorControl.open({
    host: o.control_host,
    port: o.control_port,
    ...(o.control_password !== undefined ? { password: o.control_password } : {}),
    ...(o.control_cookie_file !== undefined ? { cookieFile: o.control_cookie_file } : {}),
  });
  try {
    const key = onionKey(config.data_dir);
    await control.command(`ADD_ONION ${key.torKey} Port=${o.virtual_port},${local.host}:${local.port}`);
  } catch (error) {
    control.close();
    throw error;
  }
  return () => control.close();
}
