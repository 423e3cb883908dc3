// Keys and certificates an account holds for as long as it is open do not sit
// in Node.js's shared 8 KiB Buffer slabs: one long-lived 32-byte slice keeps
// its whole slab alive (the bridge's scale heap snapshots found ~4 slabs per
// account, ~30 KiB, held by key objects and certificate bodies).
import assert from "node:assert/strict";
import fc from "fast-check";
import { b64u, owned } from "../../src/people/protocol/bytes.js";
import { parseDeviceCert } from "../../src/people/protocol/device-cert.js";
import {
  Ed25519KeyPair,
  Ed25519PublicKey,
  X25519KeyPair,
  X25519PublicKey,
} from "../../src/people/protocol/keys.js";
import { makeAccount } from "../helpers/protocol-fixtures.js";

/** The Buffer is the whole of its ArrayBuffer (not a slice of a shared slab). */
function ownsItsMemory(b: Buffer): boolean {
  return b.byteOffset === 0 && b.buffer.byteLength === b.byteLength;
}

describe("long-lived key bytes own their memory", () => {
  it("a pooled Buffer is a slice of a larger slab (what the rule avoids)", () => {
    // Guards the premise: if Node.js stopped pooling, the assertions below would prove nothing.
    assert.equal(ownsItsMemory(Buffer.from(b64u(Buffer.alloc(32, 7)), "base64url")), false);
  });

  it("owned() copies bytes into memory of their own, equal in content", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const copy = owned(bytes);
        assert.ok(ownsItsMemory(copy));
        assert.deepEqual([...copy], [...bytes]);
      }),
    );
  });

  it("public keys parsed from base64url, generated and restored key pairs", () => {
    const ed = Ed25519KeyPair.generate();
    const x = X25519KeyPair.generate();
    const parsedEd = Ed25519PublicKey.fromB64u(ed.publicKey.toB64u());
    const parsedX = X25519PublicKey.fromB64u(x.publicKey.toB64u());
    for (const key of [ed.publicKey, x.publicKey, parsedEd, parsedX]) assert.ok(ownsItsMemory(key.raw));
    assert.ok(ownsItsMemory(parsedX.id));
    const restored = Ed25519KeyPair.fromSeed(ed.exportSeed());
    assert.ok(ownsItsMemory(restored.publicKey.raw));
    assert.ok(restored.publicKey.equals(ed.publicKey));
    const restoredX = X25519KeyPair.fromSecret(x.exportSecret());
    assert.ok(restoredX.publicKey.equals(x.publicKey));
  });

  it("a parsed device certificate's body, keys and previous hash", () => {
    const acct = makeAccount("jane@a.test", Date.UTC(2030, 0, 1));
    const dev = acct.devices[0]!;
    dev.rotate(acct.accountKey, Date.UTC(2030, 0, 2));
    const cert = parseDeviceCert(dev.head.wire);
    assert.ok(ownsItsMemory(cert.bodyBytes));
    assert.ok(cert.prevHash && ownsItsMemory(cert.prevHash));
    for (const key of [cert.accountKey, cert.signKey, cert.encKey]) assert.ok(ownsItsMemory(key.raw));
  });
});
