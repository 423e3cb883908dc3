// Other servers' keys: a domain's identity key is pinned on first use (the one
// key a client takes on the strength of TLS, PROTOCOL §7), its envelope keys
// are verified against it and saved, so mail can still be sealed while the
// server is unreachable. A changed identity key is reported and refused until
// the user accepts it; it is never taken silently.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import { b64uKey32 } from "../protocol/signed-json.js";
import {
  currentEnvelopeKey,
  verifyEnvelopeKey,
  type EnvelopeKeyWire,
  type ServerEnvelopeKey,
} from "../protocol/server-keys.js";
import type { Discovery } from "../net/discovery.js";
import type { ClientEvents } from "./events.js";
import type { ClientStore, ServerRecord } from "./local-store.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { isTransient } from "../transient.js";

/** The descriptor may be cached this long (the server says max-age=300). */
export const SERVER_MAX_AGE_MS = 5 * 60 * 1000;

const descriptorSchema = z.object({
  v: z.literal(1),
  domain: z.string().max(253),
  identity_key: b64uKey32,
  envelope_keys: z.array(z.unknown()).max(64),
  /** The onion service of a clearnet server: Discovery checks it (onionUrlOf); a bad one is ignored, not the descriptor. */
  onion: z.unknown().optional(),
});

export interface ServerKeys {
  domain: string;
  identityKey: Ed25519PublicKey;
  /** The newest valid envelope key: what the outer layer is sealed to. */
  envelopeKey: ServerEnvelopeKey;
  /** Taken from the saved copy because the server could not be reached. */
  stale: boolean;
}

export class ServerDirectory {
  private readonly lock = new KeyedLock();

  constructor(
    private readonly o: {
      store: ClientStore;
      http: Pick<HttpsClient, "json">;
      discovery: Discovery;
      events: ClientEvents;
      now: () => number;
      maxAgeMs?: number;
    },
  ) {}

  keys(domain: string, maxAgeMs = this.o.maxAgeMs ?? SERVER_MAX_AGE_MS): Promise<ServerKeys> {
    return this.lock.run(domain, async () => {
      const now = this.o.now();
      const saved = await this.o.store.getServer(domain);
      if (saved?.pendingIdentityKey) throw changed(domain);
      if (saved && now - saved.fetchedAt < maxAgeMs) return this.fromRecord(saved, false);
      let descriptor: z.infer<typeof descriptorSchema>;
      try {
        descriptor = await this.fetch(domain);
      } catch (e) {
        if (saved && isTransient(e)) return this.fromRecord(saved, true);
        throw e;
      }
      if (saved && saved.identityKey !== descriptor.identity_key) {
        await this.o.store.putServer({ ...saved, pendingIdentityKey: descriptor.identity_key });
        this.o.events.emit("keyChange", {
          kind: "server",
          subject: domain,
          code: "PEOPLE_CHAIN_FORK",
          detail: "the server's identity key differs from the pinned one",
          at: now,
        });
        throw changed(domain);
      }
      const identityKey = Ed25519PublicKey.fromB64u(descriptor.identity_key);
      // A certificate that does not verify is ignored; the others still serve.
      const wires: EnvelopeKeyWire[] = [];
      for (const k of descriptor.envelope_keys) {
        try {
          wires.push(verifyEnvelopeKey(k, identityKey, domain).wire);
        } catch {
          continue;
        }
      }
      const record: ServerRecord = {
        domain,
        identityKey: descriptor.identity_key,
        envelopeKeys: wires,
        fetchedAt: now,
        pendingIdentityKey: null,
      };
      const keys = this.fromRecord(record, false);
      await this.o.store.putServer(record);
      return keys;
    });
  }

  /** Ask the server again before the next use (it refused a key it should know, or a contact there changed). */
  invalidate(domain: string): Promise<void> {
    return this.lock.run(domain, async () => {
      const saved = await this.o.store.getServer(domain);
      if (saved && saved.fetchedAt !== 0) await this.o.store.putServer({ ...saved, fetchedAt: 0 });
    });
  }

  /** The user accepts a changed server identity key: it becomes the pin. */
  accept(domain: string): Promise<void> {
    return this.lock.run(domain, async () => {
      const saved = await this.o.store.getServer(domain);
      if (!saved?.pendingIdentityKey) return;
      await this.o.store.putServer({
        ...saved,
        identityKey: saved.pendingIdentityKey,
        envelopeKeys: [],
        fetchedAt: 0,
        pendingIdentityKey: null,
      });
    });
  }

  private async fetch(domain: string): Promise<z.infer<typeof descriptorSchema>> {
    const url = await this.o.discovery.resolve(domain);
    const parsed = descriptorSchema.safeParse(await this.o.http.json("GET", `${url}/_people/v1/server`));
    if (!parsed.success || parsed.data.domain !== domain) {
      throw new PeopleError("PEOPLE_BAD_KEY", `the server descriptor of ${domain} is malformed`);
    }
    this.o.discovery.learnOnion(domain, parsed.data.onion);
    return parsed.data;
  }

  private fromRecord(record: ServerRecord, stale: boolean): ServerKeys {
    const identityKey = Ed25519PublicKey.fromB64u(record.identityKey);
    const keys = record.envelopeKeys.map((w) => verifyEnvelopeKey(w, identityKey, record.domain));
    return {
      domain: record.domain,
      identityKey,
      envelopeKey: currentEnvelopeKey(keys, this.o.now()),
      stale,
    };
  }
}

function changed(domain: string): PeopleError {
  return new PeopleError("PEOPLE_CHAIN_FORK", `server key of ${domain} changed`, {
    publicText: `The identity key of the server for ${domain} changed. Accept it only if you know why.`,
  });
}
