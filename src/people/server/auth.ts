// Device authentication: the server hands out a one-time challenge, the device
// signs it with its current signing key, and gets a short-lived bearer token.
// Only SHA-256 of a token is stored, so a copy of the database grants nothing.
import { createHash, randomBytes } from "node:crypto";
import type { Context, Next } from "koa";
import { PeopleError } from "../errors.js";
import type { PeopleAddress } from "../protocol/address.js";
import { fromB64u } from "../protocol/bytes.js";
import type { DeviceId } from "../protocol/ids.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import { verifyBytes } from "../protocol/signing.js";
import type { PeopleStore } from "../../store/types.js";

const CHALLENGE_TTL_MS = 60_000;
const MAX_OPEN_CHALLENGES = 100_000;

export interface AuthedDevice {
  address: PeopleAddress;
  device: DeviceId;
}

export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The exact bytes a device signs to prove it holds its key (label "auth-challenge"). */
export function challengeBytes(domain: string, address: string, device: string, challenge: string): Buffer {
  return Buffer.from(`${domain}\n${address}\n${device}\n${challenge}`, "utf8");
}

/** Expired challenges are deleted (and the open ones counted) at most this often, by whichever process issues one. */
const PRUNE_INTERVAL_MS = 10_000;

export class AuthService {
  private lastPrune = 0;
  /** Open challenges as of the last prune, plus those issued here since (a bound, not a count). */
  private open = 0;

  constructor(
    private readonly domain: string,
    private readonly store: PeopleStore,
    private readonly tokenLifetimeMs: number,
  ) {}

  private mayRead: ((address: string, now: number) => Promise<boolean>) | undefined;

  /** Devices of an account that moved away sign in only while its old mailbox is forwarded (move-service.ts). */
  refuseMoved(check: (address: string, now: number) => Promise<boolean>): void {
    this.mayRead = check;
  }

  // Challenges live in the store, so a device may ask one process of the domain for a challenge
  // and present it to another (behind a load balancer); consume() lets exactly one use it.
  async issueChallenge(
    address: PeopleAddress,
    device: DeviceId,
    now: number,
  ): Promise<{ challenge: string; expires_at: number }> {
    if (now - this.lastPrune >= PRUNE_INTERVAL_MS || this.open >= MAX_OPEN_CHALLENGES) {
      this.lastPrune = now;
      await this.store.challenges.expire(now);
      this.open = await this.store.challenges.count();
    }
    if (this.open >= MAX_OPEN_CHALLENGES) throw new PeopleError("PEOPLE_RATE_LIMITED", "too many challenges");
    const challenge = randomBytes(32).toString("base64url");
    const expires = now + CHALLENGE_TTL_MS;
    await this.store.challenges.put({ challenge, address, device, expiresAt: expires });
    this.open++;
    return { challenge, expires_at: expires };
  }

  async issueToken(
    o: { address: PeopleAddress; device: DeviceId; challenge: string; signature: string },
    now: number,
  ): Promise<{ token: string; expires_at: number }> {
    // Single use, whatever the outcome.
    const open = await this.store.challenges.consume(o.challenge, now);
    if (!open || open.address !== o.address || open.device !== o.device) {
      throw new PeopleError("PEOPLE_UNAUTHORIZED", "unknown or expired challenge");
    }
    const record = await this.store.accounts.device(o.address, o.device);
    const signature = fromB64u(o.signature);
    if (!record || record.revokedAt !== null || !signature) {
      throw new PeopleError("PEOPLE_UNAUTHORIZED", "unknown device or bad signature");
    }
    const bytes = challengeBytes(this.domain, o.address, o.device, o.challenge);
    if (!verifyBytes(Ed25519PublicKey.fromB64u(record.signKey), "auth-challenge", bytes, signature)) {
      throw new PeopleError("PEOPLE_UNAUTHORIZED", "unknown device or bad signature");
    }
    if (this.mayRead && !(await this.mayRead(o.address, now)))
      throw new PeopleError("PEOPLE_MOVED", "moved, and the forwarding period is over");
    const token = randomBytes(32).toString("base64url");
    const expires = now + this.tokenLifetimeMs;
    await this.store.tokens.put({
      tokenHash: tokenHash(token),
      address: o.address,
      device: o.device,
      expiresAt: expires,
    });
    return { token, expires_at: expires };
  }

  /** The device a bearer token stands for, or PEOPLE_UNAUTHORIZED. */
  async authenticate(header: string | undefined, now: number): Promise<AuthedDevice> {
    const m = header ? /^Bearer ([A-Za-z0-9_-]{43})$/.exec(header) : null;
    if (!m) throw new PeopleError("PEOPLE_UNAUTHORIZED", "missing bearer token");
    // Looked up by hash: the comparison is against a digest the caller cannot choose.
    const record = await this.store.tokens.get(tokenHash(m[1]!), now);
    if (!record) throw new PeopleError("PEOPLE_UNAUTHORIZED", "invalid or expired token");
    return { address: record.address as PeopleAddress, device: record.device as DeviceId };
  }

  middleware() {
    return async (ctx: Context, next: Next): Promise<void> => {
      ctx.state.device = await this.authenticate(ctx.get("authorization") || undefined, Date.now());
      await next();
    };
  }
}
