// One reading per byte string: canonical JSON in signed bodies, canonical
// addresses in signed and sealed data, version bytes, and nothing sealed that a
// receiver would refuse.
import assert from "node:assert/strict";
import { b64u } from "../../src/people/protocol/bytes.js";
import { issueDeviceCert, parseDeviceCert } from "../../src/people/protocol/device-cert.js";
import { openOuter, parseInnerFrame, sealMessage } from "../../src/people/protocol/envelope.js";
import { Ed25519KeyPair, X25519KeyPair } from "../../src/people/protocol/keys.js";
import { ServerIdentity, verifyEnvelopeKey } from "../../src/people/protocol/server-keys.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { copyFor, expectCode, makeAccount, makeServer, sealText } from "../helpers/protocol-fixtures.js";

const NOW = 1_800_000_000_000;

function resignedCert(mutate: (body: Record<string, unknown>) => string): unknown {
  const accountKey = Ed25519KeyPair.generate();
  const signKey = Ed25519KeyPair.generate();
  const joe = makeAccount("joe@b.test", NOW, { devices: 1, accountKey }).devices[0]!;
  const cert = issueDeviceCert({
    address: joe.address,
    device: joe.device,
    accountKey,
    newSignKey: signKey,
    newEncKey: X25519KeyPair.generate().publicKey,
    notBefore: NOW,
    notAfter: NOW + 1000,
  });
  const body = Buffer.from(mutate(JSON.parse(cert.bodyBytes.toString()) as Record<string, unknown>));
  return {
    body: b64u(body),
    sig_account: b64u(signBytes(accountKey, "device-cert", body)),
    sig_self: b64u(signBytes(signKey, "device-cert", body)),
  };
}

describe("strict encodings", () => {
  it("a signed body with a duplicate key is refused even when correctly signed", () => {
    const wire = resignedCert((b) => JSON.stringify(b).replace('"seq":0', '"seq":0,"seq":0'));
    expectCode(() => parseDeviceCert(wire), "PEOPLE_CHAIN_INVALID");
  });

  it("a signed body with an escaped spelling of the same string is refused", () => {
    const wire = resignedCert((b) =>
      JSON.stringify(b).replace('"type":"people.device_cert"', '"type":"people\\u002edevice_cert"'),
    );
    expectCode(() => parseDeviceCert(wire), "PEOPLE_CHAIN_INVALID");
  });

  it("a non-canonical address inside a signed body is refused, not silently folded", () => {
    const wire = resignedCert((b) => JSON.stringify({ ...b, address: "JOE@B.TEST" }));
    expectCode(() => parseDeviceCert(wire), "PEOPLE_CHAIN_INVALID");
    const canonical = resignedCert((b) => JSON.stringify(b));
    assert.equal(parseDeviceCert(canonical).address, "joe@b.test");
  });

  it("an envelope key certificate with empty validity is refused", () => {
    const identity = new ServerIdentity("b.test", Ed25519KeyPair.generate());
    const key = identity.issueEnvelopeKey(X25519KeyPair.generate(), NOW, NOW + 1);
    assert.equal(verifyEnvelopeKey(key.cert.wire, identity.identityKey.publicKey, "b.test").domain, "b.test");
    expectCode(() => identity.issueEnvelopeKey(X25519KeyPair.generate(), NOW, NOW), "PEOPLE_BAD_KEY");
  });

  it("another wire version is named as unsupported, at both layers", () => {
    const jane = makeAccount("jane@a.test", NOW, { devices: 1 });
    const joe = makeAccount("joe@b.test", NOW, { devices: 1 });
    const server = makeServer("b.test", NOW);
    const outer = sealText(jane, joe, server, NOW, { body: "hi" });
    const v2 = Buffer.from(outer);
    v2[3] = 2;
    expectCode(() => openOuter(v2, server.lookup, NOW), "PEOPLE_UNSUPPORTED_VERSION");
    const inner = Buffer.from(openOuter(outer, server.lookup, NOW).inner);
    inner[3] = 2;
    expectCode(() => parseInnerFrame(inner), "PEOPLE_UNSUPPORTED_VERSION");
    const junk = Buffer.from(outer);
    junk[0] = 0x51;
    expectCode(() => openOuter(junk, server.lookup, NOW), "PEOPLE_BAD_ENVELOPE");
  });

  it("sealMessage refuses content a receiver would refuse", () => {
    const jane = makeAccount("jane@a.test", NOW, { devices: 1 });
    const joe = makeAccount("joe@b.test", NOW, { devices: 1 });
    const server = makeServer("b.test", NOW);
    const device = jane.devices[0]!;
    const bad = [
      { type: "text", body: "x".repeat(64 * 1024 + 1) },
      { type: "reaction", target: "not-an-id", key: "+" },
      { type: "text", body: "hi", extra: true },
    ] as unknown as MessageContent[];
    for (const content of bad) {
      expectCode(
        () =>
          sealMessage({
            from: jane.address,
            device: device.device,
            signingKey: device.signingKey,
            to: [joe.address],
            content,
            copies: [copyFor(joe, server)],
            now: NOW,
            ttlMs: 1000,
          }),
        "PEOPLE_BAD_REQUEST",
      );
    }
  });
});
