// Logging a device in to its own server (PROTOCOL §16.6): a one-time
// challenge signed with the device's current signing key buys a bearer token,
// cached in memory until shortly before it expires.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { addressDomain } from "../protocol/address.js";
import type { DeviceIdentity } from "../protocol/device-identity.js";
import { signBytes } from "../protocol/signing.js";
import { parseAnswer } from "./answers.js";

const challengeAnswer = z.object({ challenge: z.string().max(64) });
const tokenAnswer = z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{43}$/), expires_at: z.number() });
/** Renew this long before the server's expiry, so a request never carries a token about to lapse. */
const MARGIN_MS = 60_000;

/** The bytes the server expects signed with label "auth-challenge" (PROTOCOL §16.6). */
export function challengeBytes(domain: string, address: string, device: string, challenge: string): Buffer {
  return Buffer.from(`${domain}\n${address}\n${device}\n${challenge}`, "utf8");
}

export class Session {
  private cached: { token: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly o: {
      http: Pick<HttpsClient, "json">;
      serverUrl: () => Promise<string>;
      identity: () => DeviceIdentity;
      now: () => number;
    },
  ) {}

  async token(): Promise<string> {
    if (this.cached && this.cached.expiresAt - MARGIN_MS > this.o.now()) return this.cached.token;
    this.pending ??= this.login().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forget the token (the server refused it). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** An authenticated JSON request; a refused token is renewed once. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = await this.o.serverUrl();
    for (let attempt = 0; ; attempt++) {
      const token = await this.token();
      try {
        return await this.o.http.json<T>(method, `${url}${path}`, body, { authorization: `Bearer ${token}` });
      } catch (e) {
        if (attempt > 0 || !(e instanceof PeopleError) || e.code !== "PEOPLE_UNAUTHORIZED") throw e;
        this.invalidate();
      }
    }
  }

  private async login(): Promise<string> {
    const identity = this.o.identity();
    const url = await this.o.serverUrl();
    const who = { address: identity.address, device: identity.device };
    const c = parseAnswer(
      challengeAnswer,
      await this.o.http.json("POST", `${url}/_people/v1/auth/challenge`, who),
      "auth challenge",
    );
    const signature = signBytes(
      identity.signingKey,
      "auth-challenge",
      challengeBytes(addressDomain(identity.address), identity.address, identity.device, c.challenge),
    ).toString("base64url");
    const t = parseAnswer(
      tokenAnswer,
      await this.o.http.json("POST", `${url}/_people/v1/auth/token`, {
        ...who,
        challenge: c.challenge,
        signature,
      }),
      "auth token",
    );
    this.cached = { token: t.token, expiresAt: t.expires_at };
    return t.token;
  }
}
