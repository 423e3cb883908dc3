// The own account as this device holds it: the account key (every device that
// rotates holds it, PROTOCOL §6.3), this device's identity, and publishing the
// account-signed device list (registration, rotation, linking, revocation).
// Secrets are persisted before anything is published, so a crash can leave
// the server behind the device (fixed by publishing again), never ahead of it.
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import type { DeviceCert } from "../protocol/device-cert.js";
import { DEFAULT_GRACE_MS, DEFAULT_ROTATION_MS, DeviceIdentity } from "../protocol/device-identity.js";
import { issueDeviceList, type VerifiedAccount } from "../protocol/device-list.js";
import type { DeviceId } from "../protocol/ids.js";
import { Ed25519KeyPair } from "../protocol/keys.js";
import type { MoveNoticeWire } from "../protocol/move-notice.js";
import { fetchDeviceLists, verifyLists, type Directory } from "./directory.js";
import type { ClientStore, DeviceLists } from "./local-store.js";
import { KeyedLock } from "../../shared/keyed-lock.js";

export interface AccountDeps {
  store: ClientStore;
  http: Pick<HttpsClient, "json">;
  /** https://host:port of the own server. */
  serverUrl: () => Promise<string>;
  directory: Directory;
  now: () => number;
}

export interface DeviceInfo {
  device: DeviceId;
  /** This device. */
  self: boolean;
  seq: number;
  notBefore: number;
  notAfter: number;
  revokedAt: number | null;
}

export interface DeviceChange {
  /** Whole chains (from seq 0) of devices to list: new devices, or this device after a rotation. */
  upsert?: (readonly DeviceCert[])[];
  revoke?: DeviceId[];
}

const PUBLISH_ATTEMPTS = 5;

export interface MoveState {
  moving?: { identity: DeviceIdentity; notice: MoveNoticeWire };
  movedFrom: string[];
}

export class Account {
  private readonly lock = new KeyedLock();

  private constructor(
    private readonly deps: AccountDeps,
    readonly accountKey: Ed25519KeyPair,
    private current: DeviceIdentity,
    private publishPending: boolean,
    private moves: MoveState = { movedFrom: [] },
  ) {}

  /** A move staged but not finished (client-moves.ts), and the addresses this account left. */
  get moveState(): Readonly<MoveState> {
    return this.moves;
  }

  /** Persist the identity at the new address and the signed notice before anything is published. */
  async stageMove(identity: DeviceIdentity, notice: MoveNoticeWire): Promise<void> {
    this.moves = { ...this.moves, moving: { identity, notice } };
    await this.persist();
  }

  /** Become the device at the new address (its list is published there already). */
  async commitMove(): Promise<void> {
    const moving = this.moves.moving;
    if (!moving) throw new PeopleError("PEOPLE_BAD_REQUEST", "no move in progress");
    this.moves = { movedFrom: [...this.moves.movedFrom, this.current.address] };
    this.current = moving.identity;
    this.publishPending = false;
    await this.persist();
  }

  get address(): PeopleAddress {
    return this.current.address;
  }

  get device(): DeviceId {
    return this.current.device;
  }

  get identity(): DeviceIdentity {
    return this.current;
  }

  /** A new account: account key and first device, persisted, then registered with the own server. */
  static async create(
    deps: AccountDeps,
    o: { address: string; invite?: string; certLifetimeMs?: number },
  ): Promise<Account> {
    if (await deps.store.loadIdentity())
      throw new PeopleError("PEOPLE_FORBIDDEN", "this store already holds an account");
    const address = parseAddress(o.address);
    const accountKey = Ed25519KeyPair.generate();
    const now = deps.now();
    const identity = DeviceIdentity.create({
      address,
      accountKey,
      now,
      ...(o.certLifetimeMs ? { certLifetimeMs: o.certLifetimeMs } : {}),
    });
    const account = new Account(deps, accountKey, identity, false);
    await account.persist();
    const list = issueDeviceList({
      address,
      accountKey,
      version: 1,
      issuedAt: now,
      heads: [identity.head],
      revoked: [],
    });
    const lists: DeviceLists = {
      list: list.wire,
      chains: { [identity.device]: identity.chain.map((c) => c.wire) },
    };
    try {
      await deps.http.json("POST", `${await deps.serverUrl()}/_people/v1/accounts`, {
        address,
        ...(o.invite ? { invite: o.invite } : {}),
        device_list: lists.list,
        chains: lists.chains,
      });
    } catch (e) {
      // Not registered: keep no identity that nobody will ever accept.
      await deps.store.deleteIdentity();
      throw e;
    }
    await deps.directory.pinKnown(address, lists, accountKey.publicKey);
    return account;
  }

  /** Adopt secrets obtained by linking (link.ts), then persist them. */
  static async adopt(
    deps: AccountDeps,
    accountKey: Ed25519KeyPair,
    identity: DeviceIdentity,
  ): Promise<Account> {
    const account = new Account(deps, accountKey, identity, false);
    await account.persist();
    return account;
  }

  static async load(deps: AccountDeps): Promise<Account | undefined> {
    const stored = await deps.store.loadIdentity();
    if (!stored) return undefined;
    if (stored.exportedAt !== undefined)
      throw new PeopleError("PEOPLE_FORBIDDEN", "this device was exported to an archive", {
        publicText: "This device was exported (people export); it runs only where the archive is imported.",
      });
    const seed = fromB64u(stored.accountSeed);
    if (!seed || seed.length !== 32)
      throw new PeopleError("PEOPLE_BAD_KEY", "stored account key is malformed");
    return new Account(
      deps,
      Ed25519KeyPair.fromSeed(seed),
      DeviceIdentity.importSecrets(stored.device),
      stored.publishPending,
      {
        movedFrom: stored.movedFrom ?? [],
        ...(stored.moving
          ? {
              moving: {
                identity: DeviceIdentity.importSecrets(stored.moving.device),
                notice: stored.moving.notice,
              },
            }
          : {}),
      },
    );
  }

  async persist(): Promise<void> {
    await this.deps.store.saveIdentity({
      address: this.address,
      device: this.current.exportSecrets(),
      accountSeed: b64u(this.accountKey.exportSeed()),
      publishPending: this.publishPending,
      ...(this.moves.moving
        ? { moving: { device: this.moves.moving.identity.exportSecrets(), notice: this.moves.moving.notice } }
        : {}),
      ...(this.moves.movedFrom.length > 0 ? { movedFrom: this.moves.movedFrom } : {}),
    });
  }

  /** The own list and chains as the server publishes them, verified against the account key. */
  async published(): Promise<{ verified: VerifiedAccount; lists: DeviceLists }> {
    const lists = await fetchDeviceLists(this.deps.http, await this.deps.serverUrl(), this.address);
    const verified = verifyLists(this.address, lists);
    if (!verified.list.accountKey.equals(this.accountKey.publicKey)) {
      throw new PeopleError(
        "PEOPLE_CHAIN_FORK",
        "the own server publishes a list signed by another account key",
      );
    }
    return { verified, lists };
  }

  /** Issue and upload the next device list; a concurrent update by another device is merged by retrying. */
  publish(change: DeviceChange): Promise<void> {
    return this.lock.run("publish", async () => {
      for (let attempt = 1; ; attempt++) {
        const { verified } = await this.published();
        const lists = this.nextLists(verified, change);
        try {
          await this.deps.http.json(
            "PUT",
            `${await this.deps.serverUrl()}/_people/v1/accounts/${encodeURIComponent(this.address)}/devices`,
            { device_list: lists.list, chains: lists.chains },
          );
        } catch (e) {
          // 409: another device published the same version first; read it and try again.
          if (attempt < PUBLISH_ATTEMPTS && e instanceof PeopleError && e.code === "PEOPLE_CHAIN_FORK")
            continue;
          throw e;
        }
        await this.deps.directory.pinKnown(this.address, lists, this.accountKey.publicKey);
        return;
      }
    });
  }

  private nextLists(current: VerifiedAccount, change: DeviceChange): DeviceLists {
    const now = this.deps.now();
    const chains = new Map<DeviceId, readonly DeviceCert[]>();
    for (const [device, chain] of current.chains) chains.set(device, chain.certs);
    for (const chain of change.upsert ?? []) chains.set(chain[0]!.device, chain);
    const revoked = [...current.list.revoked];
    for (const device of change.revoke ?? []) {
      chains.delete(device);
      if (!revoked.some((r) => r.device === device)) revoked.push({ device, at: now });
    }
    const list = issueDeviceList({
      address: this.address,
      accountKey: this.accountKey,
      version: current.list.version + 1,
      issuedAt: now,
      heads: [...chains.values()].map((c) => c[c.length - 1]!),
      revoked,
    });
    return {
      list: list.wire,
      chains: Object.fromEntries([...chains].map(([device, certs]) => [device, certs.map((c) => c.wire)])),
    };
  }

  /** Publish this device's chain if a rotation was persisted but its publication not confirmed. */
  async ensurePublished(): Promise<void> {
    if (!this.publishPending) return;
    await this.publish({ upsert: [this.current.chain] });
    this.publishPending = false;
    await this.persist();
  }

  async devices(): Promise<DeviceInfo[]> {
    const { verified } = await this.published();
    const listed = [...verified.chains.values()].map((c) => ({
      device: c.head.device,
      self: c.head.device === this.device,
      seq: c.head.seq,
      notBefore: c.head.notBefore,
      notAfter: c.head.notAfter,
      revokedAt: null,
    }));
    const revoked = verified.list.revoked.map((r) => ({
      device: r.device,
      self: r.device === this.device,
      seq: -1,
      notBefore: 0,
      notAfter: 0,
      revokedAt: r.at,
    }));
    return [...listed, ...revoked];
  }

  async revokeDevice(device: DeviceId): Promise<void> {
    if (device === this.device)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "revoke this device from another one");
    await this.publish({ revoke: [device] });
  }

  /**
   * This device leaves the account: it holds the account key like every device
   * that rotates (PROTOCOL §6.3), so it signs the next list with itself revoked.
   * The server refuses a list with no device left, so the last device cannot leave.
   */
  async revokeSelf(): Promise<void> {
    await this.publish({ revoke: [this.device] });
  }

  /**
   * Rotate both device keys when due (PROTOCOL §6.3), publish the new head, and
   * erase retired keys past the grace period. The rotation is persisted first.
   */
  async rotateIfDue(
    now: number,
    o: { rotationMs?: number; graceMs?: number; certLifetimeMs?: number } = {},
  ): Promise<{ rotated: boolean; erased: number }> {
    await this.ensurePublished();
    let rotated = false;
    if (this.current.rotationDue(now, o.rotationMs ?? DEFAULT_ROTATION_MS)) {
      this.current.rotate(this.accountKey, now, o.certLifetimeMs);
      this.publishPending = true;
      await this.persist();
      await this.ensurePublished();
      rotated = true;
    }
    const erased = await this.eraseExpiredKeys(now, o.graceMs);
    return { rotated, erased };
  }

  /** Forward secrecy of stored mail: retired keys past the grace period are erased, also from the file. */
  async eraseExpiredKeys(now: number, graceMs = DEFAULT_GRACE_MS): Promise<number> {
    const erased = this.current.eraseExpiredKeys(now, graceMs);
    if (erased > 0) {
      await this.persist();
      await this.deps.store.compact();
    }
    return erased;
  }

  get domain(): string {
    return addressDomain(this.address);
  }
}
