// People addresses a Matrix user logged the bridge in to (`login <address> <code>`):
// the bridge becomes one more linked device of an account it did not make, by
// the device-link flow of PROTOCOL §11.1. The user runs `people link-code` on a
// device they have and types the code here; the bridge is the new device, so
// its private keys are made here and the account key reaches it only sealed to
// its own certified key (the People servers see neither). Like every device
// that rotates, it then holds the account key (§6.3), kept in its own client
// store encrypted with a passphrase derived from the bridge secret.
// `logout` revokes the bridge's device by a list it signs itself (§11.1.1),
// then erases the device's store. One logged-in address per Matrix user.
import { existsSync, rmSync } from "node:fs";
import { PeopleError, isPeopleError } from "../../../people/errors.js";
import { PeopleClient, type ClientOptions } from "../../../people/client/people-client.js";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type { LoginStore } from "../../core/ports/store.js";
import { userError } from "../../core/error-kinds.js";
import { loginDataDir, type BridgeSecret } from "./bridge-secret.js";
import { ClientAccount } from "./client-account.js";

export interface LoginsOptions {
  dataDir: string;
  secret: BridgeSecret;
  store: LoginStore;
  log: Logger;
  /** The client options every account of the bridge uses, for this data directory and passphrase. */
  clientOptions(dataDir: string, passphrase: string): ClientOptions;
  /** Routes the account's messages, key changes and outbox reports like the bridge-held accounts'. */
  attach(account: ClientAccount): void;
  /** How long the bridge waits for the other device to let it in (default 10 min, the code's life). */
  linkTimeoutMs?: number;
  now?: () => number;
}

export class Logins {
  /** The open logins, by address. */
  private readonly open = new Map<string, ClientAccount>();
  /** Users whose login is being linked now. */
  private readonly linking = new Set<string>();
  private closed = false;
  /** Every recorded login was opened (or failed to, logged) at start. */
  loaded = false;

  constructor(private readonly o: LoginsOptions) {}

  /** The user's open login, if any. */
  opened(user: string): ClientAccount | undefined {
    for (const account of this.open.values()) if (account.owner === user) return account;
    return undefined;
  }

  /** The user's login: open already, or opened from its store; undefined when the user has none. */
  async accountOf(user: string): Promise<ClientAccount | undefined> {
    const ready = this.opened(user);
    if (ready) return ready;
    const record = (await this.o.store.of(user))[0];
    return record && this.openStored(record.matrixUser as MatrixUserId, record.address as PeopleAddress);
  }

  /** The address's login (any user), if open. */
  byAddress(address: string): ClientAccount | undefined {
    return this.open.get(address);
  }

  /**
   * Links the bridge as a new device of `address` with the code another device of it shows,
   * and records the login once the device's secrets are on disk. Resolves when it is receiving.
   */
  async login(user: MatrixUserId, address: PeopleAddress, code: string): Promise<ClientAccount> {
    const held = (await this.o.store.of(user))[0];
    if (held) {
      throw userError(
        held.address === address
          ? `The bridge is logged in to ${address} for you already.`
          : `You are logged in to ${held.address}: send \`logout\` first (one logged-in address at a time).`,
      );
    }
    const other = await this.o.store.byAddress(address);
    if (other) throw userError(`${address} is logged in on this bridge for another Matrix user.`);
    if (this.linking.has(user)) throw userError("A login is under way for you already: wait for its answer.");
    this.linking.add(user);
    const dataDir = loginDataDir(this.o.dataDir, user, address);
    try {
      // No record names this directory: whatever is there is left over from a login that did not finish.
      rmSync(dataDir, { recursive: true, force: true });
      let client: PeopleClient;
      try {
        client = await PeopleClient.link({
          ...this.o.clientOptions(dataDir, this.o.secret.loginStorePassphrase(user, address)),
          address,
          code,
          ...(this.o.linkTimeoutMs !== undefined ? { linkTimeoutMs: this.o.linkTimeoutMs } : {}),
        });
      } catch (err) {
        rmSync(dataDir, { recursive: true, force: true });
        throw linkFailure(address, err);
      }
      try {
        if (!(await this.o.store.put({ matrixUser: user, address, createdAt: this.now() }))) {
          throw userError(`${address} is logged in on this bridge for another Matrix user.`);
        }
        const account = await this.startClient(user, client);
        this.o.log.info({ user, address, device: client.device }, "logged in to a People address");
        return account;
      } catch (err) {
        await client.close().catch(() => undefined);
        throw err;
      }
    } finally {
      this.linking.delete(user);
    }
  }

  /**
   * Revokes the bridge's device of the user's login, stops it, forgets it and erases its keys.
   * Resolves with the address and the device that was revoked.
   */
  async logout(user: MatrixUserId): Promise<{ address: PeopleAddress; device: string }> {
    const record = (await this.o.store.of(user))[0];
    if (!record) throw userError("You are not logged in to any People address here (`login` does that).");
    const address = record.address as PeopleAddress;
    const account = await this.openStored(user, address);
    const device = account.client.device;
    try {
      await account.client.leaveAccount();
    } catch (err) {
      if (isPeopleError(err, "PEOPLE_CHAIN_INVALID")) {
        await account.client.start();
        throw userError(
          `The bridge is the only device of ${address}: it cannot leave before another device joins.`,
          "self-revocation refused",
          { cause: err },
        );
      }
      await account.client.start();
      throw userError(
        `The People server of ${address} could not be told the bridge's device is revoked; try again later.`,
        "self-revocation failed",
        { cause: err },
      );
    }
    this.open.delete(address);
    await account.client.close().catch(() => undefined);
    await this.o.store.remove(address);
    rmSync(loginDataDir(this.o.dataDir, user, address), { recursive: true, force: true });
    this.o.log.info(
      { user, address, device },
      "logged out of a People address: the bridge's device is revoked",
    );
    return { address, device };
  }

  /** Starts every recorded login; one failing does not stop the others. */
  async startAll(): Promise<void> {
    for (const record of await this.o.store.list()) {
      if (this.closed) return;
      try {
        await this.openStored(record.matrixUser as MatrixUserId, record.address as PeopleAddress);
      } catch (err) {
        this.o.log.error({ err, user: record.matrixUser }, "could not start a logged-in People address");
      }
    }
    this.loaded = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    const open = [...this.open.values()];
    this.open.clear();
    await Promise.all(open.map((a) => a.client.close().catch(() => undefined)));
  }

  private async openStored(user: MatrixUserId, address: PeopleAddress): Promise<ClientAccount> {
    const ready = this.open.get(address);
    if (ready) return ready;
    const dataDir = loginDataDir(this.o.dataDir, user, address);
    if (!existsSync(dataDir)) throw new PeopleError("PEOPLE_NOT_FOUND", "a login's store is missing");
    const client = await PeopleClient.open(
      this.o.clientOptions(dataDir, this.o.secret.loginStorePassphrase(user, address)),
    );
    try {
      return await this.startClient(user, client);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  private async startClient(user: MatrixUserId, client: PeopleClient): Promise<ClientAccount> {
    const account = new ClientAccount(user, client, this.o.secret);
    this.o.attach(account);
    await client.start();
    if (this.closed) throw new PeopleError("PEOPLE_UNAVAILABLE", "the bridge is stopping");
    this.open.set(client.address, account);
    return account;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}

/** What the user hears when linking failed (the detail goes to the log). */
function linkFailure(address: PeopleAddress, err: unknown): unknown {
  if (!(err instanceof PeopleError)) return err;
  const text: Record<string, string> = {
    PEOPLE_BAD_REQUEST: "That is not a valid link code.",
    PEOPLE_UNKNOWN_RECIPIENT: `${address} has no People account.`,
    PEOPLE_NO_SERVER: `${address} has no People server.`,
    PEOPLE_EXPIRED: `${address} has no device that could let the bridge in.`,
  };
  return userError(
    text[err.code] ??
      `Linking to ${address} did not finish: ${err.publicText} Run \`people link-code\` again and send the new code.`,
    `linking failed: ${err.code}`,
    { cause: err },
  );
}
