// Sealed-mail ingest, open to anyone (sealed sender: there is no sender to
// authenticate). Open the outer layer, check recipient, expiry, rate limits and
// quota, route the inner envelope to the devices whose wraps it carries, store
// it durably (group commit), and only then answer and push it live.
import { PeopleError } from "../errors.js";
import { addressDomain } from "../protocol/address.js";
import { openOuter, parseInnerFrame } from "../protocol/envelope.js";
import type { PeopleStore, StoredEnvelope } from "../../store/types.js";
import type { KeyService } from "./key-service.js";
import type { ServerMetrics } from "./metrics.js";
import { RateLimiter } from "./rate-limit.js";
import type { Limiter } from "./shared-rate-limit.js";

/** Told about each stored envelope, after the write is durable (the live WebSocket hub). */
export interface EnvelopeListener {
  envelopeStored(address: string, devices: readonly string[], envelope: StoredEnvelope): void;
}

export interface IngestLimits {
  perMinutePerIp: number;
  perMinutePerRecipient: number;
  /** Limiters shared by the processes of a domain (SharedRateLimiter); default: counted in this process. */
  shared?: { byIp: Limiter; byRecipient: Limiter };
}

export class IngestService {
  private readonly byIp: Limiter;
  private readonly byRecipient: Limiter;
  private readonly listeners: EnvelopeListener[] = [];

  constructor(
    private readonly domain: string,
    private readonly store: PeopleStore,
    private readonly keys: KeyService,
    private readonly metrics: ServerMetrics,
    limits: IngestLimits,
  ) {
    this.byIp = limits.shared?.byIp ?? new RateLimiter(limits.perMinutePerIp);
    this.byRecipient = limits.shared?.byRecipient ?? new RateLimiter(limits.perMinutePerRecipient);
  }

  private movedCheck: ((address: string, now: number) => Promise<void>) | undefined;

  /** Mail for an account that moved away is refused with its notice (move-service.ts). */
  refuseMoved(check: (address: string, now: number) => Promise<void>): void {
    this.movedCheck = check;
  }

  onStored(listener: EnvelopeListener): void {
    this.listeners.push(listener);
  }

  // Wrap key ids resolve to devices through a small cache: a database read per
  // envelope would queue behind the group commit's transaction on SQLite's one
  // connection and shrink every batch to a single envelope. Entries are dropped
  // when the account's devices change here, and live at most a minute (another
  // server process sharing a PostgreSQL database may have changed them).
  private readonly routes = new Map<string, { devices: string[]; until: number }>();

  /** Forget cached routing for an account (its device list changed). */
  devicesChanged(address: string): void {
    for (const key of this.routes.keys()) if (key.startsWith(`${address}\n`)) this.routes.delete(key);
  }

  private async devicesFor(address: string, keyIds: string[], now: number): Promise<string[]> {
    const key = `${address}\n${[...new Set(keyIds)].sort().join(",")}`;
    const hit = this.routes.get(key);
    if (hit && hit.until > now) return hit.devices;
    const devices = await this.store.accounts.devicesForKeyIds(address, [...new Set(keyIds)]);
    if (this.routes.size >= 100_000) this.routes.clear();
    if (devices.length > 0) this.routes.set(key, { devices, until: now + 60_000 });
    return devices;
  }

  /**
   * Open the outer layer; a key id this process does not know may be one that another process
   * of the domain made since (key rotation): read the keys again once, then decide.
   */
  private async open(outer: Buffer, now: number): Promise<ReturnType<typeof openOuter>> {
    try {
      return openOuter(outer, (id) => this.keys.envelopeKey(id), now);
    } catch (err) {
      if (!(err instanceof PeopleError && err.code === "PEOPLE_UNKNOWN_KEY")) throw err;
      if (!(await this.keys.reload(now))) throw err;
      return openOuter(outer, (id) => this.keys.envelopeKey(id), now);
    }
  }

  async ingest(
    outer: Buffer,
    sourceIp: string,
    now: number,
  ): Promise<{ status: "stored" | "duplicate"; envelopeId: string }> {
    const started = process.hrtime.bigint();
    try {
      await this.byIp.hit(sourceIp, now);
      const opened = await this.open(outer, now);
      if (addressDomain(opened.recipient) !== this.domain) {
        throw new PeopleError("PEOPLE_WRONG_RECIPIENT", "recipient is not on this server");
      }
      await this.byRecipient.hit(opened.recipient, now);
      await this.movedCheck?.(opened.recipient, now);
      const keyIds = parseInnerFrame(opened.inner).wraps.map((w) => w.keyId.toString("hex"));
      const devices = await this.devicesFor(opened.recipient, keyIds, now);
      if (devices.length === 0) {
        // Unknown account, or sealed to no key of it: both look the same from outside.
        throw new PeopleError("PEOPLE_UNKNOWN_RECIPIENT", "no device of this account can open the envelope");
      }
      const row = {
        envelopeId: opened.envelopeId,
        recipient: opened.recipient,
        inner: Buffer.from(opened.inner),
        expiresAt: opened.expiry,
        receivedAt: now,
        devices,
      };
      const result = await this.store.mailbox.ingest(row);
      if (result.status === "over_quota") throw new PeopleError("PEOPLE_QUOTA_EXCEEDED", "mailbox full");
      if (result.status === "duplicate") {
        this.metrics.envelopesDuplicate.inc();
        return { status: "duplicate", envelopeId: opened.envelopeId };
      }
      this.metrics.envelopesAccepted.inc();
      this.metrics.ingestSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const stored: StoredEnvelope = { seq: result.seq, ...row };
      for (const l of this.listeners) l.envelopeStored(opened.recipient, devices, stored);
      return { status: "stored", envelopeId: opened.envelopeId };
    } catch (err) {
      this.metrics.envelopesRejected.inc({
        errcode: err instanceof PeopleError ? err.code : "PEOPLE_INTERNAL",
      });
      throw err;
    }
  }
}
