// A device's own secrets: its current signing and encryption keys, and the
// retired encryption keys it keeps for a grace period so mail already sealed
// to them stays readable. Erasing a retired key after the grace period is what
// gives stored mail forward secrecy.
import { PeopleError } from "../errors.js";
import type { PeopleAddress } from "./address.js";
import { b64u, fromB64u } from "./bytes.js";
import { issueDeviceCert, parseDeviceCert, type DeviceCert, type DeviceCertWire } from "./device-cert.js";
import { newDeviceId, parseDeviceId, type DeviceId } from "./ids.js";
import { Ed25519KeyPair, X25519KeyPair } from "./keys.js";
import { parseAddress } from "./address.js";

export const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ROTATION_MS = DAY_MS;
export const DEFAULT_GRACE_MS = 7 * DAY_MS;

interface RetiredKey {
  key: X25519KeyPair;
  retiredAt: number;
}

export interface DeviceIdentityOptions {
  /** How long a certificate is valid; a device rotates well before (default: twice the rotation period). */
  certLifetimeMs?: number;
}

export class DeviceIdentity {
  private retired: RetiredKey[] = [];

  private constructor(
    readonly address: PeopleAddress,
    readonly device: DeviceId,
    private signKey: Ed25519KeyPair,
    private encKey: X25519KeyPair,
    private certs: DeviceCert[],
  ) {}

  /** A new device: fresh keys and its first certificate, signed by the account key. */
  static create(o: {
    address: PeopleAddress;
    accountKey: Ed25519KeyPair;
    now: number;
    device?: DeviceId;
    certLifetimeMs?: number;
  }): DeviceIdentity {
    const device = o.device ?? newDeviceId();
    const signKey = Ed25519KeyPair.generate();
    const encKey = X25519KeyPair.generate();
    const cert = issueDeviceCert({
      address: o.address,
      device,
      accountKey: o.accountKey,
      newSignKey: signKey,
      newEncKey: encKey.publicKey,
      notBefore: o.now,
      notAfter: o.now + (o.certLifetimeMs ?? 2 * DEFAULT_ROTATION_MS),
    });
    return new DeviceIdentity(o.address, device, signKey, encKey, [cert]);
  }

  get head(): DeviceCert {
    return this.certs[this.certs.length - 1]!;
  }

  get chain(): readonly DeviceCert[] {
    return this.certs;
  }

  get signingKey(): Ed25519KeyPair {
    return this.signKey;
  }

  get encryptionKey(): X25519KeyPair {
    return this.encKey;
  }

  /** Whether the head certificate is due for rotation at `now`. */
  rotationDue(now: number, rotationMs = DEFAULT_ROTATION_MS): boolean {
    return now >= this.head.notBefore + rotationMs;
  }

  /**
   * Rotate both device keys. The new certificate is signed by the previous
   * device key and the account key; the old encryption key is retired, not erased.
   */
  rotate(accountKey: Ed25519KeyPair, now: number, certLifetimeMs = 2 * DEFAULT_ROTATION_MS): DeviceCert {
    const newSign = Ed25519KeyPair.generate();
    const newEnc = X25519KeyPair.generate();
    const cert = issueDeviceCert({
      address: this.address,
      device: this.device,
      accountKey,
      newSignKey: newSign,
      newEncKey: newEnc.publicKey,
      previous: { cert: this.head, signKey: this.signKey },
      notBefore: Math.max(now, this.head.notBefore),
      notAfter: Math.max(now, this.head.notBefore) + certLifetimeMs,
    });
    this.retired.push({ key: this.encKey, retiredAt: now });
    this.signKey = newSign;
    this.encKey = newEnc;
    this.certs.push(cert);
    return cert;
  }

  /** Erase retired encryption keys older than the grace period; returns how many were erased. */
  eraseExpiredKeys(now: number, graceMs = DEFAULT_GRACE_MS): number {
    const keep = this.retired.filter((r) => now - r.retiredAt < graceMs);
    for (const r of this.retired) if (!keep.includes(r)) r.key.erase();
    const erased = this.retired.length - keep.length;
    this.retired = keep;
    return erased;
  }

  /** The private encryption key named by an 8-byte key id: current or still in its grace period. */
  decryptionKey(id: Uint8Array): X25519KeyPair | undefined {
    for (const k of [this.encKey, ...this.retired.map((r) => r.key)]) {
      if (k.publicKey.id.equals(id)) return k;
    }
    return undefined;
  }

  get retiredKeyCount(): number {
    return this.retired.length;
  }

  /** Secrets as JSON for the caller to encrypt at rest; never log this value. */
  exportSecrets(): DeviceSecretsJson {
    return {
      v: 1,
      address: this.address,
      device: this.device,
      sign: b64u(this.signKey.exportSeed()),
      enc: b64u(this.encKey.exportSecret()),
      retired: this.retired.map((r) => ({ enc: b64u(r.key.exportSecret()), retired_at: r.retiredAt })),
      certs: this.certs.map((c) => c.wire),
    };
  }

  static importSecrets(json: DeviceSecretsJson): DeviceIdentity {
    const secret = (text: string): Buffer => {
      const b = fromB64u(text);
      if (!b || b.length !== 32) throw new PeopleError("PEOPLE_BAD_KEY", "stored device secret is malformed");
      return b;
    };
    const certs = json.certs.map(parseDeviceCert);
    const identity = new DeviceIdentity(
      parseAddress(json.address),
      parseDeviceId(json.device, "PEOPLE_BAD_KEY"),
      Ed25519KeyPair.fromSeed(secret(json.sign)),
      X25519KeyPair.fromSecret(secret(json.enc)),
      certs,
    );
    identity.retired = json.retired.map((r) => ({
      key: X25519KeyPair.fromSecret(secret(r.enc)),
      retiredAt: r.retired_at,
    }));
    return identity;
  }
}

export interface DeviceSecretsJson {
  v: 1;
  address: string;
  device: string;
  sign: string;
  enc: string;
  retired: { enc: string; retired_at: number }[];
  certs: DeviceCertWire[];
}
