// The server's own keys: its Ed25519 identity key (made once, kept forever)
// and rotating X25519 envelope keys, persisted in the store. Senders seal to
// the newest key; older keys stay until every envelope sealed to them has expired.
import { b64u, fromB64u } from "../protocol/bytes.js";
import { MAX_CLOCK_SKEW_MS, MAX_TTL_MS } from "../protocol/envelope.js";
import { Ed25519KeyPair, X25519KeyPair } from "../protocol/keys.js";
import { ServerIdentity, verifyEnvelopeKey, type EnvelopePrivateKey } from "../protocol/server-keys.js";
import type { ServerKeyRecord, ServerKeyStore } from "../../store/types.js";

export interface ServerDescriptor {
  v: 1;
  domain: string;
  identity_key: string;
  envelope_keys: { body: string; sig: string }[];
  software: { name: string; version: string };
}

/** Another process's new key is looked for at most this often (unknown key ids cost one read each). */
const RELOAD_INTERVAL_MS = 1_000;

export class KeyService {
  private envelopeKeys: EnvelopePrivateKey[] = [];
  private lastReload = 0;

  private constructor(
    readonly identity: ServerIdentity,
    private readonly store: ServerKeyStore,
    private readonly rotationMs: number,
    private readonly version: string,
  ) {}

  static async load(o: {
    domain: string;
    store: ServerKeyStore;
    rotationMs: number;
    now: number;
    version: string;
  }): Promise<KeyService> {
    let records = await o.store.all();
    let identityRecord = records.find((r) => r.kind === "identity");
    if (!identityRecord) {
      const key = Ed25519KeyPair.generate();
      identityRecord = {
        kind: "identity",
        keyId: "identity",
        secret: b64u(key.exportSeed()),
        certJson: null,
        notBefore: o.now,
        notAfter: Number.MAX_SAFE_INTEGER,
      };
      // Another process of the domain may make one at the same moment: the first stored wins.
      await o.store.add(identityRecord);
      records = await o.store.all();
      identityRecord = records.find((r) => r.kind === "identity");
      if (!identityRecord) throw new Error("server identity key vanished");
    }
    const identity = new ServerIdentity(
      o.domain,
      Ed25519KeyPair.fromSeed(secretBytes(identityRecord.secret)),
    );
    const service = new KeyService(identity, o.store, o.rotationMs, o.version);
    service.adopt(records);
    await service.rotateIfDue(o.now);
    return service;
  }

  /** Take the envelope keys as stored (made or dropped by any process of the domain). */
  private adopt(records: readonly ServerKeyRecord[]): void {
    const known = new Map(this.envelopeKeys.map((k) => [k.cert.keyId.toString("hex"), k]));
    const next: EnvelopePrivateKey[] = [];
    for (const r of records.filter((x) => x.kind === "envelope")) {
      const have = known.get(r.keyId);
      if (have) {
        next.push(have);
        known.delete(r.keyId);
        continue;
      }
      const cert = verifyEnvelopeKey(
        JSON.parse(r.certJson ?? "null"),
        this.identity.identityKey.publicKey,
        this.identity.domain,
      );
      next.push({ key: X25519KeyPair.fromSecret(secretBytes(r.secret)), cert });
    }
    for (const gone of known.values()) gone.key.erase();
    this.envelopeKeys = next;
  }

  /**
   * Read the stored keys again (another process may have rotated); at most once a second.
   * True when it did read.
   */
  async reload(now: number): Promise<boolean> {
    if (now - this.lastReload < RELOAD_INTERVAL_MS) return false;
    this.lastReload = now;
    this.adopt(await this.store.all());
    return true;
  }

  /** Make a new envelope key when the newest is older than the rotation period; drop keys nothing can use. */
  async rotateIfDue(now: number): Promise<boolean> {
    // What the other processes of the domain did since: rotate only if none of them has.
    this.adopt(await this.store.all());
    const keepUntil = (k: EnvelopePrivateKey) => k.cert.notAfter + MAX_TTL_MS + MAX_CLOCK_SKEW_MS;
    for (const old of this.envelopeKeys.filter((k) => keepUntil(k) <= now)) {
      await this.store.delete(old.cert.keyId.toString("hex"));
      old.key.erase();
    }
    this.envelopeKeys = this.envelopeKeys.filter((k) => keepUntil(k) > now);
    const newest = this.newest();
    if (newest && now < newest.cert.notBefore + this.rotationMs) return false;
    const key = X25519KeyPair.generate();
    const issued = this.identity.issueEnvelopeKey(key, now, now + 2 * this.rotationMs);
    await this.store.put({
      kind: "envelope",
      keyId: issued.cert.keyId.toString("hex"),
      secret: b64u(key.exportSecret()),
      certJson: JSON.stringify(issued.cert.wire),
      notBefore: issued.cert.notBefore,
      notAfter: issued.cert.notAfter,
    });
    this.envelopeKeys.push(issued);
    return true;
  }

  private newest(): EnvelopePrivateKey | undefined {
    return [...this.envelopeKeys].sort((a, b) => b.cert.notBefore - a.cert.notBefore)[0];
  }

  /** The private envelope key an outer envelope names, if this server still has it. */
  envelopeKey(keyId: Buffer): X25519KeyPair | undefined {
    return this.envelopeKeys.find((k) => k.cert.keyId.equals(keyId))?.key;
  }

  descriptor(now: number): ServerDescriptor {
    return {
      v: 1,
      domain: this.identity.domain,
      identity_key: this.identity.identityKey.publicKey.toB64u(),
      // Newest first; keys past their validity are no longer offered to senders.
      envelope_keys: [...this.envelopeKeys]
        .filter((k) => k.cert.notAfter > now)
        .sort((a, b) => b.cert.notBefore - a.cert.notBefore)
        .map((k) => k.cert.wire),
      software: { name: "matrix-appservice-people", version: this.version },
    };
  }
}

function secretBytes(text: string): Buffer {
  const b = fromB64u(text);
  if (!b || b.length !== 32) throw new Error("stored server key is malformed");
  return b;
}
