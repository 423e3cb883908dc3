import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAddress } from "../../src/people/protocol/address.js";
import { parseDeviceCert } from "../../src/people/protocol/device-cert.js";
import {
  decryptInner,
  MemoryReplayGuard,
  openOuter,
  verifyMessage,
} from "../../src/people/protocol/envelope.js";
import { Ed25519KeyPair, X25519KeyPair } from "../../src/people/protocol/keys.js";
import { verifyEnvelopeKey } from "../../src/people/protocol/server-keys.js";
import { buildEnvelopeVectors, VECTOR_NOW } from "../helpers/envelope-vectors.js";

interface VectorFile {
  sender: { sign_seed_hex: string; device_cert: unknown };
  server: { domain: string; identity_seed_hex: string; envelope_secret_hex: string; envelope_key: unknown };
  cases: {
    name: string;
    inputs: {
      content: unknown;
      recipient: string;
      recipient_device_enc_secrets: string[];
      delivery_token: string | null;
    };
    outputs: { message_id: string; envelope_id: string; outer_hex: string };
  }[];
}

const file = join(__dirname, "..", "vectors", "envelope-v1.json");
const committed = JSON.parse(readFileSync(file, "utf8")) as VectorFile;

describe("envelope known-answer vectors (test/vectors/envelope-v1.json)", () => {
  it("are reproduced byte for byte by the current code", () => {
    assert.deepEqual(JSON.parse(JSON.stringify(buildEnvelopeVectors())), committed);
  });

  for (const c of committed.cases) {
    it(`${c.name}: opens with the listed keys on every recipient device`, () => {
      const senderCert = parseDeviceCert(committed.sender.device_cert);
      const serverSecret = X25519KeyPair.fromSecret(Buffer.from(committed.server.envelope_secret_hex, "hex"));
      const cert = committed.server.envelope_key as { body: string };
      const bodyKey = JSON.parse(Buffer.from(cert.body, "base64url").toString()) as { key: string };
      assert.equal(serverSecret.publicKey.toB64u(), bodyKey.key);
      const opened = openOuter(
        Buffer.from(c.outputs.outer_hex, "hex"),
        (id) => (id.equals(serverSecret.publicKey.id) ? serverSecret : undefined),
        VECTOR_NOW,
      );
      assert.equal(opened.recipient, c.inputs.recipient);
      assert.equal(opened.envelopeId, c.outputs.envelope_id);
      assert.equal(opened.deliveryToken?.toString("base64url") ?? null, c.inputs.delivery_token);
      for (const secretHex of c.inputs.recipient_device_enc_secrets) {
        const device = X25519KeyPair.fromSecret(Buffer.from(secretHex, "hex"));
        const unverified = decryptInner(opened.inner, (id) =>
          id.equals(device.publicKey.id) ? device : undefined,
        );
        const message = verifyMessage(unverified, senderCert.signKey, {
          self: parseAddress(c.inputs.recipient),
          now: VECTOR_NOW,
          replay: new MemoryReplayGuard(),
        });
        assert.equal(message.id, c.outputs.message_id);
        assert.deepEqual(message.content, c.inputs.content);
      }
    });
  }

  it("carry a server envelope key certified by the listed identity key", () => {
    const identity = committed.server.identity_seed_hex;
    assert.equal(identity.length, 64);
    const cert = committed.server.envelope_key as { body: string };
    assert.ok(cert.body.length > 0);
    const key = Ed25519KeyPair.fromSeed(Buffer.from(identity, "hex")).publicKey;
    assert.equal(
      verifyEnvelopeKey(committed.server.envelope_key, key, committed.server.domain).domain,
      committed.server.domain,
    );
  });
});
