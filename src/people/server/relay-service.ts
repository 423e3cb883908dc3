// Realtime frames between servers (PROTOCOL §16.11, §17.4): a `relay` frame for a
// device on another domain is POSTed to that domain's server at
// /_people/v1/relay, signed by this server's identity key under the label
// "server-relay" over the exact body bytes. The receiving side checks the
// signature against the origin's identity key, pinned in memory on first use
// (fetched from its descriptor, kept for PIN_TTL_MS), and the LiveHub delivers
// the frame to the target device's sockets. Frame data is opaque and never logged.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { PeopleError, isPeopleError } from "../errors.js";
import { Discovery } from "../net/discovery.js";
import type { TorOptions } from "../net/tor-route.js";
import { HttpsClient, parseJsonResponse } from "../net/https-client.js";
import { addressDomain, isPeopleAddress, type PeopleAddress } from "../protocol/address.js";
import { fromB64u } from "../protocol/bytes.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import { signBytes, verifyBytes } from "../protocol/signing.js";
import { ConfigError } from "./config.js";
import type { KeyService } from "./key-service.js";
import type { Logger } from "./logger.js";
import { RateLimiter } from "./rate-limit.js";

export const RELAY_PATH = "/_people/v1/relay";
export const RELAY_SIGNATURE_HEADER = "x-people-signature";
export const MAX_RELAY_BYTES = 64 * 1024;
/** A relay body: 64 KiB of data in base64url plus addresses and ids. */
export const MAX_RELAY_BODY = Math.ceil((MAX_RELAY_BYTES * 4) / 3) + 4096;
/** How far `ts` may be from the receiver's clock. */
export const RELAY_MAX_SKEW_MS = 5 * 60_000;
/** A remote server's identity key is taken again from its descriptor after this long. */
const PIN_TTL_MS = 6 * 3_600_000;
/** A failed descriptor fetch is not retried for this long (a flood of bad origins costs one fetch each). */
const FETCH_FAILURE_TTL_MS = 30_000;
const MAX_PINS = 10_000;
/** POSTs to other servers in flight at once, over all of them; more wait their turn. */
const MAX_IN_FLIGHT = 64;
/** Sockets kept per remote server by the keep-alive agent. */
const SOCKETS_PER_SERVER = 8;
/** A POST to a server that has this server's identity key pinned: it answers at once. */
export const RELAY_TIMEOUT_MS = 5_000;
/**
 * A POST to a server that may not have our identity key yet: it answers only once it has
 * fetched our descriptor, through Tor when either server is an onion (a fresh circuit, seconds
 * on a busy network). Failing that POST at 5 s would move the session to envelopes for good.
 */
export const FIRST_CONTACT_TIMEOUT_MS = 60_000;
/** An origin's descriptor is fetched once and pinned for hours: worth waiting for (the sender waits longer still). */
const KEY_FETCH_TIMEOUT_MS = 30_000;
/** How long a server that took a frame from us is counted as having our key: well inside its PIN_TTL_MS. */
const KNOWN_TTL_MS = 3_600_000;

export const B64U = /^[A-Za-z0-9_-]*$/;
export const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const relayData = z
  .string()
  .max(Math.ceil((MAX_RELAY_BYTES * 4) / 3), "relay data larger than 64 KiB")
  .regex(B64U, "data is not base64url")
  .refine((s) => s.length % 4 !== 1, "data is not base64url");

const endpoint = z.strictObject({
  address: z.string().max(254).refine(isPeopleAddress, "not a canonical People address"),
  device: z.string().regex(DEVICE_ID, "not a device id"),
});

const relayBody = z.strictObject({
  v: z.literal(1),
  origin: z.string().min(1).max(253),
  from: endpoint,
  to: endpoint,
  session: z.string().regex(SESSION_ID, "not a session id"),
  data: relayData,
  ts: z.number().int().nonnegative(),
});

export interface RelayEndpoint {
  address: string;
  device: string;
}

export interface RelayFrameOut {
  from: RelayEndpoint;
  to: RelayEndpoint;
  session: string;
  data: string;
}

const descriptorSchema = z.object({
  v: z.literal(1),
  domain: z.string().max(253),
  identity_key: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  /** The onion service of a clearnet server: Discovery checks it; a bad one is ignored, not the descriptor. */
  onion: z.unknown().optional(),
});

export class RelayService {
  private readonly http: HttpsClient;
  private readonly discovery: Discovery;
  private readonly pins = new Map<string, { key: Ed25519PublicKey; until: number }>();
  private readonly fetching = new Map<string, Promise<Ed25519PublicKey>>();
  private readonly fetchFailed = new Map<string, number>();
  /** Domains that took a frame from us lately, so have our key pinned: until when. */
  private readonly knownTo = new Map<string, number>();
  private readonly perOrigin: RateLimiter;
  private readonly perIp: RateLimiter;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly o: {
      domain: string;
      keys: KeyService;
      log: Logger;
      pins?: Record<string, string>;
      /** Extra PEM CA certificates trusted for other servers (with the system roots). */
      ca?: string[];
      /** Tor's SOCKS5 proxy for .onion servers (and, with `all`, for every server). */
      tor?: TorOptions;
      /** Frames accepted per minute from one origin server (and from one IP address). */
      perMinute?: number;
      now?: () => number;
    },
  ) {
    this.http = new HttpsClient({
      ca: o.ca,
      timeoutMs: RELAY_TIMEOUT_MS,
      maxResponseBytes: 64 * 1024,
      maxSockets: SOCKETS_PER_SERVER,
      ...(o.tor ? { tor: o.tor } : {}),
    });
    this.discovery = new Discovery({
      pins: o.pins ?? {},
      http: this.http,
      ...(o.tor?.all ? { localDns: false } : {}),
      ...(o.tor ? { preferOnion: true } : {}),
    });
    this.perOrigin = new RateLimiter(o.perMinute ?? 60_000);
    this.perIp = new RateLimiter(o.perMinute ?? 60_000);
  }

  /** Read `ca_files` from the server config. */
  static readCaFiles(files: readonly string[]): string[] {
    return files.map((f, i) => {
      try {
        return readFileSync(f, "utf8");
      } catch (cause) {
        throw new ConfigError(`discovery.ca_files.${i}`, `cannot read ${f}: ${(cause as Error).message}`);
      }
    });
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  // --- sending ------------------------------------------------------------

  /** POST one frame to the server of `frame.to`; resolves when it was delivered there, else throws. */
  async forward(frame: RelayFrameOut): Promise<void> {
    const domain = addressDomain(frame.to.address as PeopleAddress);
    await this.acquire();
    try {
      const body = Buffer.from(
        JSON.stringify({
          v: 1,
          origin: this.o.domain,
          from: { address: frame.from.address, device: frame.from.device },
          to: { address: frame.to.address, device: frame.to.device },
          session: frame.session,
          data: frame.data,
          ts: this.now(),
        }),
        "utf8",
      );
      const signature = signBytes(this.o.keys.identity.identityKey, "server-relay", body).toString(
        "base64url",
      );
      const url = `${await this.discovery.resolve(domain)}${RELAY_PATH}`;
      const known = (this.knownTo.get(domain) ?? 0) > this.now();
      let res;
      try {
        res = await this.http.send("POST", url, {
          headers: { "content-type": "application/json", [RELAY_SIGNATURE_HEADER]: signature },
          body,
          timeoutMs: known ? RELAY_TIMEOUT_MS : FIRST_CONTACT_TIMEOUT_MS,
        });
      } catch (err) {
        this.discovery.forget(domain);
        this.knownTo.delete(domain);
        throw err;
      }
      parseJsonResponse(res, url);
      if (!known) {
        if (this.knownTo.size >= MAX_PINS) this.knownTo.clear();
        this.knownTo.set(domain, this.now() + KNOWN_TTL_MS);
      }
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }

  // --- receiving ----------------------------------------------------------

  /**
   * Check a relay request: its shape, its addresses, its time, its origin's
   * signature over `raw`. Returns the frame for the LiveHub; throws a PeopleError.
   */
  async receive(
    raw: Buffer,
    signatureHeader: string | undefined,
    ip: string,
  ): Promise<{ from: RelayEndpoint; to: RelayEndpoint; session: string; data: string }> {
    const now = this.now();
    this.perIp.hit(ip, now);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new PeopleError("PEOPLE_BAD_JSON", "body is not JSON");
    }
    const parsed = relayBody.safeParse(json);
    if (!parsed.success)
      throw new PeopleError("PEOPLE_BAD_JSON", z.prettifyError(parsed.error).slice(0, 300));
    const m = parsed.data;
    const origin = m.origin.toLowerCase();
    if (origin !== m.origin || origin === this.o.domain) {
      throw new PeopleError("PEOPLE_FORBIDDEN", "origin is not another server's domain");
    }
    if (addressDomain(m.from.address as PeopleAddress) !== origin) {
      throw new PeopleError("PEOPLE_FORBIDDEN", "the sender is not on the origin's domain");
    }
    if (addressDomain(m.to.address as PeopleAddress) !== this.o.domain) {
      throw new PeopleError("PEOPLE_WRONG_RECIPIENT", "the recipient is not on this server");
    }
    if (m.ts > now + RELAY_MAX_SKEW_MS) throw new PeopleError("PEOPLE_NOT_YET_VALID", "ts is in the future");
    if (m.ts < now - RELAY_MAX_SKEW_MS) throw new PeopleError("PEOPLE_EXPIRED", "ts is too old");
    const signature = signatureHeader === undefined ? null : fromB64u(signatureHeader);
    if (!signature || signature.length !== 64) {
      throw new PeopleError("PEOPLE_BAD_SIGNATURE", "missing or malformed X-People-Signature");
    }
    const key = await this.originKey(origin, now);
    if (!verifyBytes(key, "server-relay", raw, signature)) {
      throw new PeopleError("PEOPLE_BAD_SIGNATURE", "relay signature does not verify");
    }
    // Counted once the origin is proven, so forged requests cannot use up a real origin's budget.
    this.perOrigin.hit(origin, now);
    return { from: m.from, to: m.to, session: m.session, data: m.data };
  }

  /** The origin's identity key: pinned on first use, taken again from its descriptor after PIN_TTL_MS. */
  private originKey(origin: string, now: number): Promise<Ed25519PublicKey> {
    const pin = this.pins.get(origin);
    if (pin && pin.until > now) return Promise.resolve(pin.key);
    const failedAt = this.fetchFailed.get(origin);
    if (failedAt !== undefined && now - failedAt < FETCH_FAILURE_TTL_MS) {
      return Promise.reject(new PeopleError("PEOPLE_UNAVAILABLE", "the origin server's key is unavailable"));
    }
    let p = this.fetching.get(origin);
    if (!p) {
      p = this.fetchKey(origin).then(
        (key) => {
          this.fetching.delete(origin);
          this.fetchFailed.delete(origin);
          if (this.pins.size >= MAX_PINS) this.pins.clear();
          this.pins.set(origin, { key, until: this.now() + PIN_TTL_MS });
          return key;
        },
        (err: unknown) => {
          this.fetching.delete(origin);
          if (this.fetchFailed.size >= MAX_PINS) this.fetchFailed.clear();
          this.fetchFailed.set(origin, this.now());
          this.o.log.info(
            { origin, errcode: isPeopleError(err) ? err.code : undefined },
            "relay: origin key fetch failed",
          );
          throw new PeopleError("PEOPLE_UNAVAILABLE", "the origin server's key is unavailable");
        },
      );
      this.fetching.set(origin, p);
    }
    return p;
  }

  private async fetchKey(origin: string): Promise<Ed25519PublicKey> {
    const url = `${await this.discovery.resolve(origin)}/_people/v1/server`;
    const res = await this.http.send("GET", url, { timeoutMs: KEY_FETCH_TIMEOUT_MS });
    const parsed = descriptorSchema.safeParse(parseJsonResponse(res, url));
    if (!parsed.success || parsed.data.domain !== origin) {
      throw new PeopleError("PEOPLE_BAD_KEY", "the origin's descriptor is malformed");
    }
    this.discovery.learnOnion(origin, parsed.data.onion);
    return Ed25519PublicKey.fromB64u(parsed.data.identity_key);
  }

  close(): void {
    this.http.close();
  }
}
