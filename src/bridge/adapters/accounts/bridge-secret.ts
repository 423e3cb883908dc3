// The bridge's own secret: 32 random bytes in people.data_dir/bridge-secret.key,
// made on first start (mode 0600, never logged). Everything else the bridge
// needs to keep secret is derived from it with HMAC-SHA256 under a purpose
// label, so there is one file to protect and back up:
// - each Matrix user's People client store key (passphrase of the store under
//   people.data_dir/users/<sha256 of the user id>/), a different one per user;
// - the invite token with which the bridge registers its users' accounts on its
//   embedded People server, whatever people.registration.mode says.
// Losing the file makes every user's store unreadable: back it up with the data dir.
import type { MessageId } from "../../../people/protocol/ids.js";
import { createHash, createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import sodium from "sodium-native";
import { readOrCreateKeyFile } from "../../../people/client/store-crypto.js";
import type { ServerConfig } from "../../../people/server/config.js";

export const BRIDGE_SECRET_FILE = "bridge-secret.key";

export class BridgeSecret {
  private constructor(private readonly key: Buffer) {}

  /** Reads the secret from `dataDir`, creating it (exclusively, 0600) on first start. */
  static load(dataDir: string): BridgeSecret {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return new BridgeSecret(readOrCreateKeyFile(join(dataDir, BRIDGE_SECRET_FILE)));
  }

  private derive(purpose: string): Buffer {
    return createHmac("sha256", this.key).update(`matrix-appservice-people/v1 ${purpose}`).digest();
  }

  /** The store passphrase of one Matrix user's People client. */
  storePassphrase(userId: string): string {
    return this.derive(`user-store\0${userId}`).toString("base64url");
  }

  /** The store passphrase of the device the bridge is for a user's logged-in address (`login`). */
  loginStorePassphrase(userId: string, address: string): string {
    return this.derive(`login-store\0${userId}\0${address}`).toString("base64url");
  }

  /** The People message id for a Matrix event a user sent: stable across retries, unlinkable without the secret. */
  messageId(userId: string, eventId: string): MessageId {
    return this.derive(`message-id\0${userId}\0${eventId}`)
      .subarray(0, 16)
      .toString("base64url") as MessageId;
  }

  /** The key that seals the access tokens of the double-puppet logins (bridge.double_puppet) in the database. */
  doublePuppetKey(): Buffer {
    return this.derive("double-puppet-token");
  }

  /** The invite token that lets the bridge register accounts on its own People server. */
  registrationToken(): string {
    return this.derive("registration-token").toString("hex");
  }

  erase(): void {
    sodium.sodium_memzero(this.key);
  }
}

/** The directory of one Matrix user's People client: people.data_dir/users/<sha256 of the user id>. */
export function userDataDir(dataDir: string, userId: string): string {
  return join(dataDir, "users", createHash("sha256").update(userId).digest("hex"));
}

/** The directory of the bridge's device for an address a user logged in to: under the user's, by the address's hash. */
export function loginDataDir(dataDir: string, userId: string, address: string): string {
  return join(userDataDir(dataDir, userId), "logins", createHash("sha256").update(address).digest("hex"));
}

/**
 * The People server's config with the bridge's invite token accepted: a closed
 * server (the default) takes registrations only with that token, a token server
 * with its own tokens and this one, an open server stays open.
 */
export function withBridgeRegistration(config: ServerConfig, token: string): ServerConfig {
  const { mode, tokens } = config.registration;
  if (mode === "open") return config;
  return { ...config, registration: { mode: "token", tokens: [...tokens, token] } };
}
