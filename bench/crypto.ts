// Crypto part of `npm run bench`: seal/open rates for 1, 4 and 16 recipient
// devices, the curve operations each performs, the ratio of measured time to
// those operations done raw in the same run, and the cost per recipient device
// against libsodium's crypto_box_seal.
import sodium from "sodium-native";
import { parseAddress } from "../src/people/protocol/address.js";
import { DeviceIdentity } from "../src/people/protocol/device-identity.js";
import {
  decryptInner,
  openOuter,
  sealMessage,
  verifyMessage,
  type ReplayGuard,
} from "../src/people/protocol/envelope.js";
import { Ed25519KeyPair, X25519KeyPair } from "../src/people/protocol/keys.js";
import { ServerIdentity } from "../src/people/protocol/server-keys.js";
import { fmt, measureBest as measure } from "./harness.js";

const acceptAll: ReplayGuard = { checkAndRemember: () => true };

/** The curve operations of one seal of one copy to n devices, and of one open on one device. */
export function operationCounts(n: number): {
  seal: { x25519: number; ed25519: number };
  open: { x25519: number; ed25519: number };
} {
  // seal: wrap ephemeral key generation + n wrap DHs + outer ephemeral generation + outer DH; one signature.
  // open: the server's outer DH + the device's unwrap DH; one signature check.
  return { seal: { x25519: n + 3, ed25519: 1 }, open: { x25519: 2, ed25519: 1 } };
}

export function runCryptoBench(): void {
  const now = Date.now();
  const jane = parseAddress("jane@a.example");
  const joe = parseAddress("joe@b.example");
  const janeDevice = DeviceIdentity.create({ address: jane, accountKey: Ed25519KeyPair.generate(), now });
  const joeAccount = Ed25519KeyPair.generate();
  const server = new ServerIdentity("b.example", Ed25519KeyPair.generate());
  const envelopeKey = server.issueEnvelopeKey(X25519KeyPair.generate(), now - 1000, now + 86_400_000);
  const body = "x".repeat(1024 - 200); // a ~1 KiB message once framed

  // The raw primitives the protocol code calls (libsodium), on the same inputs sizes.
  const secretA = Buffer.alloc(32, 1);
  const publicB = Buffer.alloc(32);
  sodium.crypto_scalarmult_base(publicB, Buffer.alloc(32, 2));
  const dhOut = Buffer.alloc(32);
  const edPk = Buffer.alloc(32);
  const edSk = Buffer.alloc(64);
  sodium.crypto_sign_seed_keypair(edPk, edSk, Buffer.alloc(32, 3));
  const msg = Buffer.alloc(1100);
  const edSig = Buffer.alloc(64);
  sodium.crypto_sign_detached(edSig, msg, edSk);
  const rawDh = measure(() => sodium.crypto_scalarmult(dhOut, secretA, publicB));
  const rawKeygen = measure(() => {
    sodium.randombytes_buf(secretA);
    sodium.crypto_scalarmult_base(dhOut, secretA);
  });
  const rawSign = measure(() => sodium.crypto_sign_detached(edSig, msg, edSk));
  const rawVerify = measure(() => void sodium.crypto_sign_verify_detached(edSig, msg, edPk));

  // libsodium sealed box of a 32-byte content key, per recipient.
  const sodiumPk = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const sodiumSk = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
  sodium.crypto_box_keypair(sodiumPk, sodiumSk);
  const ck = Buffer.alloc(32, 7);
  const boxOut = Buffer.alloc(32 + sodium.crypto_box_SEALBYTES);
  const sealedBox = measure(() => sodium.crypto_box_seal(boxOut, ck, sodiumPk));

  const rows: Record<string, string>[] = [];
  const sealUs: Record<number, number> = {};
  for (const n of [1, 4, 16]) {
    const devices = Array.from({ length: n }, () =>
      DeviceIdentity.create({ address: joe, accountKey: joeAccount, now }),
    );
    const seal = () =>
      sealMessage({
        from: jane,
        device: janeDevice.device,
        signingKey: janeDevice.signingKey,
        to: [joe],
        content: { type: "text", body },
        copies: [{ address: joe, devices: devices.map((d) => d.head.encKey), server: envelopeKey.cert }],
        now,
        ttlMs: 86_400_000,
      });
    const sample = seal().copies[0]!.outer;
    const device = devices[n - 1]!;
    const open = () => {
      const outer = openOuter(
        sample,
        (id) => (id.equals(envelopeKey.cert.keyId) ? envelopeKey.key : undefined),
        now,
      );
      const unverified = decryptInner(outer.inner, (id) => device.decryptionKey(id));
      verifyMessage(unverified, janeDevice.head.signKey, { self: joe, now, replay: acceptAll });
    };
    const s = measure(seal);
    const o = measure(open);
    sealUs[n] = s.usPerOp;
    const counts = operationCounts(n);
    const rawSealUs = (counts.seal.x25519 - 2) * rawDh.usPerOp + 2 * rawKeygen.usPerOp + rawSign.usPerOp;
    const rawOpenUs = counts.open.x25519 * rawDh.usPerOp + rawVerify.usPerOp;
    rows.push({
      devices: String(n),
      "seal ops/s": fmt(s.opsPerSec),
      "open ops/s": fmt(o.opsPerSec),
      "seal X25519/Ed25519": `${counts.seal.x25519}/${counts.seal.ed25519}`,
      "open X25519/Ed25519": `${counts.open.x25519}/${counts.open.ed25519}`,
      "seal / raw ops": fmt(s.usPerOp / rawSealUs),
      "open / raw ops": fmt(o.usPerOp / rawOpenUs),
      "outer bytes": String(sample.length),
    });
  }
  console.log("\n== crypto: sealed envelopes (1 KiB message) ==");
  console.table(rows);
  const perDevice = (sealUs[16]! - sealUs[1]!) / 15;
  console.log(
    `raw libsodium: X25519 DH ${fmt(rawDh.usPerOp)} us, X25519 keygen ${fmt(rawKeygen.usPerOp)} us, ` +
      `Ed25519 sign ${fmt(rawSign.usPerOp)} us, verify ${fmt(rawVerify.usPerOp)} us`,
  );
  console.log(
    `per recipient device: ${fmt(perDevice)} us (marginal seal cost, 1 -> 16 devices) vs ` +
      `sodium-native crypto_box_seal ${fmt(sealedBox.usPerOp)} us: ratio ${fmt(perDevice / sealedBox.usPerOp)} (target < 1)`,
  );
}
