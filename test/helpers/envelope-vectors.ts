// Known-answer vectors for the envelope format: every input is derived from
// fixed seeds, so the outputs are reproducible by any implementation.
// scripts/make-vectors.ts writes them to test/vectors/envelope-v1.json and
// test/unit/envelope-vectors.test.ts checks the code still produces them.
import { createHash } from "node:crypto";
import { parseAddress } from "../../src/people/protocol/address.js";
import { issueDeviceCert } from "../../src/people/protocol/device-cert.js";
import { sealMessage, type RandomSource } from "../../src/people/protocol/envelope.js";
import { parseDeviceId } from "../../src/people/protocol/ids.js";
import { Ed25519KeyPair, X25519KeyPair } from "../../src/people/protocol/keys.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { ServerIdentity } from "../../src/people/protocol/server-keys.js";

/** SHA-256(seed || counter) stream: the deterministic random source the vectors use. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (length: number) => {
    while (pool.length < length) {
      const block = createHash("sha256")
        .update(seed)
        .update(Buffer.from([counter >>> 24, counter >>> 16, counter >>> 8, counter]))
        .digest();
      counter += 1;
      pool = Buffer.concat([pool, block]);
    }
    const out = pool.subarray(0, length);
    pool = pool.subarray(length);
    return Buffer.from(out);
  };
}

export function seedBytes(label: string): Buffer {
  return createHash("sha256").update(`people/v1 test-vector ${label}`).digest();
}

interface CaseSpec {
  name: string;
  content: MessageContent;
  recipientDevices: number;
  deliveryToken?: string;
}

const CASES: CaseSpec[] = [
  { name: "text-1-device", content: { type: "text", body: "Hello, Joe." }, recipientDevices: 1 },
  {
    name: "formatted-reply-3-devices",
    content: {
      type: "text",
      body: "> quoted\n\n**yes**",
      html: "<p><strong>yes</strong></p>",
      reply_to: "AAAAAAAAAAAAAAAAAAAAAA",
    },
    recipientDevices: 3,
  },
  {
    name: "reaction-with-delivery-token",
    content: { type: "reaction", target: "AAAAAAAAAAAAAAAAAAAAAA", key: "👍" },
    recipientDevices: 2,
    deliveryToken: "dGVzdC1kZWxpdmVyeS10b2tlbg",
  },
  { name: "long-text-padding", content: { type: "text", body: "x".repeat(2000) }, recipientDevices: 1 },
];

export const VECTOR_NOW = 1_767_225_600_000; // 2026-01-01T00:00:00Z
export const VECTOR_TTL = 7 * 24 * 60 * 60 * 1000;

export function buildEnvelopeVectors(): object {
  const jane = parseAddress("jane@a.example");
  const joe = parseAddress("joe@b.example");
  const janeAccount = Ed25519KeyPair.fromSeed(seedBytes("jane account"));
  const janeSign = Ed25519KeyPair.fromSeed(seedBytes("jane device sign"));
  const janeEnc = X25519KeyPair.fromSecret(seedBytes("jane device enc"));
  const janeDevice = parseDeviceId("janeDevice1");
  const janeCert = issueDeviceCert({
    address: jane,
    device: janeDevice,
    accountKey: janeAccount,
    newSignKey: janeSign,
    newEncKey: janeEnc.publicKey,
    notBefore: VECTOR_NOW,
    notAfter: VECTOR_NOW + 2 * 86_400_000,
  });
  const server = new ServerIdentity("b.example", Ed25519KeyPair.fromSeed(seedBytes("server identity")));
  const envelopeKey = server.issueEnvelopeKey(
    X25519KeyPair.fromSecret(seedBytes("server envelope")),
    VECTOR_NOW - 86_400_000,
    VECTOR_NOW + 30 * 86_400_000,
  );

  const cases = CASES.map((spec) => {
    const devices = Array.from({ length: spec.recipientDevices }, (_, i) =>
      X25519KeyPair.fromSecret(seedBytes(`joe device ${i} enc`)),
    );
    const randomSeed = `people/v1 test-vector random ${spec.name}`;
    const sealed = sealMessage({
      from: jane,
      device: janeDevice,
      signingKey: janeSign,
      to: [joe],
      content: spec.content,
      copies: [
        {
          address: joe,
          devices: devices.map((d) => d.publicKey),
          server: envelopeKey.cert,
          ...(spec.deliveryToken ? { deliveryToken: Buffer.from(spec.deliveryToken, "base64url") } : {}),
        },
      ],
      now: VECTOR_NOW,
      ttlMs: VECTOR_TTL,
      random: seededRandom(randomSeed),
    });
    const copy = sealed.copies[0]!;
    return {
      name: spec.name,
      inputs: {
        now: VECTOR_NOW,
        ttl_ms: VECTOR_TTL,
        random_seed: randomSeed,
        to: [joe],
        content: spec.content,
        recipient: joe,
        recipient_device_enc_secrets: devices.map((d) => d.exportSecret().toString("hex")),
        delivery_token: spec.deliveryToken ?? null,
      },
      outputs: {
        message_id: sealed.messageId,
        envelope_id: copy.envelopeId,
        outer_hex: copy.outer.toString("hex"),
      },
    };
  });

  return {
    description:
      'People envelope format v1 known-answer vectors. Random bytes come from SHA-256(random_seed || u32 counter) blocks, consumed in order: message id (16), content key (32), wrap ephemeral secret (32), then per copy envelope id (16) and outer HPKE ephemeral secret (32). Keys are SHA-256("people/v1 test-vector " + label).',
    sender: {
      address: jane,
      device: janeDevice,
      account_seed_hex: seedBytes("jane account").toString("hex"),
      sign_seed_hex: seedBytes("jane device sign").toString("hex"),
      enc_secret_hex: seedBytes("jane device enc").toString("hex"),
      device_cert: janeCert.wire,
    },
    server: {
      domain: "b.example",
      identity_seed_hex: seedBytes("server identity").toString("hex"),
      envelope_secret_hex: seedBytes("server envelope").toString("hex"),
      envelope_key: envelopeKey.cert.wire,
    },
    cases,
  };
}
