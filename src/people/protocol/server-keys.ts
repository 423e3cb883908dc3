// A server's keys: a long-term Ed25519 identity key, and X25519 envelope keys
// that rotate, each certified by the identity key. Senders seal the outer layer
// to the newest one; the server keeps older ones until mail sealed to them has expired.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { b64u } from "./bytes.js";
import { Ed25519KeyPair, Ed25519PublicKey, X25519KeyPair, X25519PublicKey } from "./keys.js";
import {
  b64uKey32,
  decodeB64uField,
  encodeBody,
  parseBody,
  signature64,
  timestampMs,
} from "./signed-json.js";
import { requireSignature, signBytes } from "./signing.js";

const CODE = "PEOPLE_BAD_KEY";

const envelopeKeyBodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.server_envelope_key"),
  domain: z.string().max(253),
  key: b64uKey32,
  not_before: timestampMs,
  not_after: timestampMs,
});

export const envelopeKeyWireSchema = z.strictObject({ body: z.string().max(2048), sig: signature64 });
export type EnvelopeKeyWire = z.infer<typeof envelopeKeyWireSchema>;

export interface ServerEnvelopeKey {
  domain: string;
  key: X25519PublicKey;
  keyId: Buffer;
  notBefore: number;
  notAfter: number;
  wire: EnvelopeKeyWire;
}

/** Parse and verify an envelope key certificate against the server's identity key. */
export function verifyEnvelopeKey(
  input: unknown,
  identityKey: Ed25519PublicKey,
  domain: string,
): ServerEnvelopeKey {
  const wire = envelopeKeyWireSchema.safeParse(input);
  if (!wire.success) throw new PeopleError(CODE, "envelope key has the wrong shape");
  const bodyBytes = decodeB64uField(wire.data.body, "envelope key body", CODE);
  const sigBytes = decodeB64uField(wire.data.sig, "envelope key signature", CODE);
  requireSignature(identityKey, "server-envelope-key", bodyBytes, sigBytes, "envelope key");
  const body = parseBody(bodyBytes, envelopeKeyBodySchema, "envelope key body", CODE);
  if (body.domain !== domain) throw new PeopleError(CODE, "envelope key is for another domain");
  if (body.not_after <= body.not_before) throw new PeopleError(CODE, "envelope key validity is empty");
  const key = X25519PublicKey.fromB64u(body.key);
  return {
    domain,
    key,
    keyId: key.id,
    notBefore: body.not_before,
    notAfter: body.not_after,
    wire: wire.data,
  };
}

/** The newest envelope key valid at `now`, which a sender seals to. */
export function currentEnvelopeKey(keys: readonly ServerEnvelopeKey[], now: number): ServerEnvelopeKey {
  const valid = keys
    .filter((k) => k.notBefore <= now && now < k.notAfter)
    .sort((a, b) => b.notBefore - a.notBefore);
  if (!valid[0]) throw new PeopleError("PEOPLE_EXPIRED", "the server has no valid envelope key");
  return valid[0];
}

export interface EnvelopePrivateKey {
  key: X25519KeyPair;
  cert: ServerEnvelopeKey;
}

/** The server side: signs its own envelope keys. */
export class ServerIdentity {
  constructor(
    readonly domain: string,
    readonly identityKey: Ed25519KeyPair,
  ) {}

  issueEnvelopeKey(key: X25519KeyPair, notBefore: number, notAfter: number): EnvelopePrivateKey {
    const bodyBytes = encodeBody({
      v: 1,
      type: "people.server_envelope_key",
      domain: this.domain,
      key: key.publicKey.toB64u(),
      not_before: notBefore,
      not_after: notAfter,
    });
    const wire = {
      body: b64u(bodyBytes),
      sig: b64u(signBytes(this.identityKey, "server-envelope-key", bodyBytes)),
    };
    return { key, cert: verifyEnvelopeKey(wire, this.identityKey.publicKey, this.domain) };
  }
}
