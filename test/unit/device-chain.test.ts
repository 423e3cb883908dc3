import assert from "node:assert/strict";
import type { PeopleAddress } from "../../src/people/protocol/address.js";
import { b64u } from "../../src/people/protocol/bytes.js";
import {
  issueDeviceCert,
  parseDeviceCert,
  type DeviceCert,
  type DeviceCertWire,
} from "../../src/people/protocol/device-cert.js";
import { isFork, verifyChain, type PinnedHead } from "../../src/people/protocol/device-chain.js";
import { DAY_MS, DEFAULT_GRACE_MS, DeviceIdentity } from "../../src/people/protocol/device-identity.js";
import {
  issueDeviceList,
  parseDeviceList,
  verifyDeviceList,
  type DeviceList,
  type PinnedAccount,
} from "../../src/people/protocol/device-list.js";
import type { DeviceId } from "../../src/people/protocol/ids.js";
import { Ed25519KeyPair, X25519KeyPair } from "../../src/people/protocol/keys.js";
import { verifyEnvelopeKey } from "../../src/people/protocol/server-keys.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import { expectCode, makeAccount, makeServer } from "../helpers/protocol-fixtures.js";

const T0 = Date.UTC(2030, 0, 1);

/** One device rotated `n` times, a day apart. */
function rotated(n: number): { acct: ReturnType<typeof makeAccount>; dev: DeviceIdentity; now: number } {
  const acct = makeAccount("jane@a.test", T0);
  const dev = acct.devices[0]!;
  let now = T0;
  for (let i = 0; i < n; i++) {
    now += DAY_MS;
    dev.rotate(acct.accountKey, now);
  }
  return { acct, dev, now };
}

/** Re-parse a certificate after editing its wire form. */
function withWire(cert: DeviceCert, edit: (w: DeviceCertWire) => Record<string, unknown>): DeviceCert {
  return parseDeviceCert(edit({ ...cert.wire }));
}

function bodyOf(cert: DeviceCert): Record<string, unknown> {
  return JSON.parse(cert.bodyBytes.toString("utf8")) as Record<string, unknown>;
}

function pin(cert: DeviceCert): PinnedHead {
  return { seq: cert.seq, hash: cert.hash };
}

/** An independent copy of a device's secrets, so two different rotations can be made from one head. */
function clone(dev: DeviceIdentity): DeviceIdentity {
  return DeviceIdentity.importSecrets(dev.exportSecrets());
}

describe("device certificate chain", () => {
  it("a new device has a chain of one that verifies", () => {
    const acct = makeAccount("jane@a.test", T0);
    const dev = acct.devices[0]!;
    assert.equal(dev.chain.length, 1);
    const head = dev.head;
    assert.equal(head.seq, 0);
    assert.equal(head.prevHash, null);
    assert.equal(head.wire.sig_prev, undefined);
    assert.equal(head.address, "jane@a.test");
    assert.ok(head.accountKey.equals(acct.accountKey.publicKey));
    assert.ok(head.signKey.equals(dev.signingKey.publicKey));
    assert.ok(head.encKey.raw.equals(dev.encryptionKey.publicKey.raw));
    const v = verifyChain(dev.chain, acct.accountKey.publicKey);
    assert.equal(v.head, head);
    assert.equal(v.certs.length, 1);
  });

  it("five rotations give seq 0..5, each naming the previous by hash, and verify", () => {
    const { acct, dev } = rotated(5);
    const chain = dev.chain;
    assert.deepEqual(
      chain.map((c) => c.seq),
      [0, 1, 2, 3, 4, 5],
    );
    for (let i = 1; i < chain.length; i++) {
      assert.ok(chain[i]!.prevHash!.equals(chain[i - 1]!.hash), `prev_hash of seq ${i}`);
      assert.equal(chain[i]!.device, dev.device);
      assert.ok(chain[i]!.notBefore >= chain[i - 1]!.notBefore);
      assert.ok(!chain[i]!.signKey.equals(chain[i - 1]!.signKey), "the signing key changes on rotation");
    }
    const v = verifyChain(chain, acct.accountKey.publicKey);
    assert.equal(v.head.seq, 5);
    assert.ok(v.head.signKey.equals(dev.signingKey.publicKey));
    // Verifying from a pinned middle certificate works too.
    assert.equal(verifyChain(chain, acct.accountKey.publicKey, pin(chain[2]!)).head.seq, 5);
    assert.equal(verifyChain(chain.slice(2), acct.accountKey.publicKey, pin(chain[2]!)).head.seq, 5);
    assert.equal(verifyChain(chain.slice(5), acct.accountKey.publicKey, pin(chain[5]!)).head.seq, 5);
  });

  describe("every certificate carries three signatures", () => {
    const { acct, dev } = rotated(5);
    const chain = dev.chain;
    const stranger = Ed25519KeyPair.generate();
    const k = acct.accountKey.publicKey;

    for (const field of ["sig_account", "sig_prev", "sig_self"] as const) {
      it(`removing ${field} of a middle certificate is rejected`, () => {
        const edited = (): DeviceCert =>
          withWire(chain[3]!, (w) => {
            const copy: Record<string, unknown> = { ...w };
            delete copy[field];
            return copy;
          });
        expectCode(edited, "PEOPLE_CHAIN_INVALID");
      });

      it(`replacing ${field} with another key's signature over the same bytes is rejected`, () => {
        const forged = withWire(chain[3]!, (w) => ({
          ...w,
          [field]: b64u(signBytes(stranger, "device-cert", chain[3]!.bodyBytes)),
        }));
        const certs = [...chain.slice(0, 3), forged, ...chain.slice(4)];
        expectCode(() => verifyChain(certs, k), "PEOPLE_BAD_SIGNATURE");
      });
    }

    it("the right keys' signatures made under another label are rejected (domain separation)", () => {
      const a = makeAccount("jane@a.test", T0);
      const dv = a.devices[0]!;
      const prevKey = dv.signingKey;
      const head = dv.rotate(a.accountKey, T0 + DAY_MS);
      const signers = { sig_account: a.accountKey, sig_prev: prevKey, sig_self: dv.signingKey } as const;
      for (const [field, key] of Object.entries(signers)) {
        const sig = b64u(signBytes(key, "device-list", head.bodyBytes));
        const forged = withWire(head, (w) => ({ ...w, [field]: sig }));
        expectCode(
          () => verifyChain([dv.chain[0]!, forged], a.accountKey.publicKey),
          "PEOPLE_BAD_SIGNATURE",
          field,
        );
      }
      verifyChain(dv.chain, a.accountKey.publicKey);
    });

    it("sig_prev on a first certificate is rejected", () => {
      const first = chain[0]!;
      expectCode(
        () => withWire(first, (w) => ({ ...w, sig_prev: chain[1]!.wire.sig_prev })),
        "PEOPLE_CHAIN_INVALID",
      );
    });

    it("a rotation signed by an older (not the previous) device key is rejected", () => {
      // The device key of seq 1 signs seq 3 (instead of seq 2's key): a stolen old key cannot extend the chain.
      const a = makeAccount("jane@a.test", T0);
      const dv = a.devices[0]!;
      dv.rotate(a.accountKey, T0 + DAY_MS);
      const keyOfSeq1 = clone(dv).signingKey;
      dv.rotate(a.accountKey, T0 + 2 * DAY_MS);
      const seq2 = dv.head;
      const newSign = Ed25519KeyPair.generate();
      const bad = issueDeviceCert({
        address: a.address,
        device: dv.device,
        accountKey: a.accountKey,
        newSignKey: newSign,
        newEncKey: X25519KeyPair.generate().publicKey,
        previous: { cert: seq2, signKey: keyOfSeq1 },
        notBefore: T0 + 3 * DAY_MS,
        notAfter: T0 + 5 * DAY_MS,
      });
      expectCode(() => verifyChain([...dv.chain, bad], a.accountKey.publicKey), "PEOPLE_BAD_SIGNATURE");
    });
  });

  it("a chain with a middle certificate dropped is a gap", () => {
    const { acct, dev } = rotated(5);
    const chain = dev.chain;
    const gapped = [...chain.slice(0, 2), ...chain.slice(3)];
    expectCode(() => verifyChain(gapped, acct.accountKey.publicKey), "PEOPLE_CHAIN_GAP");
    // Dropping the first certificate without a pin is a gap as well.
    expectCode(() => verifyChain(chain.slice(1), acct.accountKey.publicKey), "PEOPLE_CHAIN_GAP");
    // Starting after the pinned certificate is a gap.
    expectCode(
      () => verifyChain(chain.slice(4), acct.accountKey.publicKey, pin(chain[2]!)),
      "PEOPLE_CHAIN_GAP",
    );
  });

  it("an empty chain and out-of-order certificates are rejected", () => {
    const { acct, dev } = rotated(3);
    expectCode(() => verifyChain([], acct.accountKey.publicKey), "PEOPLE_CHAIN_INVALID");
    const c = dev.chain;
    expectCode(
      () => verifyChain([c[0]!, c[2]!, c[1]!, c[3]!], acct.accountKey.publicKey),
      "PEOPLE_CHAIN_GAP",
    );
    expectCode(() => verifyChain([c[0]!, c[1]!, c[1]!], acct.accountKey.publicKey), "PEOPLE_CHAIN_INVALID");
  });

  it("a chain mixing two devices of the same account is rejected", () => {
    const acct = makeAccount("jane@a.test", T0, { devices: 2 });
    const [d1, d2] = acct.devices as [DeviceIdentity, DeviceIdentity];
    d1.rotate(acct.accountKey, T0 + DAY_MS);
    expectCode(() => verifyChain([d2.head, d1.head], acct.accountKey.publicKey), "PEOPLE_CHAIN_INVALID");
  });

  it("two different rotations from the same head are a fork", () => {
    const { acct, dev } = rotated(2);
    const other = clone(dev);
    const a = dev.rotate(acct.accountKey, T0 + 3 * DAY_MS);
    const b = other.rotate(acct.accountKey, T0 + 3 * DAY_MS);
    const k = acct.accountKey.publicKey;
    // Each branch verifies on its own: both are validly signed by the account key.
    verifyChain(dev.chain, k);
    verifyChain(other.chain, k);
    assert.equal(a.seq, b.seq);
    assert.ok(a.prevHash!.equals(b.prevHash!));
    assert.ok(isFork(a, b));
    assert.ok(isFork(b, a));
    assert.ok(!isFork(a, a));
    assert.ok(!isFork(dev.chain[1]!, other.chain[1]!), "the shared prefix is not a fork");
    // A client that pinned branch a sees branch b as a fork, and vice versa.
    expectCode(() => verifyChain(other.chain, k, pin(a)), "PEOPLE_CHAIN_FORK");
    expectCode(() => verifyChain(dev.chain, k, pin(b)), "PEOPLE_CHAIN_FORK");
    // Branch b extended further still does not pass a pin of a.
    other.rotate(acct.accountKey, T0 + 4 * DAY_MS);
    expectCode(() => verifyChain(other.chain, k, pin(a)), "PEOPLE_CHAIN_FORK");
    // Grafting b's successor onto a breaks the hash link.
    expectCode(() => verifyChain([...dev.chain, other.head], k), "PEOPLE_CHAIN_FORK");
  });

  it("a chain shorter than the pinned head is a rollback (fork)", () => {
    const { acct, dev } = rotated(5);
    const k = acct.accountKey.publicKey;
    expectCode(() => verifyChain(dev.chain.slice(0, 3), k, pin(dev.head)), "PEOPLE_CHAIN_FORK");
    expectCode(() => verifyChain(dev.chain.slice(0, 1), k, pin(dev.chain[1]!)), "PEOPLE_CHAIN_FORK");
    // Extending the pin is fine.
    assert.equal(verifyChain(dev.chain, k, pin(dev.chain[3]!)).head.seq, 5);
  });

  describe("a server cannot forge a rotation", () => {
    it("a certificate signed by a server-held key instead of the account key is rejected", () => {
      const { acct, dev } = rotated(2);
      const serverKey = Ed25519KeyPair.generate();
      const k = acct.accountKey.publicKey;
      // The server cannot sign with the device key either; it signs everything with its own key.
      const forgedBodyOwnKey = issueDeviceCert({
        address: acct.address,
        device: dev.device,
        accountKey: serverKey,
        newSignKey: Ed25519KeyPair.generate(),
        newEncKey: X25519KeyPair.generate().publicKey,
        previous: { cert: dev.head, signKey: serverKey },
        notBefore: T0 + 3 * DAY_MS,
        notAfter: T0 + 5 * DAY_MS,
      });
      expectCode(() => verifyChain([...dev.chain, forgedBodyOwnKey], k), "PEOPLE_CHAIN_INVALID");
      // The same body naming the real account key, but signed by the server's key.
      const body = { ...bodyOf(forgedBodyOwnKey), account_key: k.toB64u() };
      const bodyBytes = Buffer.from(JSON.stringify(body));
      const newSign = Ed25519KeyPair.generate();
      const forged = parseDeviceCert({
        body: b64u(bodyBytes),
        sig_account: b64u(signBytes(serverKey, "device-cert", bodyBytes)),
        sig_prev: b64u(signBytes(serverKey, "device-cert", bodyBytes)),
        sig_self: b64u(signBytes(newSign, "device-cert", bodyBytes)),
      });
      expectCode(() => verifyChain([...dev.chain, forged], k), "PEOPLE_BAD_SIGNATURE");
      // Even holding a stolen device key, without the account key a rotation does not verify.
      const withDeviceKey = issueDeviceCert({
        address: acct.address,
        device: dev.device,
        accountKey: serverKey,
        newSignKey: newSign,
        newEncKey: X25519KeyPair.generate().publicKey,
        previous: { cert: dev.head, signKey: dev.signingKey },
        notBefore: T0 + 3 * DAY_MS,
        notAfter: T0 + 5 * DAY_MS,
      });
      expectCode(() => verifyChain([...dev.chain, withDeviceKey], k), "PEOPLE_CHAIN_INVALID");
    });

    it("a certificate re-encoded as other bytes of the same JSON value is refused", () => {
      const { dev } = rotated(2);
      for (const i of [0, 2]) {
        const cert = dev.chain[i]!;
        const spaced = Buffer.from(JSON.stringify(bodyOf(cert), null, 1));
        assert.deepEqual(JSON.parse(spaced.toString()), bodyOf(cert), "same JSON value");
        assert.ok(!spaced.equals(cert.bodyBytes));
        // Bodies must be canonical JSON, so the alternative spelling never reaches signature checks.
        expectCode(() => withWire(cert, (w) => ({ ...w, body: b64u(spaced) })), "PEOPLE_CHAIN_INVALID");
      }
      // Key order changed, same members: canonical JSON in itself, but other bytes, so the signatures fail.
      const head = dev.head;
      const reordered = Object.fromEntries(Object.entries(bodyOf(head)).reverse());
      const cert = withWire(head, (w) => ({ ...w, body: b64u(Buffer.from(JSON.stringify(reordered))) }));
      expectCode(
        () => verifyChain([...dev.chain.slice(0, 2), cert], head.accountKey),
        "PEOPLE_BAD_SIGNATURE",
      );
    });

    it("a certificate for another account key is rejected even when self-consistent", () => {
      const { dev } = rotated(1);
      const other = Ed25519KeyPair.generate();
      expectCode(() => verifyChain(dev.chain, other.publicKey), "PEOPLE_CHAIN_INVALID");
    });
  });

  describe("device list", () => {
    function account(nDevices: number): {
      acct: ReturnType<typeof makeAccount>;
      list: DeviceList;
      chains: Map<DeviceId, readonly DeviceCert[]>;
    } {
      const acct = makeAccount("jane@a.test", T0, { devices: nDevices });
      acct.devices[0]!.rotate(acct.accountKey, T0 + DAY_MS);
      const list = issueDeviceList({
        address: acct.address,
        accountKey: acct.accountKey,
        version: 1,
        issuedAt: T0 + DAY_MS,
        heads: acct.devices.map((d) => d.head),
        revoked: [],
      });
      return { acct, list, chains: new Map(acct.devices.map((d) => [d.device, d.chain])) };
    }

    function pinnedFrom(v: ReturnType<typeof verifyDeviceList>): PinnedAccount {
      return {
        accountKey: v.list.accountKey,
        version: v.list.version,
        heads: new Map([...v.chains].map(([id, c]) => [id, pin(c.head)])),
      };
    }

    it("an issued list parses back and verifies with every chain", () => {
      const { acct, list, chains } = account(3);
      const reparsed = parseDeviceList(JSON.parse(JSON.stringify(list.wire)));
      assert.equal(reparsed.address, acct.address);
      assert.equal(reparsed.version, 1);
      assert.deepEqual(
        reparsed.devices.map((d) => d.device),
        acct.devices.map((d) => d.device),
      );
      const v = verifyDeviceList(reparsed, chains, { address: acct.address });
      assert.equal(v.chains.size, 3);
      for (const d of acct.devices) assert.equal(v.chains.get(d.device)!.head.seq, d.head.seq);
      // And against what it pinned from itself.
      verifyDeviceList(reparsed, chains, { address: acct.address, pinned: pinnedFrom(v) });
    });

    it("a list for another address is rejected", () => {
      const { list, chains } = account(1);
      expectCode(
        () => verifyDeviceList(list, chains, { address: "jane@b.test" as PeopleAddress }),
        "PEOPLE_CHAIN_INVALID",
      );
    });

    it("a server cannot add a device: an extra chain is ignored and an extra list entry breaks the signature", () => {
      const { acct, list, chains } = account(2);
      // A device the server made up, even with a chain signed by some key of its own.
      const serverKey = Ed25519KeyPair.generate();
      const rogue = DeviceIdentity.create({ address: acct.address, accountKey: serverKey, now: T0 });
      const withRogue = new Map(chains);
      withRogue.set(rogue.device, rogue.chain);
      const v = verifyDeviceList(list, withRogue, { address: acct.address });
      assert.equal(v.chains.size, 2);
      assert.ok(!v.chains.has(rogue.device));

      // Add the rogue device to the body and keep the account's signature: rejected.
      const body = JSON.parse(Buffer.from(list.wire.body, "base64url").toString()) as {
        devices: { device: string; seq: number; hash: string }[];
      };
      body.devices.push({ device: rogue.device, seq: 0, hash: b64u(rogue.head.hash) });
      const forgedBody = Buffer.from(JSON.stringify(body));
      const forged = parseDeviceList({ body: b64u(forgedBody), sig: list.wire.sig });
      assert.equal(forged.devices.length, 3, "the forged list parses");
      expectCode(
        () => verifyDeviceList(forged, withRogue, { address: acct.address }),
        "PEOPLE_BAD_SIGNATURE",
      );

      // Signed by the server's key instead, with the account key field left alone: rejected.
      const serverSigned = parseDeviceList({
        body: b64u(forgedBody),
        sig: b64u(signBytes(serverKey, "device-list", forgedBody)),
      });
      expectCode(
        () => verifyDeviceList(serverSigned, withRogue, { address: acct.address }),
        "PEOPLE_BAD_SIGNATURE",
      );

      // A whole list under the server's key: its rogue chain does not verify under the pinned key.
      const pinned = pinnedFrom(v);
      const takeover = issueDeviceList({
        address: acct.address,
        accountKey: serverKey,
        version: 2,
        issuedAt: T0 + 2 * DAY_MS,
        heads: [rogue.head],
        revoked: [],
      });
      expectCode(
        () => verifyDeviceList(takeover, withRogue, { address: acct.address, pinned }),
        "PEOPLE_CHAIN_FORK",
      );
    });

    it("a listed device whose chain is missing, or whose head differs from the signed one, is rejected", () => {
      const { acct, list, chains } = account(2);
      const d0 = acct.devices[0]!;
      const missing = new Map(chains);
      missing.delete(d0.device);
      expectCode(() => verifyDeviceList(list, missing, { address: acct.address }), "PEOPLE_CHAIN_INVALID");
      // The server serves an older (still valid) chain than the one the list names.
      const stale = new Map(chains);
      stale.set(d0.device, d0.chain.slice(0, 1));
      expectCode(() => verifyDeviceList(list, stale, { address: acct.address }), "PEOPLE_CHAIN_FORK");
      // Or a chain of another device under this device's id.
      const swapped = new Map(chains);
      swapped.set(d0.device, acct.devices[1]!.chain);
      expectCode(() => verifyDeviceList(list, swapped, { address: acct.address }), "PEOPLE_CHAIN_INVALID");
    });

    it("a whitespace re-encoding of a list body is refused as non-canonical", () => {
      const { list } = account(1);
      const body = Buffer.from(
        JSON.stringify(JSON.parse(Buffer.from(list.wire.body, "base64url").toString()), null, 2),
      );
      expectCode(() => parseDeviceList({ body: b64u(body), sig: list.wire.sig }), "PEOPLE_CHAIN_INVALID");
    });

    it("a version older than the pinned one is a rollback", () => {
      const { acct, list, chains } = account(2);
      const v1 = verifyDeviceList(list, chains, { address: acct.address });
      const list2 = issueDeviceList({
        address: acct.address,
        accountKey: acct.accountKey,
        version: 2,
        issuedAt: T0 + 2 * DAY_MS,
        heads: acct.devices.map((d) => d.head),
        revoked: [],
      });
      const v2 = verifyDeviceList(list2, chains, { address: acct.address, pinned: pinnedFrom(v1) });
      expectCode(
        () => verifyDeviceList(list, chains, { address: acct.address, pinned: pinnedFrom(v2) }),
        "PEOPLE_CHAIN_FORK",
      );
    });

    it("an account key other than the pinned one is a fork", () => {
      const { acct, list, chains } = account(1);
      const pinned = pinnedFrom(verifyDeviceList(list, chains, { address: acct.address }));
      const other = makeAccount("jane@a.test", T0, { devices: 1 });
      const otherList = issueDeviceList({
        address: other.address,
        accountKey: other.accountKey,
        version: 5,
        issuedAt: T0,
        heads: [other.devices[0]!.head],
        revoked: [],
      });
      const otherChains = new Map(other.devices.map((d) => [d.device, d.chain]));
      // On its own it is a fine list...
      verifyDeviceList(otherList, otherChains, { address: other.address });
      // ...but not for a contact pinned to the first key.
      expectCode(
        () => verifyDeviceList(otherList, otherChains, { address: acct.address, pinned }),
        "PEOPLE_CHAIN_FORK",
      );
    });

    it("a pinned device whose chain was forked is rejected through the list", () => {
      const { acct, list, chains } = account(1);
      const pinned = pinnedFrom(verifyDeviceList(list, chains, { address: acct.address }));
      const d0 = acct.devices[0]!;
      const fork = clone(d0);
      // Both branches rotate from the pinned head; the server serves only branch two.
      d0.rotate(acct.accountKey, T0 + 2 * DAY_MS);
      const pinned2: PinnedAccount = { ...pinned, heads: new Map([[d0.device, pin(d0.head)]]) };
      fork.rotate(acct.accountKey, T0 + 2 * DAY_MS);
      const list2 = issueDeviceList({
        address: acct.address,
        accountKey: acct.accountKey,
        version: 2,
        issuedAt: T0 + 2 * DAY_MS,
        heads: [fork.head],
        revoked: [],
      });
      expectCode(
        () =>
          verifyDeviceList(list2, new Map([[d0.device, fork.chain]]), {
            address: acct.address,
            pinned: pinned2,
          }),
        "PEOPLE_CHAIN_FORK",
      );
    });

    it("a revoked device is listed in `revoked` and the remaining chains verify", () => {
      const { acct, chains } = account(3);
      const [keep1, gone, keep2] = acct.devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
      const at = T0 + 3 * DAY_MS;
      const list = issueDeviceList({
        address: acct.address,
        accountKey: acct.accountKey,
        version: 2,
        issuedAt: at,
        heads: [keep1.head, keep2.head],
        revoked: [{ device: gone.device, at }],
      });
      const v = verifyDeviceList(list, chains, { address: acct.address });
      assert.deepEqual(list.revoked, [{ device: gone.device, at }]);
      assert.deepEqual([...v.chains.keys()].sort(), [keep1.device, keep2.device].sort());
      assert.ok(!v.chains.has(gone.device));
      // A device both listed and revoked is refused.
      const both = issueDeviceList({
        address: acct.address,
        accountKey: acct.accountKey,
        version: 3,
        issuedAt: at,
        heads: [keep1.head, gone.head],
        revoked: [{ device: gone.device, at }],
      });
      expectCode(() => verifyDeviceList(both, chains, { address: acct.address }), "PEOPLE_CHAIN_INVALID");
    });

    it("a device listed twice does not parse", () => {
      const acct = makeAccount("jane@a.test", T0);
      const d = acct.devices[0]!;
      expectCode(
        () =>
          issueDeviceList({
            address: acct.address,
            accountKey: acct.accountKey,
            version: 1,
            issuedAt: T0,
            heads: [d.head, d.head],
            revoked: [],
          }),
        "PEOPLE_CHAIN_INVALID",
      );
    });
  });

  describe("device secrets and the grace period", () => {
    it("a retired key decrypts until the grace period ends, then is erased", () => {
      const acct = makeAccount("jane@a.test", T0);
      const dev = acct.devices[0]!;
      const oldKey = dev.encryptionKey;
      const oldId = oldKey.publicKey.id;
      const rotatedAt = T0 + DAY_MS;
      dev.rotate(acct.accountKey, rotatedAt);
      assert.equal(dev.decryptionKey(oldId), oldKey);
      assert.equal(dev.decryptionKey(dev.encryptionKey.publicKey.id), dev.encryptionKey);
      assert.equal(dev.retiredKeyCount, 1);
      assert.equal(dev.eraseExpiredKeys(rotatedAt + DEFAULT_GRACE_MS - 1), 0);
      assert.equal(dev.decryptionKey(oldId), oldKey);
      assert.equal(dev.eraseExpiredKeys(rotatedAt + DEFAULT_GRACE_MS), 1);
      assert.equal(dev.decryptionKey(oldId), undefined);
      assert.equal(dev.retiredKeyCount, 0);
      // The current key is never erased.
      assert.equal(dev.eraseExpiredKeys(rotatedAt + 100 * DEFAULT_GRACE_MS), 0);
      assert.equal(dev.decryptionKey(dev.encryptionKey.publicKey.id), dev.encryptionKey);
    });

    it("a custom grace period is honoured per retired key", () => {
      const acct = makeAccount("jane@a.test", T0);
      const dev = acct.devices[0]!;
      const k0 = dev.encryptionKey.publicKey.id;
      dev.rotate(acct.accountKey, T0 + 1000);
      const k1 = dev.encryptionKey.publicKey.id;
      dev.rotate(acct.accountKey, T0 + 5000);
      const grace = 10_000;
      assert.equal(dev.eraseExpiredKeys(T0 + 1000 + grace - 1, grace), 0);
      assert.equal(dev.eraseExpiredKeys(T0 + 1000 + grace, grace), 1);
      assert.equal(dev.decryptionKey(k0), undefined);
      assert.ok(dev.decryptionKey(k1));
      assert.equal(dev.eraseExpiredKeys(T0 + 5000 + grace, grace), 1);
      assert.equal(dev.decryptionKey(k1), undefined);
    });

    it("an unknown key id finds nothing", () => {
      const dev = makeAccount("jane@a.test", T0).devices[0]!;
      assert.equal(dev.decryptionKey(Buffer.alloc(8)), undefined);
      assert.equal(dev.decryptionKey(X25519KeyPair.generate().publicKey.id), undefined);
    });

    it("exportSecrets / importSecrets round trip keeps current and retired keys and the chain", () => {
      const { acct, dev } = rotated(3);
      const retiredIds = dev.chain.slice(0, 3).map((c) => c.encKey.id);
      const json = JSON.parse(JSON.stringify(dev.exportSecrets())) as ReturnType<
        DeviceIdentity["exportSecrets"]
      >;
      const back = DeviceIdentity.importSecrets(json);
      assert.equal(back.address, dev.address);
      assert.equal(back.device, dev.device);
      assert.equal(back.retiredKeyCount, 3);
      assert.ok(back.signingKey.publicKey.equals(dev.signingKey.publicKey));
      assert.ok(back.encryptionKey.publicKey.raw.equals(dev.encryptionKey.publicKey.raw));
      assert.deepEqual(
        back.chain.map((c) => c.hash.toString("hex")),
        dev.chain.map((c) => c.hash.toString("hex")),
      );
      verifyChain(back.chain, acct.accountKey.publicKey);
      for (const id of [...retiredIds, dev.encryptionKey.publicKey.id]) {
        const a = dev.decryptionKey(id)!;
        const b = back.decryptionKey(id)!;
        assert.ok(b, "key survives the round trip");
        assert.ok(a.exportSecret().equals(b.exportSecret()));
        // The imported key really works: same DH result with a fresh peer.
        const peer = X25519KeyPair.generate();
        assert.ok(b.dh(peer.publicKey).equals(peer.dh(a.publicKey)));
      }
      // The imported identity can keep rotating, and the chain still verifies.
      back.rotate(acct.accountKey, T0 + 10 * DAY_MS);
      assert.equal(verifyChain(back.chain, acct.accountKey.publicKey).head.seq, 4);
      // Erasure times survive too.
      const retiredAt = T0 + DAY_MS;
      assert.equal(DeviceIdentity.importSecrets(json).eraseExpiredKeys(retiredAt + DEFAULT_GRACE_MS), 1);
    });

    it("importSecrets refuses a malformed secret with a PeopleError", () => {
      const dev = makeAccount("jane@a.test", T0).devices[0]!;
      const json = dev.exportSecrets();
      expectCode(() => DeviceIdentity.importSecrets({ ...json, sign: "AAAA" }), "PEOPLE_BAD_KEY");
      expectCode(() => DeviceIdentity.importSecrets({ ...json, enc: "!!" }), "PEOPLE_BAD_KEY");
    });
  });

  describe("server envelope key certificate", () => {
    it("verifies for its domain and identity key", () => {
      const srv = makeServer("b.test", T0);
      const cert = srv.envelopeKey.cert;
      const v = verifyEnvelopeKey(
        JSON.parse(JSON.stringify(cert.wire)),
        srv.identity.identityKey.publicKey,
        "b.test",
      );
      assert.equal(v.domain, "b.test");
      assert.ok(v.key.raw.equals(srv.envelopeKey.key.publicKey.raw));
      assert.ok(v.keyId.equals(srv.envelopeKey.key.publicKey.id));
      assert.equal(v.notBefore, cert.notBefore);
      assert.equal(v.notAfter, cert.notAfter);
    });

    it("is rejected for another domain", () => {
      const srv = makeServer("b.test", T0);
      expectCode(
        () => verifyEnvelopeKey(srv.envelopeKey.cert.wire, srv.identity.identityKey.publicKey, "c.test"),
        "PEOPLE_BAD_KEY",
      );
    });

    it("is rejected under another identity key", () => {
      const srv = makeServer("b.test", T0);
      const other = makeServer("b.test", T0);
      expectCode(
        () => verifyEnvelopeKey(srv.envelopeKey.cert.wire, other.identity.identityKey.publicKey, "b.test"),
        "PEOPLE_BAD_SIGNATURE",
      );
    });

    it("a signature made for another purpose does not pass as an envelope key certificate", () => {
      const srv = makeServer("b.test", T0);
      const bodyBytes = Buffer.from(srv.envelopeKey.cert.wire.body, "base64url");
      const wrongLabel = b64u(signBytes(srv.identity.identityKey, "server-descriptor", bodyBytes));
      expectCode(
        () =>
          verifyEnvelopeKey(
            { body: srv.envelopeKey.cert.wire.body, sig: wrongLabel },
            srv.identity.identityKey.publicKey,
            "b.test",
          ),
        "PEOPLE_BAD_SIGNATURE",
      );
      // And a re-spaced body under the original signature fails as well.
      const spaced = Buffer.from(JSON.stringify(JSON.parse(bodyBytes.toString()), null, 1));
      expectCode(
        () =>
          verifyEnvelopeKey(
            { body: b64u(spaced), sig: srv.envelopeKey.cert.wire.sig },
            srv.identity.identityKey.publicKey,
            "b.test",
          ),
        "PEOPLE_BAD_SIGNATURE",
      );
    });
  });
});
