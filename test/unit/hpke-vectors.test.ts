// HPKE (src/people/protocol/hpke.ts) against the published RFC 9180 vectors
// for the one suite People uses, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
// ChaCha20-Poly1305, base mode; against an independent implementation
// (@hpke/core + @hpke/chacha20poly1305); and under tampering and random input.
//
// Every expected value comes from test/vectors/rfc9180-base-x25519-sha256-chacha20poly1305.json,
// transcribed from the RFC text (see its "source" field); none is produced by the code under test.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import fc from "fast-check";
import { PeopleError, type ErrorCode } from "../../src/people/errors";
import {
  aeadOpen,
  aeadSeal,
  decap,
  deriveKeyPair,
  encapWith,
  openBase,
  sealBase,
  setupBaseR,
  setupBaseS,
} from "../../src/people/protocol/hpke";
import { X25519KeyPair, X25519PublicKey } from "../../src/people/protocol/keys";

interface Encryption {
  seq: number;
  aad: string;
  ct: string;
  nonce: string;
  pt: string;
}

interface Export {
  exporter_context: string;
  L: number;
  exported_value: string;
}

interface Vector {
  source: string;
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  shared_secret: string;
  key_schedule_context: string;
  secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: Encryption[];
  exports: Export[];
  accumulated: { source: string; encryptions_accumulated: string };
}

const V: Vector = JSON.parse(
  readFileSync(join(__dirname, "../vectors/rfc9180-base-x25519-sha256-chacha20poly1305.json"), "utf8"),
) as Vector;

const hex = (s: string): Buffer => Buffer.from(s, "hex");
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const info = hex(V.info);
const EMPTY = Buffer.alloc(0);

/** Asserts that `fn` throws a PeopleError with `code` (and nothing else). */
function throwsPeople(fn: () => unknown, code: ErrorCode, what: string): void {
  assert.throws(
    fn,
    (e: unknown) => {
      assert.ok(e instanceof PeopleError, `${what}: expected a PeopleError, got ${String(e)}`);
      assert.equal(e.code, code, `${what}: wrong code (${e.message})`);
      return true;
    },
    what,
  );
}

/** Well-known X25519 points of small order (and non-canonical encodings of them). */
const LOW_ORDER_POINTS: Record<string, string> = {
  "zero (u = 0)": "0000000000000000000000000000000000000000000000000000000000000000",
  "u = 1": "0100000000000000000000000000000000000000000000000000000000000000",
  "order 8 (e0eb7a7c...)": "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "order 8 (5f9c95bc...)": "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "u = p - 1": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "u = p (non-canonical 0)": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "u = p + 1 (non-canonical 1)": "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

function independentSuite(): CipherSuite {
  return new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Chacha20Poly1305(),
  });
}

describe("HPKE: RFC 9180 A.2.1 vectors (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base)", () => {
  const kpE = deriveKeyPair(hex(V.ikmE));
  const kpR = deriveKeyPair(hex(V.ikmR));
  const lastSeq = Math.max(...V.encryptions.map((e) => e.seq));
  const bySeq = new Map(V.encryptions.map((e) => [e.seq, e]));
  const dummyAad = Buffer.from("dummy-aad");
  const dummyPt = Buffer.from("dummy plaintext to advance the sequence number");

  it("the vector file is the expected suite and is self-consistent", () => {
    assert.deepEqual([V.mode, V.kem_id, V.kdf_id, V.aead_id], [0, 32, 1, 3]);
    assert.equal(V.pkEm, "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
    assert.equal(V.key, "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91");
    assert.equal(V.base_nonce, "5c4d98150661b848853b547f");
    assert.equal(V.enc, V.pkEm);
    assert.deepEqual(
      V.encryptions.map((e) => e.seq),
      [0, 1, 2, 4, 255, 256],
    );
    for (const e of V.encryptions) {
      // nonce = base_nonce XOR I2OSP(seq, Nn), computed from the vector alone.
      const n = hex(V.base_nonce);
      n.writeUInt32BE((n.readUInt32BE(8) ^ e.seq) >>> 0, 8);
      assert.equal(toHex(n), e.nonce, `nonce for seq ${e.seq}`);
      assert.equal(hex(e.ct).byteLength, hex(e.pt).byteLength + 16, `ct length for seq ${e.seq}`);
    }
  });

  it("DeriveKeyPair(ikmE) and DeriveKeyPair(ikmR) give pkEm/skEm and pkRm/skRm", () => {
    assert.equal(toHex(kpE.publicKey.raw), V.pkEm);
    assert.equal(toHex(kpE.exportSecret()), V.skEm);
    assert.equal(toHex(kpR.publicKey.raw), V.pkRm);
    assert.equal(toHex(kpR.exportSecret()), V.skRm);
  });

  it("Encap/Decap give enc and shared_secret", () => {
    const { sharedSecret, enc } = encapWith(kpE, kpR.publicKey);
    assert.equal(toHex(enc), V.enc);
    assert.equal(toHex(sharedSecret), V.shared_secret);
    assert.equal(toHex(decap(hex(V.enc), kpR)), V.shared_secret);
    // The recipient key rebuilt from the published skRm decapsulates the same way.
    assert.equal(toHex(decap(hex(V.enc), X25519KeyPair.fromSecret(hex(V.skRm)))), V.shared_secret);
  });

  it("SetupBaseS gives enc, key, base_nonce, exporter_secret, and seals every encryption in order", () => {
    const { enc, ctx } = setupBaseS(kpR.publicKey, info, kpE);
    assert.equal(toHex(enc), V.enc);
    assert.equal(toHex(ctx.key), V.key);
    assert.equal(toHex(ctx.baseNonce), V.base_nonce);
    assert.equal(toHex(ctx.exporterSecret()), V.exporter_secret);
    for (let seq = 0; seq <= lastSeq; seq++) {
      const e = bySeq.get(seq);
      if (!e) {
        ctx.seal(dummyAad, dummyPt); // advances the sequence number
        continue;
      }
      assert.equal(toHex(ctx.seal(hex(e.aad), hex(e.pt))), e.ct, `ct for sequence number ${seq}`);
    }
  });

  it("the AEAD alone, given the vector's key and nonce, gives each ct and opens it", () => {
    for (const e of V.encryptions) {
      assert.equal(toHex(aeadSeal(hex(V.key), hex(e.nonce), hex(e.aad), hex(e.pt))), e.ct, `seq ${e.seq}`);
      assert.equal(toHex(aeadOpen(hex(V.key), hex(e.nonce), hex(e.aad), hex(e.ct))), e.pt, `seq ${e.seq}`);
    }
  });

  it("SetupBaseR gives key, base_nonce, exporter_secret, and opens every encryption in order", () => {
    const ctxR = setupBaseR(hex(V.enc), kpR, info);
    assert.equal(toHex(ctxR.key), V.key);
    assert.equal(toHex(ctxR.baseNonce), V.base_nonce);
    assert.equal(toHex(ctxR.exporterSecret()), V.exporter_secret);
    // The skipped sequence numbers are advanced with real messages from a
    // sender context in lockstep: Open only advances on success (RFC 9180 5.2).
    const { ctx: ctxS } = setupBaseS(kpR.publicKey, info, kpE);
    for (let seq = 0; seq <= lastSeq; seq++) {
      const e = bySeq.get(seq);
      if (!e) {
        const filler = ctxS.seal(dummyAad, dummyPt);
        assert.deepEqual(ctxR.open(dummyAad, filler), dummyPt, `filler at sequence number ${seq}`);
        continue;
      }
      ctxS.seal(hex(e.aad), hex(e.pt));
      assert.equal(toHex(ctxR.open(hex(e.aad), hex(e.ct))), e.pt, `pt for sequence number ${seq}`);
    }
  });

  it("the recipient key rebuilt from skRm opens the first encryption", () => {
    const e = V.encryptions[0]!;
    const pt = openBase(hex(V.enc), X25519KeyPair.fromSecret(hex(V.skRm)), info, hex(e.aad), hex(e.ct));
    assert.equal(toHex(pt), e.pt);
  });

  it("every exported value matches, on both sides", () => {
    const { ctx: ctxS } = setupBaseS(kpR.publicKey, info, kpE);
    const ctxR = setupBaseR(hex(V.enc), kpR, info);
    for (const x of V.exports) {
      const label = `export(${JSON.stringify(x.exporter_context)}, ${x.L})`;
      assert.equal(toHex(ctxS.export(hex(x.exporter_context), x.L)), x.exported_value, `sender ${label}`);
      assert.equal(toHex(ctxR.export(hex(x.exporter_context), x.L)), x.exported_value, `recipient ${label}`);
    }
  });

  it("1000 pseudo-random seals match Go's accumulated digest for this vector", () => {
    // Go's crypto/hpke test: aad and pt are drawn in turn from SHAKE128("") as
    // (1 length byte, then that many bytes); the expected value is the first
    // 16 bytes of SHAKE128(ct_0 || ... || ct_999).
    const source = createHash("shake128", { outputLength: 1000 * 2 * 256 }).digest();
    let at = 0;
    const draw = (): Buffer => {
      const n = source[at]!;
      const out = source.subarray(at + 1, at + 1 + n);
      at += 1 + n;
      return out;
    };
    const { ctx: ctxS } = setupBaseS(kpR.publicKey, info, kpE);
    const ctxR = setupBaseR(hex(V.enc), kpR, info);
    const sink = createHash("shake128", { outputLength: 16 });
    for (let i = 0; i < 1000; i++) {
      const aad = draw();
      const pt = draw();
      const ct = ctxS.seal(aad, pt);
      sink.update(ct);
      assert.deepEqual(ctxR.open(aad, ct), pt, `message ${i}`);
    }
    assert.equal(sink.digest("hex"), V.accumulated.encryptions_accumulated);
  });

  it("@hpke/core reproduces the vector file (an independent check of the transcription)", async () => {
    const suite = independentSuite();
    const rkp = await suite.kem.deriveKeyPair(hex(V.ikmR));
    const ekm = await suite.kem.deriveKeyPair(hex(V.ikmE));
    assert.equal(toHex(new Uint8Array(await suite.kem.serializePublicKey(rkp.publicKey))), V.pkRm);
    assert.equal(toHex(new Uint8Array(await suite.kem.serializePublicKey(ekm.publicKey))), V.pkEm);
    const sender = await suite.createSenderContext({ recipientPublicKey: rkp.publicKey, info, ekm });
    assert.equal(toHex(new Uint8Array(sender.enc)), V.enc);
    for (let seq = 0; seq <= lastSeq; seq++) {
      const e = bySeq.get(seq);
      if (!e) {
        await sender.seal(dummyPt, dummyAad);
        continue;
      }
      assert.equal(toHex(new Uint8Array(await sender.seal(hex(e.pt), hex(e.aad)))), e.ct, `seq ${seq}`);
    }
    for (const x of V.exports) {
      assert.equal(
        toHex(new Uint8Array(await sender.export(hex(x.exporter_context), x.L))),
        x.exported_value,
      );
    }
  });
});

describe("HPKE: tampering and wrong keys", () => {
  const kpR = deriveKeyPair(hex(V.ikmR));
  const e0 = V.encryptions[0]!;
  const enc = hex(V.enc);
  const aad = hex(e0.aad);
  const ct = hex(e0.ct);

  const open = (o: { enc?: Buffer; key?: X25519KeyPair; info?: Buffer; aad?: Buffer; ct: Buffer }): Buffer =>
    setupBaseR(o.enc ?? enc, o.key ?? kpR, o.info ?? info).open(o.aad ?? aad, o.ct);

  it("the untampered vector opens", () => {
    assert.equal(toHex(open({ ct })), e0.pt);
  });

  it("flipping any single bit of the ciphertext (every bit of every byte) fails with PEOPLE_DECRYPT_FAILED", () => {
    for (let i = 0; i < ct.byteLength; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(ct);
        bad[i] = bad[i]! ^ (1 << bit);
        throwsPeople(() => open({ ct: bad }), "PEOPLE_DECRYPT_FAILED", `byte ${i} bit ${bit}`);
      }
    }
  });

  it("a truncated, extended, empty or tag-only ciphertext fails with PEOPLE_DECRYPT_FAILED", () => {
    const cases: Record<string, Buffer> = {
      "last byte dropped": ct.subarray(0, -1),
      "first byte dropped": ct.subarray(1),
      "byte appended": Buffer.concat([ct, Buffer.from([0])]),
      empty: EMPTY,
      "tag only": ct.subarray(-16),
      "15 bytes": ct.subarray(0, 15),
    };
    for (const [what, bad] of Object.entries(cases))
      throwsPeople(() => open({ ct: bad }), "PEOPLE_DECRYPT_FAILED", what);
  });

  it("a wrong aad fails with PEOPLE_DECRYPT_FAILED", () => {
    throwsPeople(
      () => open({ ct, aad: hex(V.encryptions[1]!.aad) }),
      "PEOPLE_DECRYPT_FAILED",
      "aad of seq 1",
    );
    throwsPeople(() => open({ ct, aad: EMPTY }), "PEOPLE_DECRYPT_FAILED", "empty aad");
    const flipped = Buffer.from(aad);
    flipped[0] = flipped[0]! ^ 0x80;
    throwsPeople(() => open({ ct, aad: flipped }), "PEOPLE_DECRYPT_FAILED", "one aad bit flipped");
  });

  it("a wrong info fails with PEOPLE_DECRYPT_FAILED", () => {
    throwsPeople(() => open({ ct, info: EMPTY }), "PEOPLE_DECRYPT_FAILED", "empty info");
    throwsPeople(
      () => open({ ct, info: Buffer.concat([info, Buffer.from([0])]) }),
      "PEOPLE_DECRYPT_FAILED",
      "info + 00",
    );
    const flipped = Buffer.from(info);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    throwsPeople(() => open({ ct, info: flipped }), "PEOPLE_DECRYPT_FAILED", "one info bit flipped");
  });

  it("a wrong recipient key or a different enc fails with PEOPLE_DECRYPT_FAILED", () => {
    throwsPeople(
      () => open({ ct, key: X25519KeyPair.generate() }),
      "PEOPLE_DECRYPT_FAILED",
      "random recipient key",
    );
    throwsPeople(
      () => open({ ct, key: deriveKeyPair(hex(V.ikmE)) }),
      "PEOPLE_DECRYPT_FAILED",
      "the ephemeral key",
    );
    throwsPeople(
      () => open({ ct, enc: X25519KeyPair.generate().publicKey.raw }),
      "PEOPLE_DECRYPT_FAILED",
      "other enc",
    );
    throwsPeople(() => open({ ct, enc: enc.subarray(1) }), "PEOPLE_DECRYPT_FAILED", "31-byte enc");
    throwsPeople(() => open({ ct, enc: EMPTY }), "PEOPLE_DECRYPT_FAILED", "empty enc");
  });

  it("the ciphertext of one sequence number does not open at another", () => {
    const ctx = setupBaseR(enc, kpR, info);
    const ct1 = hex(V.encryptions[1]!.ct);
    throwsPeople(
      () => ctx.open(hex(V.encryptions[1]!.aad), ct1),
      "PEOPLE_DECRYPT_FAILED",
      "seq 1 ct at seq 0",
    );
  });

  it("a failed Open does not advance the recipient's sequence number (RFC 9180 5.2)", () => {
    // ContextR.Open raises OpenError before IncrementSeq, so after a rejected
    // (tampered) message the genuine one at the same sequence number still opens.
    const ctx = setupBaseR(enc, kpR, info);
    const bad = Buffer.from(ct);
    bad[0] = bad[0]! ^ 1;
    throwsPeople(() => ctx.open(aad, bad), "PEOPLE_DECRYPT_FAILED", "tampered seq 0");
    assert.equal(toHex(ctx.open(aad, ct)), e0.pt, "genuine seq 0 after a rejected one");
    assert.equal(
      toHex(ctx.open(hex(V.encryptions[1]!.aad), hex(V.encryptions[1]!.ct))),
      V.encryptions[1]!.pt,
    );
  });

  for (const [name, point] of Object.entries(LOW_ORDER_POINTS)) {
    it(`a low-order public key (${name}) is refused: PEOPLE_BAD_KEY to seal, PEOPLE_DECRYPT_FAILED as enc`, () => {
      const pk = new X25519PublicKey(hex(point));
      throwsPeople(() => setupBaseS(pk, info), "PEOPLE_BAD_KEY", `setupBaseS to ${name}`);
      throwsPeople(
        () => setupBaseS(pk, info, deriveKeyPair(hex(V.ikmE))),
        "PEOPLE_BAD_KEY",
        `setupBaseS(ephemeral)`,
      );
      throwsPeople(() => sealBase(pk, info, aad, Buffer.from("x")), "PEOPLE_BAD_KEY", `sealBase to ${name}`);
      // A receiver reports a low-order enc as a ciphertext it cannot open, nothing more.
      throwsPeople(
        () => setupBaseR(hex(point), kpR, info),
        "PEOPLE_DECRYPT_FAILED",
        `setupBaseR with enc ${name}`,
      );
    });
  }

  it("a public key that is not 32 bytes is refused with PEOPLE_BAD_KEY", () => {
    throwsPeople(() => new X25519PublicKey(Buffer.alloc(31, 9)), "PEOPLE_BAD_KEY", "31 bytes");
    throwsPeople(() => new X25519PublicKey(Buffer.alloc(33, 9)), "PEOPLE_BAD_KEY", "33 bytes");
  });
});

describe("HPKE: interoperability with @hpke/core + @hpke/chacha20poly1305", () => {
  const suite = independentSuite();
  const MESSAGES = 20;

  /** A random message: lengths include the edge cases 0, 1, 63, 64, 65 and a few kilobytes. */
  function message(i: number): { aad: Buffer; pt: Buffer; info: Buffer } {
    const lengths = [0, 1, 63, 64, 65, 1000, 4096];
    const ptLen = i < lengths.length ? lengths[i]! : 1 + (randomBytes(2).readUInt16BE(0) % 3000);
    return {
      aad: randomBytes(i % 3 === 0 ? 0 : 1 + (i % 40)),
      pt: randomBytes(ptLen),
      info: randomBytes(i % 4 === 0 ? 0 : i),
    };
  }

  it(`${MESSAGES} messages sealed here open with @hpke/core`, async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const kp = X25519KeyPair.generate();
      const recipientKey = await suite.kem.deserializePrivateKey(kp.exportSecret());
      const m = message(i);
      const { enc, ciphertext } = sealBase(kp.publicKey, m.info, m.aad, m.pt);
      const pt = await suite.open({ recipientKey, enc, info: m.info }, ciphertext, m.aad);
      assert.deepEqual(Buffer.from(pt), m.pt, `message ${i}`);
    }
  });

  it(`${MESSAGES} messages sealed with @hpke/core open here`, async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const kp = X25519KeyPair.generate();
      const recipientPublicKey = await suite.kem.deserializePublicKey(kp.publicKey.raw);
      const m = message(i);
      const { ct, enc } = await suite.seal({ recipientPublicKey, info: m.info }, m.pt, m.aad);
      assert.deepEqual(openBase(Buffer.from(enc), kp, m.info, m.aad, Buffer.from(ct)), m.pt, `message ${i}`);
    }
  });

  it("multi-message contexts and exports agree in both directions", async () => {
    const kp = X25519KeyPair.generate();
    const recipientPublicKey = await suite.kem.deserializePublicKey(kp.publicKey.raw);
    const recipientKey = await suite.kem.deserializePrivateKey(kp.exportSecret());
    const ctxInfo = Buffer.from("people interop");

    // @hpke/core sends, we receive.
    const theirSender = await suite.createSenderContext({ recipientPublicKey, info: ctxInfo });
    const ourRecipient = setupBaseR(Buffer.from(theirSender.enc), kp, ctxInfo);
    // We send, @hpke/core receives.
    const { enc, ctx: ourSender } = setupBaseS(kp.publicKey, ctxInfo);
    const theirRecipient = await suite.createRecipientContext({ recipientKey, enc, info: ctxInfo });

    for (let i = 0; i < MESSAGES; i++) {
      const m = message(i);
      const ct1 = Buffer.from(await theirSender.seal(m.pt, m.aad));
      assert.deepEqual(ourRecipient.open(m.aad, ct1), m.pt, `their seal ${i}`);
      const ct2 = ourSender.seal(m.aad, m.pt);
      assert.deepEqual(Buffer.from(await theirRecipient.open(ct2, m.aad)), m.pt, `our seal ${i}`);
    }
    for (const L of [0, 1, 16, 32]) {
      const exporterContext = randomBytes(L);
      const ours1 = ourRecipient.export(exporterContext, L);
      assert.deepEqual(
        Buffer.from(await theirSender.export(exporterContext, L)),
        ours1,
        `export L=${L} (their sender)`,
      );
      const ours2 = ourSender.export(exporterContext, L);
      assert.deepEqual(
        Buffer.from(await theirRecipient.export(exporterContext, L)),
        ours2,
        `export L=${L} (our sender)`,
      );
    }
  });

  it("@hpke/core refuses what we refuse: a tampered ciphertext from us", async () => {
    const kp = X25519KeyPair.generate();
    const recipientKey = await suite.kem.deserializePrivateKey(kp.exportSecret());
    const { enc, ciphertext } = sealBase(kp.publicKey, info, EMPTY, Buffer.from("hello"));
    ciphertext[0] = ciphertext[0]! ^ 1;
    await assert.rejects(suite.open({ recipientKey, enc, info }, ciphertext));
    throwsPeople(() => openBase(enc, kp, info, EMPTY, ciphertext), "PEOPLE_DECRYPT_FAILED", "tampered");
  });
});

describe("HPKE: properties (fast-check)", () => {
  const kpR = X25519KeyPair.generate();
  const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

  it("open(seal(x)) === x for random aad, plaintext and info", () => {
    fc.assert(
      fc.property(bytes(64), bytes(1024), bytes(64), (aad, pt, ctxInfo) => {
        const { enc, ciphertext } = sealBase(kpR.publicKey, ctxInfo, aad, pt);
        assert.equal(ciphertext.byteLength, pt.byteLength + 16);
        assert.deepEqual(openBase(enc, kpR, ctxInfo, aad, ciphertext), pt);
      }),
      { numRuns: 200 },
    );
  });

  it("a context carries a random series of messages through in order", () => {
    fc.assert(
      fc.property(
        bytes(32),
        fc.array(fc.tuple(bytes(32), bytes(256)), { maxLength: 12 }),
        (ctxInfo, msgs) => {
          const { enc, ctx } = setupBaseS(kpR.publicKey, ctxInfo);
          const cts = msgs.map(([aad, pt]) => ctx.seal(aad, pt));
          const ctxR = setupBaseR(enc, kpR, ctxInfo);
          msgs.forEach(([aad, pt], i) => assert.deepEqual(ctxR.open(aad, cts[i]!), pt));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("random enc and ciphertext bytes only ever throw a PeopleError", () => {
    const encArb = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom(...Object.values(LOW_ORDER_POINTS).map((h) => hex(h))),
      fc.constant(hex(V.enc)),
    );
    fc.assert(
      fc.property(
        encArb,
        fc.uint8Array({ maxLength: 96 }),
        bytes(16),
        bytes(16),
        (encBytes, ctBytes, ctxInfo, aad) => {
          assert.throws(
            () => setupBaseR(encBytes, kpR, ctxInfo).open(aad, ctBytes),
            (e: unknown) => {
              assert.ok(e instanceof PeopleError, `not a PeopleError: ${String(e)}`);
              assert.ok(e.code === "PEOPLE_DECRYPT_FAILED" || e.code === "PEOPLE_BAD_KEY", e.code);
              return true;
            },
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
