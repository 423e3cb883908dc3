import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { PeopleError, type ErrorCode } from "../../src/people/errors.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { b64u } from "../../src/people/protocol/bytes.js";
import { DEFAULT_GRACE_MS, DeviceIdentity } from "../../src/people/protocol/device-identity.js";
import {
  MAX_CLOCK_SKEW_MS,
  MAX_OUTER,
  MAX_TTL_MS,
  MemoryReplayGuard,
  decryptInner,
  openOuter,
  parseInnerFrame,
  sealMessage,
  verifyMessage,
  type OpenedOuter,
  type VerifiedMessage,
} from "../../src/people/protocol/envelope.js";
import { newMessageId } from "../../src/people/protocol/ids.js";
import { X25519KeyPair } from "../../src/people/protocol/keys.js";
import { contentSchema, type MessageContent } from "../../src/people/protocol/messages.js";
import { paddedLength } from "../../src/people/protocol/padding.js";
import {
  DAY,
  HOUR_MS,
  copyFor,
  expectCode,
  flipByte,
  makeAccount,
  makeServer,
  peopleErrorOf,
  seal,
  sealText,
  type Account,
  type Server,
} from "../helpers/protocol-fixtures.js";

const NOW = Date.UTC(2030, 5, 1, 12);

/** The failures openOuter documents ("Every failure is ..."), plus the size cap checked first. */
const OUTER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "PEOPLE_BAD_ENVELOPE",
  "PEOPLE_UNKNOWN_KEY",
  "PEOPLE_DECRYPT_FAILED",
  "PEOPLE_EXPIRED",
  "PEOPLE_TOO_LARGE",
  "PEOPLE_UNSUPPORTED_VERSION",
]);

function read(
  outer: Buffer,
  server: Server,
  device: DeviceIdentity,
  sender: DeviceIdentity,
  o: { self: PeopleAddress; now?: number; replay?: MemoryReplayGuard },
): VerifiedMessage {
  const now = o.now ?? NOW;
  const opened = openOuter(outer, server.lookup, now);
  const unverified = decryptInner(opened.inner, (id) => device.decryptionKey(id));
  return verifyMessage(unverified, sender.head.signKey, {
    self: o.self,
    now,
    replay: o.replay ?? new MemoryReplayGuard(),
  });
}

function id16(): string {
  return newMessageId();
}

function key32(): string {
  return b64u(randomBytes(32));
}

const blob = (): Extract<MessageContent, { type: "attachment" }>["blob"] => ({
  server: "a.test",
  id: b64u(randomBytes(32)),
  key: key32(),
  hash: key32(),
  mime: "image/png",
  size: 12345,
  name: "cat.png",
  width: 640,
  height: 480,
});

/** One valid example of every content type in messages.ts. */
const EXAMPLES: MessageContent[] = [
  { type: "text", body: "hello", html: "<b>hello</b>", reply_to: id16() },
  { type: "text", body: "lovely", in_reply_to_post: { author: "jane@a.test", post_id: id16() } },
  { type: "edit", target: id16(), body: "hello again" },
  { type: "reaction", target: id16(), key: "👍" },
  { type: "redaction", target: id16(), reason: "typo" },
  { type: "receipt", targets: [id16(), id16()] },
  { type: "typing", active: true, timeout_ms: 30_000 },
  { type: "attachment", blob: blob(), thumbnail: blob(), caption: "a cat", reply_to: id16() },
  {
    type: "group_key",
    group: id16(),
    epoch: 3,
    key: key32(),
    members: ["jane@a.test", "joe@b.test"],
    name: "Weekend hikers",
  },
  { type: "post_notice", author: "jane@a.test", group: id16(), post: id16(), epoch: 3 },
  { type: "post_reaction", post: { author: "jane@a.test", post_id: id16() }, key: "👍" },
  { type: "rt_offer", session: id16(), eph: key32(), media: "data" },
  {
    type: "rt_offer",
    session: id16(),
    media: "video",
    sdp: "v=0\r\n",
    dtls_fingerprint: `sha-256 ${Array.from({ length: 32 }, () => "AB").join(":")}`,
  },
  { type: "rt_answer", session: id16(), eph: key32(), direct: "ws://192.0.2.1:7368" },
  {
    type: "rt_answer",
    session: id16(),
    sdp: "v=0\r\n",
    dtls_fingerprint: `sha-512 ${Array.from({ length: 64 }, () => "0f").join(":")}`,
  },
  {
    type: "rt_candidate",
    session: id16(),
    candidates: [
      { candidate: "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host", mid: "0", index: 0 },
      { candidate: "" },
    ],
  },
  { type: "rt_frame", session: id16(), frame: b64u(randomBytes(64)) },
  { type: "rt_hangup", session: id16(), reason: "busy" },
  { type: "move_notice", notice: { body: "e30", sig: "x".repeat(86) } },
  { type: "delivery_token", token: b64u(randomBytes(24)), expires: NOW + DAY },
  { type: "device_link", document: JSON.stringify({ people_link_request: { v: 1 } }) },
];

describe("sealed envelopes", () => {
  let jane: Account;
  let joe: Account;
  let bob: Account;
  let serverA: Server;
  let serverB: Server;
  let janeDev: DeviceIdentity;
  let janeOther: DeviceIdentity;

  before(() => {
    jane = makeAccount("jane@a.test", NOW - DAY, { devices: 2 });
    joe = makeAccount("joe@b.test", NOW - DAY, { devices: 3 });
    bob = makeAccount("bob@b.test", NOW - DAY, { devices: 1 });
    serverA = makeServer("a.test", NOW);
    serverB = makeServer("b.test", NOW);
    [janeDev, janeOther] = jane.devices as [DeviceIdentity, DeviceIdentity];
  });

  describe("delivery", () => {
    it("Jane (2 devices) to Joe (3 devices): every Joe device reads the same message, and Jane's other device gets its copy", () => {
      const sealed = seal({
        from: jane,
        device: janeDev,
        copies: [copyFor(joe, serverB), copyFor(jane, serverA, [janeOther])],
        to: [joe.address],
        body: "Hi Joe",
        now: NOW,
      });
      assert.equal(sealed.copies.length, 2);
      const [toJoe, toJane] = sealed.copies as [(typeof sealed.copies)[0], (typeof sealed.copies)[0]];
      assert.equal(toJoe.address, joe.address);
      assert.equal(toJane.address, jane.address);
      assert.notEqual(toJoe.envelopeId, toJane.envelopeId);

      // Joe's server opens its copy and learns only recipient, expiry and envelope id.
      const opened = openOuter(toJoe.outer, serverB.lookup, NOW);
      assert.equal(opened.recipient, joe.address);
      assert.equal(opened.envelopeId, toJoe.envelopeId);
      assert.equal(opened.expiry, NOW + DAY);
      assert.equal(opened.deliveryToken, null);
      // Jane's copy is for her own server, not Joe's.
      expectCode(() => openOuter(toJane.outer, serverB.lookup, NOW), "PEOPLE_UNKNOWN_KEY");

      const seen: VerifiedMessage[] = [];
      for (const device of joe.devices) {
        const m = read(toJoe.outer, serverB, device, janeDev, { self: joe.address });
        assert.deepEqual(m.content, { type: "text", body: "Hi Joe" });
        assert.equal(m.from, jane.address);
        assert.equal(m.device, janeDev.device);
        assert.equal(m.id, sealed.messageId);
        assert.deepEqual(m.to, [joe.address]);
        assert.equal(m.ts, NOW);
        assert.equal(m.exp, NOW + DAY);
        seen.push(m);
      }
      assert.ok(seen.every((m) => JSON.stringify(m) === JSON.stringify(seen[0])));

      // Jane's other device reads the copy sealed to her own server, as a message from herself.
      const openedA = openOuter(toJane.outer, serverA.lookup, NOW);
      assert.equal(openedA.recipient, jane.address);
      const mine = read(toJane.outer, serverA, janeOther, janeDev, { self: jane.address });
      assert.deepEqual(mine, seen[0]);
      // Joe's devices have no wrap in Jane's copy, and Jane's other device none in Joe's.
      expectCode(
        () => decryptInner(openedA.inner, (id) => joe.devices[0]!.decryptionKey(id)),
        "PEOPLE_UNKNOWN_KEY",
      );
      expectCode(() => decryptInner(opened.inner, (id) => janeOther.decryptionKey(id)), "PEOPLE_UNKNOWN_KEY");
    });

    it("a delivery token travels in the outer layer", () => {
      const token = randomBytes(40);
      const sealed = seal({
        from: jane,
        copies: [{ ...copyFor(joe, serverB), deliveryToken: token }],
        now: NOW,
      });
      const opened = openOuter(sealed.copies[0]!.outer, serverB.lookup, NOW);
      assert.ok(opened.deliveryToken?.equals(token));
    });

    for (const content of EXAMPLES) {
      it(`content type ${content.type} round-trips`, () => {
        assert.ok(contentSchema.safeParse(content).success, "the example is valid");
        const outer = sealText(jane, joe, serverB, NOW, { device: janeDev, content });
        const m = read(outer, serverB, joe.devices[1]!, janeDev, { self: joe.address });
        assert.deepEqual(m.content, content);
      });
    }

    it("the examples cover every content type", () => {
      const options = (contentSchema as unknown as { options: { shape: { type: { value: string } } }[] })
        .options;
      const types = options.map((o) => o.shape.type.value).sort();
      assert.deepEqual([...new Set(EXAMPLES.map((e) => e.type))].sort(), types);
    });

    it("refuses a direct endpoint other than ws(s)://host:port, and non-canonical group addresses", () => {
      const answer = (direct: string) =>
        contentSchema.safeParse({ type: "rt_answer", session: id16(), eph: key32(), direct }).success;
      for (const ok of ["ws://192.0.2.1:7368", "wss://rt.a.test:443", "ws://[2001:db8::1]:9000"])
        assert(answer(ok), ok);
      for (const bad of [
        "http://192.0.2.1:7368",
        "ws://192.0.2.1",
        "ws://192.0.2.1:7368/x",
        "ws://192.0.2.1:7368?x",
        "ws://u:p@192.0.2.1:7368",
        "ws://192.0.2.1:70000",
        "ws://192.0.2.1:7368\ndirect ws://x:1",
        `ws://${"a".repeat(250)}:1`,
      ])
        assert(!answer(bad), bad);
      const key = { type: "group_key", group: id16(), epoch: 0, key: key32() };
      assert(!contentSchema.safeParse({ ...key, members: ["Jane@A.test"] }).success);
      assert(!contentSchema.safeParse({ ...key, members: ["jane@a.test"], name: "" }).success);
      assert(
        !contentSchema.safeParse({
          type: "post_notice",
          author: "Jane@a.test",
          group: id16(),
          post: id16(),
          epoch: 0,
        }).success,
      );
      assert(
        !contentSchema.safeParse({ type: "rt_frame", session: id16(), frame: "a".repeat(48 * 1024 + 4) })
          .success,
      );
    });
  });

  describe("tampering", () => {
    let outer: Buffer;
    let single: Buffer;
    let solo: Account;

    before(() => {
      outer = sealText(jane, joe, serverB, NOW, { device: janeDev, body: "tamper with me" });
      solo = makeAccount("solo@b.test", NOW - DAY, { devices: 1 });
      single = sealText(jane, solo, serverB, NOW, { device: janeDev, body: "tamper with me" });
    });

    it("the untampered envelopes open", () => {
      read(outer, serverB, joe.devices[0]!, janeDev, { self: joe.address });
      read(single, serverB, solo.devices[0]!, janeDev, { self: solo.address });
      assert.ok(outer.length > 500 && outer.length < 4096, `outer is ${outer.length} bytes`);
    });

    for (const mask of [0xff, 0x01, 0x80]) {
      it(`flipping any byte of the outer envelope (xor 0x${mask.toString(16)}) fails with a documented PeopleError`, () => {
        for (let i = 0; i < outer.length; i++) {
          let err: unknown;
          try {
            openOuter(flipByte(outer, i, mask), serverB.lookup, NOW);
          } catch (e) {
            err = e;
          }
          assert.ok(err instanceof PeopleError, `byte ${i}: ${err === undefined ? "accepted" : String(err)}`);
          assert.ok(OUTER_CODES.has(err.code), `byte ${i}: ${err.code}`);
        }
      });
    }

    it("truncating or extending the outer envelope fails with a PeopleError", () => {
      for (let n = 0; n < outer.length; n++) {
        const err = peopleErrorOf(() => openOuter(outer.subarray(0, n), serverB.lookup, NOW));
        assert.ok(err && OUTER_CODES.has(err.code), `truncated to ${n}: ${err?.code}`);
      }
      for (const extra of [1, 16, 1000]) {
        const err = peopleErrorOf(() =>
          openOuter(Buffer.concat([outer, Buffer.alloc(extra)]), serverB.lookup, NOW),
        );
        assert.ok(err && OUTER_CODES.has(err.code), `extended by ${extra}: ${err?.code}`);
      }
    });

    function innerOf(sealedOuter: Buffer): Buffer {
      return Buffer.from(openOuter(sealedOuter, serverB.lookup, NOW).inner);
    }

    function readInner(inner: Buffer, device: DeviceIdentity, self: PeopleAddress): VerifiedMessage {
      const u = decryptInner(inner, (id) => device.decryptionKey(id));
      return verifyMessage(u, janeDev.head.signKey, { self, now: NOW, replay: new MemoryReplayGuard() });
    }

    for (const mask of [0xff, 0x01, 0x80]) {
      it(`flipping any byte of a one-device inner envelope (xor 0x${mask.toString(16)}) fails with a PeopleError`, () => {
        const inner = innerOf(single);
        readInner(inner, solo.devices[0]!, solo.address);
        for (let i = 0; i < inner.length; i++) {
          let err: unknown;
          try {
            readInner(flipByte(inner, i, mask), solo.devices[0]!, solo.address);
          } catch (e) {
            err = e;
          }
          assert.ok(err instanceof PeopleError, `byte ${i}: ${err === undefined ? "accepted" : String(err)}`);
        }
      });
    }

    it("flipping any byte of a three-device inner envelope fails for the device it concerns, and only with PeopleErrors", () => {
      const inner = innerOf(outer);
      const frame = parseInnerFrame(inner);
      const wrapsStart = 5 + 32 + 2;
      const wrapsEnd = wrapsStart + frame.wraps.length * 56;
      for (let i = 0; i < inner.length; i++) {
        const flipped = flipByte(inner, i);
        const failures = joe.devices.map((d) => peopleErrorOf(() => readInner(flipped, d, joe.address)));
        if (i >= wrapsStart && i < wrapsEnd) {
          // A wrap belongs to one device: that device must notice.
          const owner = Math.floor((i - wrapsStart) / 56);
          assert.ok(failures[owner], `byte ${i} (wrap ${owner}) accepted by its device`);
        } else {
          assert.ok(
            failures.every((f) => f !== undefined),
            `byte ${i} accepted by some device`,
          );
        }
      }
    });

    it("truncating or extending the inner envelope fails with a PeopleError", () => {
      const inner = innerOf(single);
      for (let n = 0; n < inner.length; n++) {
        assert.ok(
          peopleErrorOf(() => readInner(inner.subarray(0, n), solo.devices[0]!, solo.address)),
          `${n}`,
        );
      }
      for (const extra of [1, 16, 1000]) {
        const longer = Buffer.concat([inner, Buffer.alloc(extra)]);
        assert.ok(
          peopleErrorOf(() => readInner(longer, solo.devices[0]!, solo.address)),
          `+${extra}`,
        );
      }
    });

    it("an outer envelope with a low-order HPKE enc fails with a documented code", () => {
      // enc = 0 (a low-order point): X25519 yields the all-zero secret, which RFC 9180 refuses.
      const bad = Buffer.from(outer);
      bad.fill(0, 5 + 8, 5 + 8 + 32);
      const err = peopleErrorOf(() => openOuter(bad, serverB.lookup, NOW));
      assert.ok(err, "refused");
      assert.ok(
        OUTER_CODES.has(err.code),
        `openOuter failed with ${err.code}, which its contract does not list`,
      );
    });

    it("an oversize outer envelope is refused before any work", () => {
      expectCode(() => openOuter(Buffer.alloc(MAX_OUTER + 1), serverB.lookup, NOW), "PEOPLE_TOO_LARGE");
    });
  });

  describe("refusals", () => {
    it("a message whose `to` does not name the reader is PEOPLE_WRONG_RECIPIENT", () => {
      // Sealed to Joe's devices, but signed as addressed to Bob only.
      const outer = sealText(jane, joe, serverB, NOW, { device: janeDev, to: [bob.address] });
      expectCode(
        () => read(outer, serverB, joe.devices[0]!, janeDev, { self: joe.address }),
        "PEOPLE_WRONG_RECIPIENT",
      );
      // The same bytes are fine for the account they name.
      read(outer, serverB, joe.devices[0]!, janeDev, { self: bob.address });
    });

    it("another server's key lookup is PEOPLE_UNKNOWN_KEY; the right id with the wrong key is PEOPLE_DECRYPT_FAILED", () => {
      const outer = sealText(jane, joe, serverB, NOW);
      expectCode(() => openOuter(outer, serverA.lookup, NOW), "PEOPLE_UNKNOWN_KEY");
      const wrong = X25519KeyPair.generate();
      expectCode(
        () => openOuter(outer, (id) => (id.equals(serverB.envelopeKey.cert.keyId) ? wrong : undefined), NOW),
        "PEOPLE_DECRYPT_FAILED",
      );
      expectCode(() => openOuter(outer, () => serverA.envelopeKey.key, NOW), "PEOPLE_DECRYPT_FAILED");
    });

    it("an expired outer envelope is PEOPLE_EXPIRED", () => {
      const outer = sealText(jane, joe, serverB, NOW, { ttlMs: HOUR_MS });
      openOuter(outer, serverB.lookup, NOW + HOUR_MS - 1);
      expectCode(() => openOuter(outer, serverB.lookup, NOW + HOUR_MS), "PEOPLE_EXPIRED");
      expectCode(() => openOuter(outer, serverB.lookup, NOW + 10 * DAY), "PEOPLE_EXPIRED");
    });

    it("an expired message is PEOPLE_EXPIRED at the device", () => {
      const outer = sealText(jane, joe, serverB, NOW, { ttlMs: HOUR_MS });
      const opened = openOuter(outer, serverB.lookup, NOW);
      const u = decryptInner(opened.inner, (id) => joe.devices[0]!.decryptionKey(id));
      const sender = janeKey();
      const replay = new MemoryReplayGuard();
      expectCode(
        () => verifyMessage(u, sender, { self: joe.address, now: NOW + HOUR_MS, replay }),
        "PEOPLE_EXPIRED",
      );
      verifyMessage(u, sender, { self: joe.address, now: NOW + HOUR_MS - 1, replay });
    });

    function janeKey(): DeviceIdentity["head"]["signKey"] {
      return janeDev.head.signKey;
    }

    it("a replayed message is PEOPLE_REPLAYED, and failed checks leave the guard untouched", () => {
      const outer = sealText(jane, joe, serverB, NOW);
      const opened = openOuter(outer, serverB.lookup, NOW);
      const u = decryptInner(opened.inner, (id) => joe.devices[0]!.decryptionKey(id));
      const replay = new MemoryReplayGuard();
      const o = { self: joe.address, now: NOW, replay };
      // Failures for other reasons first: none of them may mark the id as seen.
      expectCode(() => verifyMessage(u, janeOther.head.signKey, o), "PEOPLE_BAD_SIGNATURE");
      expectCode(() => verifyMessage(u, janeKey(), { ...o, self: bob.address }), "PEOPLE_WRONG_RECIPIENT");
      expectCode(() => verifyMessage(u, janeKey(), { ...o, now: NOW + DAY }), "PEOPLE_EXPIRED");
      expectCode(
        () => verifyMessage(u, janeKey(), { ...o, now: NOW - MAX_CLOCK_SKEW_MS - 1 }),
        "PEOPLE_NOT_YET_VALID",
      );
      verifyMessage(u, janeKey(), o);
      expectCode(() => verifyMessage(u, janeKey(), o), "PEOPLE_REPLAYED");
      // Another device of Joe reading the same message with the same (account-wide) guard: replay too.
      const u2 = decryptInner(opened.inner, (id) => joe.devices[2]!.decryptionKey(id));
      expectCode(() => verifyMessage(u2, janeKey(), o), "PEOPLE_REPLAYED");
      // A different message passes.
      const other = openOuter(sealText(jane, joe, serverB, NOW), serverB.lookup, NOW);
      verifyMessage(
        decryptInner(other.inner, (id) => joe.devices[0]!.decryptionKey(id)),
        janeKey(),
        o,
      );
    });

    it("a message from too far in the future is PEOPLE_NOT_YET_VALID; within the allowed skew it is fine", () => {
      const later = NOW + MAX_CLOCK_SKEW_MS + 60_000;
      const outer = sealText(jane, joe, serverB, later);
      expectCode(
        () => read(outer, serverB, joe.devices[0]!, janeDev, { self: joe.address }),
        "PEOPLE_NOT_YET_VALID",
      );
      const slightly = sealText(jane, joe, serverB, NOW + MAX_CLOCK_SKEW_MS - 1000);
      read(slightly, serverB, joe.devices[0]!, janeDev, { self: joe.address });
    });

    it("an outer expiry beyond the longest lifetime is refused", () => {
      const far = sealText(jane, joe, serverB, NOW + 2 * MAX_CLOCK_SKEW_MS, { ttlMs: MAX_TTL_MS });
      expectCode(() => openOuter(far, serverB.lookup, NOW), "PEOPLE_BAD_ENVELOPE");
      expectCode(() => sealText(jane, joe, serverB, NOW, { ttlMs: MAX_TTL_MS + 1 }), "PEOPLE_BAD_REQUEST");
      expectCode(() => sealText(jane, joe, serverB, NOW, { ttlMs: 0 }), "PEOPLE_BAD_REQUEST");
    });

    it("verifying with another device's key is PEOPLE_BAD_SIGNATURE", () => {
      const outer = sealText(jane, joe, serverB, NOW, { device: janeDev });
      expectCode(
        () => read(outer, serverB, joe.devices[0]!, janeOther, { self: joe.address }),
        "PEOPLE_BAD_SIGNATURE",
      );
      expectCode(
        () => read(outer, serverB, joe.devices[0]!, joe.devices[0]!, { self: joe.address }),
        "PEOPLE_BAD_SIGNATURE",
      );
    });

    it("a device with no wrap is PEOPLE_UNKNOWN_KEY", () => {
      const late = DeviceIdentity.create({ address: joe.address, accountKey: joe.accountKey, now: NOW });
      const outer = sealText(jane, joe, serverB, NOW);
      expectCode(() => read(outer, serverB, late, janeDev, { self: joe.address }), "PEOPLE_UNKNOWN_KEY");
    });

    it("mail sealed to a retired key is readable within the grace period and not after erasure", () => {
      const reader = makeAccount("joe@b.test", NOW - DAY, { devices: 1, accountKey: joe.accountKey });
      const dev = reader.devices[0]!;
      const outer = sealText(jane, reader, serverB, NOW);
      const rotatedAt = NOW + HOUR_MS;
      dev.rotate(reader.accountKey, rotatedAt);
      const opened = openOuter(outer, serverB.lookup, NOW);
      const readNow = (): string => {
        const u = decryptInner(opened.inner, (id) => dev.decryptionKey(id));
        const m = verifyMessage(u, janeDev.head.signKey, {
          self: joe.address,
          now: NOW,
          replay: new MemoryReplayGuard(),
        });
        return m.content.type === "text" ? m.content.body : "";
      };
      assert.equal(readNow(), "hello");
      dev.eraseExpiredKeys(rotatedAt + DEFAULT_GRACE_MS - 1);
      assert.equal(readNow(), "hello");
      assert.equal(dev.eraseExpiredKeys(rotatedAt + DEFAULT_GRACE_MS), 1);
      expectCode(readNow, "PEOPLE_UNKNOWN_KEY");
      // Mail sealed to the new key still reads.
      const fresh = sealText(jane, reader, serverB, NOW);
      read(fresh, serverB, dev, janeDev, { self: joe.address });
    });
  });

  describe("what the server and the network see", () => {
    function outerFor(body: string): Buffer {
      return sealText(jane, joe, serverB, NOW, { device: janeDev, body });
    }

    it("bodies of 1 and 100 bytes give envelopes of the same size; 400 and 2000 bytes land in larger buckets", () => {
      const sizes = new Map([1, 100, 400, 2000].map((n) => [n, outerFor("x".repeat(n)).length]));
      assert.equal(sizes.get(1), sizes.get(100));
      // Same body length, other text: same size.
      assert.equal(outerFor("y").length, sizes.get(1));
      assert.ok(sizes.get(2000)! > sizes.get(400)!);
      assert.ok(sizes.get(400)! >= sizes.get(100)!);
      // Every size difference is a whole bucket difference.
      const overhead = sizes.get(1)! - 512;
      for (const [, size] of sizes) {
        const padded = size - overhead;
        assert.equal(padded, paddedLength(padded), `${size} is not a bucket boundary plus overhead`);
      }
    });

    it("bodies within one bucket give equal sizes (1, 100, 200 bytes)", () => {
      const sizes = [1, 100, 200].map((n) => outerFor("z".repeat(n)).length);
      assert.deepEqual(new Set(sizes).size, 1, `sizes ${sizes.join(", ")}`);
    });

    it("the inner envelope a server stores contains neither the sender's address nor the body", () => {
      const body = "a very distinctive secret body text 1234567890";
      const outer = outerFor(body);
      const opened: OpenedOuter = openOuter(outer, serverB.lookup, NOW);
      for (const needle of [jane.address, "jane", body, "distinctive", janeDev.device, "people.", '"from"']) {
        assert.ok(!opened.inner.includes(Buffer.from(needle, "utf8")), `inner contains ${needle}`);
        assert.ok(!outer.includes(Buffer.from(needle, "utf8")), `outer contains ${needle}`);
      }
      // The network does not see the recipient either.
      assert.ok(!outer.includes(Buffer.from(joe.address, "utf8")));
      // Nor do the two copies of one message share ciphertext bytes an observer could link.
      const sealed = seal({ from: jane, copies: [copyFor(joe, serverB), copyFor(bob, serverB)], now: NOW });
      const [x, y] = sealed.copies.map((c) => c.outer) as [Buffer, Buffer];
      assert.ok(!x.subarray(45, 77).equals(y.subarray(45, 77)));
      assert.ok(!y.includes(x.subarray(x.length - 32)));
    });

    it("sealing is randomized: the same message sealed twice differs", () => {
      const a = outerFor("same");
      const b = outerFor("same");
      assert.equal(a.length, b.length);
      assert.ok(!a.equals(b));
    });

    it("an outer envelope naming its recipient in a non-canonical form is refused by the server", () => {
      const sealed = sealMessage({
        from: jane.address,
        device: janeDev.device,
        signingKey: janeDev.signingKey,
        to: [joe.address],
        content: { type: "text", body: "x" },
        copies: [{ ...copyFor(joe, serverB), address: "Joe@B.test" as PeopleAddress }],
        now: NOW,
        ttlMs: DAY,
      });
      assert.equal(parseAddress("Joe@B.test"), joe.address);
      expectCode(() => openOuter(sealed.copies[0]!.outer, serverB.lookup, NOW), "PEOPLE_BAD_ENVELOPE");
    });
  });
});
