// Every parser of untrusted bytes or JSON either succeeds or throws a
// PeopleError: never a TypeError, RangeError, SyntaxError or a stack overflow.
import assert from "node:assert/strict";
import fc from "fast-check";
import { PeopleError } from "../../src/people/errors.js";
import { b64u } from "../../src/people/protocol/bytes.js";
import { issueDeviceCert, parseDeviceCert, type DeviceCert } from "../../src/people/protocol/device-cert.js";
import { verifyChain, type PinnedHead } from "../../src/people/protocol/device-chain.js";
import { DAY_MS } from "../../src/people/protocol/device-identity.js";
import type { DeviceId } from "../../src/people/protocol/ids.js";
import { issueDeviceList, parseDeviceList, verifyDeviceList } from "../../src/people/protocol/device-list.js";
import {
  MAX_INNER,
  MAX_OUTER,
  MemoryReplayGuard,
  contentKeyCommitment,
  decryptInner,
  openOuter,
  parseInnerFrame,
  verifyMessage,
} from "../../src/people/protocol/envelope.js";
import { aeadSeal, encapWith, keySchedule } from "../../src/people/protocol/hpke.js";
import { Ed25519KeyPair, X25519KeyPair, type X25519PublicKey } from "../../src/people/protocol/keys.js";
import { onionUrlOf } from "../../src/people/net/discovery.js";
import { MIN_BUCKET, paddedLength } from "../../src/people/protocol/padding.js";
import { verifyEnvelopeKey } from "../../src/people/protocol/server-keys.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import {
  expectCode,
  makeAccount,
  makeServer,
  peopleErrorOf,
  seal,
  copyFor,
} from "../helpers/protocol-fixtures.js";

const RUNS = 200;
const NOW = Date.UTC(2030, 5, 1, 12);

/** Runs fn; a PeopleError or success is fine, anything else fails the property (with the error). */
function okOrPeopleError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof PeopleError) return;
    throw e;
  }
}

function check<A>(a: fc.Arbitrary<A>, fn: (a: A) => void): void;
function check<A, B>(a: fc.Arbitrary<A>, b: fc.Arbitrary<B>, fn: (a: A, b: B) => void): void;
function check(...args: unknown[]): void {
  const property = fc.property as unknown as (...a: unknown[]) => fc.IPropertyWithHooks<unknown[]>;
  fc.assert(property(...args), { numRuns: RUNS });
}

// ---- byte mutations of a valid encoding ----

type Mutation =
  | { kind: "flip"; flips: { pos: number; mask: number }[] }
  | { kind: "truncate"; at: number }
  | { kind: "extend"; tail: Uint8Array }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "overwrite"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    flips: fc.array(fc.record({ pos: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }), {
      minLength: 1,
      maxLength: 8,
    }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), tail: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({
    kind: fc.constant("overwrite" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
);

function mutate(base: Buffer, m: Mutation): Buffer {
  const n = base.length;
  switch (m.kind) {
    case "flip": {
      const out = Buffer.from(base);
      for (const f of m.flips) out[f.pos % n] = out[f.pos % n]! ^ f.mask;
      return out;
    }
    case "truncate":
      return Buffer.from(base.subarray(0, m.at % n));
    case "extend":
      return Buffer.concat([base, m.tail]);
    case "insert": {
      const at = m.at % (n + 1);
      return Buffer.concat([base.subarray(0, at), m.bytes, base.subarray(at)]);
    }
    case "overwrite": {
      const out = Buffer.from(base);
      Buffer.from(m.bytes).copy(out, m.at % n);
      return out;
    }
    case "delete": {
      const at = m.at % n;
      return Buffer.concat([base.subarray(0, at), base.subarray(at + m.length)]);
    }
  }
}

/** A mutation that really changes the bytes (for properties that must then fail). */
function changed(base: Buffer): fc.Arbitrary<Buffer> {
  return mutationArb.map((m) => mutate(base, m)).filter((b) => !b.equals(base));
}

/** Parse mutated JSON text; mutations that are not JSON any more are not the parser's input. */
function mutatedJson(base: unknown): fc.Arbitrary<unknown> {
  const text = Buffer.from(JSON.stringify(base), "utf8");
  return mutationArb
    .map((m) => {
      try {
        return { ok: true as const, value: JSON.parse(mutate(text, m).toString("utf8")) as unknown };
      } catch {
        return { ok: false as const };
      }
    })
    .filter((r) => r.ok)
    .map((r) => (r.ok ? r.value : undefined));
}

/** A copy of a signed-JSON wire object whose base64url `body` bytes are mutated. */
function mutatedBody<W extends { body: string }>(wire: W): fc.Arbitrary<W> {
  const body = Buffer.from(wire.body, "base64url");
  return mutationArb.map((m) => ({ ...wire, body: b64u(mutate(body, m)) }));
}

const DROP = Symbol("drop");

/** Values near `v` that a hostile encoder might put in its place. */
function nearby(v: unknown): fc.Arbitrary<unknown> {
  if (typeof v === "number") {
    return fc.oneof(
      fc.constantFrom(v - 1, v + 1, -v, 0, -1, 2 ** 31, 2 ** 53, 8.64e15 + 1, v + 0.5, 1e308),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
  }
  if (typeof v === "string") {
    return fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.tuple(fc.nat(), fc.string({ maxLength: 4, unit: "binary" })).map(([at, ins]) => {
        const i = at % (v.length + 1);
        return v.slice(0, i) + ins + v.slice(i + 1);
      }),
      fc.constantFrom(v.toUpperCase(), ` ${v}`, v.slice(1), `${v}=`, v.repeat(50)),
    );
  }
  return fc.jsonValue({ maxDepth: 3 });
}

/**
 * A valid body with one to three fields replaced by nearby or arbitrary JSON
 * values, or dropped, sometimes with an extra field: inputs that get past the
 * first schema checks often enough to reach the code behind them.
 */
function fieldwiseBody(body: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(body);
  const edit = fc
    .constantFrom(...keys)
    .chain((k) =>
      fc
        .oneof(
          { weight: 4, arbitrary: nearby(body[k]) },
          { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
          { weight: 1, arbitrary: fc.constant(DROP) },
        )
        .map((v) => [k, v] as const),
    );
  const extra = fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })) },
  );
  return fc.tuple(fc.array(edit, { minLength: 1, maxLength: 3 }), extra).map(([edits, more]) => {
    const out: Record<string, unknown> = { ...body };
    for (const [k, v] of edits) {
      if (v === DROP) delete out[k];
      else out[k] = v;
    }
    if (more) out[more[0]] = more[1];
    return out;
  });
}

/** Mostly-plausible JSON text: the body bytes re-serialized, with some whitespace. */
function bodyBytesOf(value: unknown, spaced: boolean): Buffer {
  return Buffer.from(JSON.stringify(value, null, spaced ? 1 : undefined), "utf8");
}

function decodeBody(wire: { body: string }): Record<string, unknown> {
  return JSON.parse(Buffer.from(wire.body, "base64url").toString("utf8")) as Record<string, unknown>;
}

const anyJson = fc.oneof(fc.jsonValue(), fc.object(), fc.anything({ maxDepth: 3 }));

// ---- a hand-built inner envelope with arbitrary plaintext behind a valid wrap ----

const INNER_HEADER = Buffer.from([0x50, 0x50, 0x4c, 1, 0x49]);
const WRAP_INFO = Buffer.from("people/v1 content-key-wrap");

/**
 * An inner envelope for `device` whose content plaintext is exactly `plaintext`
 * (padded up to at least one bucket), so decryptInner's parsing after the AEAD is reached.
 */
function craftInner(device: X25519PublicKey, plaintext: Buffer, contentKey = Buffer.alloc(32, 7)): Buffer {
  const padded = Buffer.alloc(Math.max(MIN_BUCKET, plaintext.length));
  plaintext.copy(padded);
  const ephemeral = X25519KeyPair.generate();
  const { sharedSecret } = encapWith(ephemeral, device);
  const wrapped = keySchedule(sharedSecret, WRAP_INFO).seal(Buffer.alloc(0), contentKey);
  const ciphertext = aeadSeal(contentKey, Buffer.alloc(12), INNER_HEADER, padded);
  const count = Buffer.alloc(2);
  count.writeUInt16BE(1);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(ciphertext.length);
  return Buffer.concat([
    INNER_HEADER,
    ephemeral.publicKey.raw,
    count,
    device.id,
    wrapped,
    length,
    ciphertext,
  ]);
}

/** The plaintext layout sealMessage uses: u32 length, the signed JSON bytes, the 64-byte signature. */
function signedPlaintext(messageBytes: Buffer, signature: Buffer): Buffer {
  const used = 4 + messageBytes.length + signature.length;
  const out = Buffer.alloc(paddedLength(used));
  out.writeUInt32BE(messageBytes.length, 0);
  messageBytes.copy(out, 4);
  signature.copy(out, 4 + messageBytes.length);
  return out;
}

describe("parsers of untrusted input (properties)", function () {
  this.timeout(60_000);

  const jane = makeAccount("jane@a.test", NOW - 3 * DAY_MS);
  const joe = makeAccount("joe@b.test", NOW - 3 * DAY_MS, { devices: 2 });
  const server = makeServer("b.test", NOW);
  const janeDev = jane.devices[0]!;
  const joeDev = joe.devices[0]!;
  janeDev.rotate(jane.accountKey, NOW - 2 * DAY_MS);
  janeDev.rotate(jane.accountKey, NOW - DAY_MS);
  const sealed = seal({ from: jane, copies: [copyFor(joe, server)], body: "property test", now: NOW });
  const outer = sealed.copies[0]!.outer;
  const inner = Buffer.from(openOuter(outer, server.lookup, NOW).inner);
  const chain = janeDev.chain;
  const certWire = chain[1]!.wire;
  const list = issueDeviceList({
    address: jane.address,
    accountKey: jane.accountKey,
    version: 3,
    issuedAt: NOW,
    heads: [janeDev.head],
    revoked: [{ device: "gone-device" as DeviceId, at: NOW - DAY_MS }],
  });
  const keyWire = server.envelopeKey.cert.wire;
  const identity = server.identity.identityKey;
  const lookupJoe = (id: Buffer): X25519KeyPair | undefined => joeDev.decryptionKey(id);

  /** The full device path on inner bytes: decrypt, then verify when that worked. */
  function readInner(bytes: Buffer): void {
    const u = decryptInner(bytes, lookupJoe);
    verifyMessage(u, janeDev.head.signKey, { self: joe.address, now: NOW, replay: new MemoryReplayGuard() });
  }

  function certChain(cert: DeviceCert, pinned?: PinnedHead): void {
    verifyChain([chain[0]!, cert, ...chain.slice(2)], jane.accountKey.publicKey, pinned);
  }

  it("the seed encodings are valid", () => {
    readInner(inner);
    certChain(parseDeviceCert(certWire));
    verifyDeviceList(parseDeviceList(list.wire), new Map([[janeDev.device, chain]]), {
      address: jane.address,
    });
    verifyEnvelopeKey(keyWire, identity.publicKey, "b.test");
  });

  describe("outer envelope", () => {
    it("random bytes: openOuter fails with a PeopleError", () => {
      check(fc.uint8Array({ maxLength: 2048 }), (a) => {
        assert.ok(peopleErrorOf(() => openOuter(Buffer.from(a), server.lookup, NOW)));
      });
    });

    it("random bytes after a valid header and key id reach the HPKE open and fail with a PeopleError", () => {
      const prefix = outer.subarray(0, 5 + 8);
      check(fc.uint8Array({ maxLength: 2048 }), (a) => {
        assert.ok(peopleErrorOf(() => openOuter(Buffer.concat([prefix, a]), server.lookup, NOW)));
      });
    });

    it("mutations of a real outer envelope fail with a PeopleError", () => {
      check(changed(outer), (b) => {
        assert.ok(peopleErrorOf(() => openOuter(b, server.lookup, NOW)));
      });
    });
  });

  describe("inner envelope", () => {
    it("random bytes: parseInnerFrame and decryptInner throw only PeopleErrors", () => {
      check(fc.uint8Array({ maxLength: 2048 }), (a) => {
        okOrPeopleError(() => parseInnerFrame(Buffer.from(a)));
        assert.ok(peopleErrorOf(() => readInner(Buffer.from(a))));
      });
    });

    it("random bytes behind a valid header: parseInnerFrame and decryptInner throw only PeopleErrors", () => {
      check(fc.uint8Array({ maxLength: 2048 }), (a) => {
        const b = Buffer.concat([inner.subarray(0, 5), a]);
        okOrPeopleError(() => parseInnerFrame(b));
        assert.ok(peopleErrorOf(() => readInner(b)));
      });
    });

    it("mutations of a real inner envelope: parseInnerFrame, decryptInner and verifyMessage throw only PeopleErrors", () => {
      check(changed(inner), (b) => {
        okOrPeopleError(() => parseInnerFrame(b));
        okOrPeopleError(() => readInner(b));
      });
    });

    it("arbitrary plaintext behind a valid wrap: decryptInner throws only PeopleErrors", () => {
      check(fc.uint8Array({ maxLength: 1200 }), fc.option(fc.nat(), { nil: undefined }), (a, len) => {
        const pt = Buffer.from(a.length >= 4 ? a : Buffer.concat([a, Buffer.alloc(4)]));
        if (len !== undefined) pt.writeUInt32BE(len % 2 ** 32, 0);
        okOrPeopleError(() => readInner(craftInner(joeDev.head.encKey, pt)));
      });
    });

    it("arbitrary signed messages behind a valid wrap: decryptInner and verifyMessage throw only PeopleErrors", () => {
      const contentKey = Buffer.alloc(32, 9);
      const valid = {
        v: 1,
        id: sealed.messageId,
        from: jane.address,
        device: janeDev.device,
        ts: NOW,
        exp: NOW + DAY_MS,
        to: [joe.address],
        ck: b64u(contentKeyCommitment(contentKey)),
        content: { type: "text", body: "hi" },
      };
      check(fieldwiseBody(valid), fc.boolean(), (message, spaced) => {
        const bytes = bodyBytesOf(message, spaced);
        const pt = signedPlaintext(bytes, signBytes(janeDev.signingKey, "inner-message", bytes));
        okOrPeopleError(() => readInner(craftInner(joeDev.head.encKey, pt, contentKey)));
      });
    });
  });

  describe("device certificate", () => {
    it("random JSON values: parseDeviceCert throws only PeopleErrors", () => {
      check(anyJson, (v) => okOrPeopleError(() => parseDeviceCert(v)));
    });

    it("mutated wire JSON: parseDeviceCert and verifyChain throw only PeopleErrors", () => {
      check(mutatedJson(certWire), (v) => okOrPeopleError(() => certChain(parseDeviceCert(v))));
    });

    it("mutated body bytes: parseDeviceCert and verifyChain throw only PeopleErrors, and never verify", () => {
      check(mutatedBody(certWire), (w) => {
        if (w.body === certWire.body) return;
        assert.ok(peopleErrorOf(() => certChain(parseDeviceCert(w))));
      });
    });

    it("field-wise random bodies, signed by all three keys: parseDeviceCert and verifyChain throw only PeopleErrors", () => {
      // A two-certificate chain whose device keys the test holds, so edited bodies can be re-signed.
      const k0 = Ed25519KeyPair.generate();
      const k1 = Ed25519KeyPair.generate();
      const base = {
        address: jane.address,
        device: "fuzz-device" as DeviceId,
        accountKey: jane.accountKey,
        newEncKey: X25519KeyPair.generate().publicKey,
        notBefore: NOW - 1000,
        notAfter: NOW + DAY_MS,
      };
      const c0 = issueDeviceCert({ ...base, newSignKey: k0 });
      const c1 = issueDeviceCert({ ...base, newSignKey: k1, previous: { cert: c0, signKey: k0 } });
      verifyChain([c0, c1], jane.accountKey.publicKey);
      check(fieldwiseBody(decodeBody(c1.wire)), fc.boolean(), (body, spaced) => {
        const bytes = bodyBytesOf(body, spaced);
        const w = {
          body: b64u(bytes),
          sig_account: b64u(signBytes(jane.accountKey, "device-cert", bytes)),
          sig_prev: b64u(signBytes(k0, "device-cert", bytes)),
          sig_self: b64u(signBytes(k1, "device-cert", bytes)),
        };
        okOrPeopleError(() => verifyChain([c0, parseDeviceCert(w)], jane.accountKey.publicKey));
        okOrPeopleError(() =>
          verifyChain([parseDeviceCert(w)], jane.accountKey.publicKey, { seq: 1, hash: c1.hash }),
        );
      });
    });

    it("random subsets, orders and pins of a real chain: verifyChain throws only PeopleErrors", () => {
      check(
        fc.shuffledSubarray([...chain]),
        fc.option(fc.record({ seq: fc.integer({ min: -1, max: 5 }), which: fc.nat() }), { nil: undefined }),
        (certs, p) => {
          const pinned = p ? { seq: p.seq, hash: chain[p.which % chain.length]!.hash } : undefined;
          okOrPeopleError(() => verifyChain(certs, jane.accountKey.publicKey, pinned));
        },
      );
    });
  });

  describe("device list", () => {
    const chains = new Map([[janeDev.device, chain]]);
    const verifyList = (v: unknown): void => {
      verifyDeviceList(parseDeviceList(v), chains, { address: jane.address });
    };

    it("random JSON values: parseDeviceList throws only PeopleErrors", () => {
      check(anyJson, (v) => okOrPeopleError(() => parseDeviceList(v)));
    });

    it("mutated wire JSON: parseDeviceList and verifyDeviceList throw only PeopleErrors", () => {
      check(mutatedJson(list.wire), (v) => okOrPeopleError(() => verifyList(v)));
    });

    it("mutated body bytes: parseDeviceList and verifyDeviceList throw only PeopleErrors, and never verify", () => {
      check(mutatedBody(list.wire), (w) => {
        if (w.body === list.wire.body) return;
        assert.ok(peopleErrorOf(() => verifyList(w)));
      });
    });

    it("field-wise random bodies, validly signed: parse and verify throw only PeopleErrors", () => {
      check(fieldwiseBody(decodeBody(list.wire)), fc.boolean(), (body, spaced) => {
        const bytes = bodyBytesOf(body, spaced);
        okOrPeopleError(() =>
          verifyList({ body: b64u(bytes), sig: b64u(signBytes(jane.accountKey, "device-list", bytes)) }),
        );
      });
    });
  });

  describe("server envelope key", () => {
    const verify = (v: unknown): unknown => verifyEnvelopeKey(v, identity.publicKey, "b.test");

    it("random JSON values: verifyEnvelopeKey throws only PeopleErrors", () => {
      check(anyJson, (v) => okOrPeopleError(() => verify(v)));
    });

    it("mutated wire JSON: verifyEnvelopeKey throws only PeopleErrors", () => {
      check(mutatedJson(keyWire), (v) => okOrPeopleError(() => verify(v)));
    });

    it("mutated body bytes under the original signature never verify", () => {
      check(mutatedBody(keyWire), (w) => {
        if (w.body === keyWire.body) return;
        assert.ok(peopleErrorOf(() => verify(w)));
      });
    });

    it("arbitrary bodies validly signed by the identity key throw only PeopleErrors", () => {
      check(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
          fc.tuple(fieldwiseBody(decodeBody(keyWire)), fc.boolean()).map(([b, s]) => bodyBytesOf(b, s)),
        ),
        (bytes) => {
          okOrPeopleError(() =>
            verify({ body: b64u(bytes), sig: b64u(signBytes(identity, "server-envelope-key", bytes)) }),
          );
        },
      );
    });
  });

  describe("hostile sizes and shapes (bounded work, no crash)", () => {
    const deepArrays = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);
    const deepObjects = (depth: number): string => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

    it("an outer envelope one byte over the cap is PEOPLE_TOO_LARGE", () => {
      expectCode(() => openOuter(Buffer.alloc(MAX_OUTER + 1, 0x50), server.lookup, NOW), "PEOPLE_TOO_LARGE");
      // At the cap it is read (and fails the AEAD), not refused for size.
      const atCap = Buffer.concat([outer.subarray(0, 45), Buffer.alloc(MAX_OUTER - 45)]);
      expectCode(() => openOuter(atCap, server.lookup, NOW), "PEOPLE_DECRYPT_FAILED");
    });

    it("an inner envelope one byte over the cap is PEOPLE_TOO_LARGE", () => {
      expectCode(() => parseInnerFrame(Buffer.alloc(MAX_INNER + 1)), "PEOPLE_TOO_LARGE");
      expectCode(() => decryptInner(Buffer.alloc(MAX_INNER + 1), lookupJoe), "PEOPLE_TOO_LARGE");
    });

    it("an inner envelope claiming the most wraps, none for this device, is PEOPLE_UNKNOWN_KEY", () => {
      const wraps = Buffer.alloc(1024 * 56, 0xab);
      const count = Buffer.from([0x04, 0x00]);
      const ct = Buffer.alloc(MIN_BUCKET + 16);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(ct.length);
      const b = Buffer.concat([inner.subarray(0, 5 + 32), count, wraps, length, ct]);
      assert.equal(parseInnerFrame(b).wraps.length, 1024);
      expectCode(() => decryptInner(b, lookupJoe), "PEOPLE_UNKNOWN_KEY");
      // One more than allowed is malformed.
      const tooMany = Buffer.concat([
        inner.subarray(0, 5 + 32),
        Buffer.from([0x04, 0x01]),
        wraps,
        Buffer.alloc(56),
        length,
        ct,
      ]);
      expectCode(() => parseInnerFrame(tooMany), "PEOPLE_BAD_ENVELOPE");
    });

    it("100k-deep nesting as a certificate, a list, a key certificate and their bodies is a PeopleError", () => {
      let deepValue: unknown = [];
      for (let i = 0; i < 100_000; i++) deepValue = [deepValue];
      for (const parse of [
        parseDeviceCert,
        parseDeviceList,
        (v: unknown) => verifyEnvelopeKey(v, identity.publicKey, "b.test"),
      ]) {
        assert.ok(peopleErrorOf(() => parse(deepValue)));
        assert.ok(peopleErrorOf(() => parse({ body: deepValue, sig: deepValue })));
      }
      for (const text of [deepArrays(100_000), deepObjects(50_000)]) {
        const bytes = Buffer.from(text);
        // Certificate bodies are capped at 4096 characters: refused for shape.
        expectCode(() => parseDeviceCert({ ...certWire, body: b64u(bytes) }), "PEOPLE_CHAIN_INVALID");
        // A device list body may be large: parsed, then refused by the schema.
        expectCode(() => parseDeviceList({ body: b64u(bytes), sig: list.wire.sig }), "PEOPLE_CHAIN_INVALID");
        // Nested inside a field of an otherwise valid list body.
        const inField = Buffer.from(
          JSON.stringify({ ...decodeBody(list.wire), devices: "X" }).replace('"X"', text),
        );
        expectCode(
          () => parseDeviceList({ body: b64u(inField), sig: list.wire.sig }),
          "PEOPLE_CHAIN_INVALID",
        );
        // A signed envelope key body of that size is refused for shape.
        expectCode(
          () =>
            verifyEnvelopeKey(
              { body: b64u(bytes), sig: b64u(signBytes(identity, "server-envelope-key", bytes)) },
              identity.publicKey,
              "b.test",
            ),
          "PEOPLE_BAD_KEY",
        );
      }
    });

    it("a 100k-deep JSON message behind a valid wrap is PEOPLE_BAD_ENVELOPE", () => {
      for (const text of [deepArrays(100_000), deepObjects(50_000)]) {
        const bytes = Buffer.from(text);
        const pt = signedPlaintext(bytes, signBytes(janeDev.signingKey, "inner-message", bytes));
        expectCode(() => decryptInner(craftInner(joeDev.head.encKey, pt), lookupJoe), "PEOPLE_BAD_ENVELOPE");
      }
    });

    it("a signed message larger than any signed body is refused for size", () => {
      const bytes = Buffer.alloc(300 * 1024, 0x20);
      const pt = signedPlaintext(bytes, Buffer.alloc(64));
      expectCode(() => decryptInner(craftInner(joeDev.head.encKey, pt), lookupJoe), "PEOPLE_BAD_ENVELOPE");
    });

    it("a device list over the device cap is refused", () => {
      const acct = makeAccount("max@a.test", NOW, { devices: 1 });
      const head = acct.devices[0]!.head;
      const body = {
        ...decodeBody(list.wire),
        devices: Array.from({ length: 257 }, (_, i) => ({ device: `d${i}`, seq: 0, hash: b64u(head.hash) })),
      };
      const bytes = Buffer.from(JSON.stringify(body));
      expectCode(
        () =>
          parseDeviceList({ body: b64u(bytes), sig: b64u(signBytes(acct.accountKey, "device-list", bytes)) }),
        "PEOPLE_CHAIN_INVALID",
      );
    });

    it("a chain longer than the cap is refused before any signature is checked", () => {
      const certs = Array.from({ length: 4097 }, () => chain[0]!);
      expectCode(() => verifyChain(certs, Ed25519KeyPair.generate().publicKey), "PEOPLE_CHAIN_INVALID");
    });
  });
});

describe("the onion a server names (properties)", () => {
  const base32 = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz234567".split(""));

  it("anything but a v3 onion host and a port is null, never a thrown error or another URL", () => {
    check(fc.oneof(fc.string(), fc.jsonValue(), fc.string({ unit: "binary" })), (value) => {
      const url = onionUrlOf(value);
      if (url !== null) assert.match(url, /^https:\/\/[a-z2-7]{56}\.onion:\d{1,5}$/);
    });
  });

  it("a v3 onion host and a port become that onion's URL, in lower case", () => {
    check(
      fc.array(base32, { minLength: 56, maxLength: 56 }),
      fc.integer({ min: 1, max: 65535 }),
      (chars, port) => {
        const host = `${chars.join("")}.onion`;
        assert.equal(onionUrlOf(`${host.toUpperCase()}:${port}`), `https://${host}:${port}`);
        assert.equal(onionUrlOf(`${host}:${port}/path`), null);
        assert.equal(onionUrlOf(`${host.slice(1)}:${port}`), null);
      },
    );
  });
});
