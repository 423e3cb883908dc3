// The process-wide TLS pool (net/tls-pool.ts): one context per CA set however
// the set is ordered, none for the system roots alone, and one agent leased to
// every client with the same options until the last lets go.
import assert from "node:assert/strict";
import { caSetKey, leaseAgent, poolSizes, secureContextFor } from "../../src/people/net/tls-pool.js";
import { generate } from "selfsigned";
import { HttpsClient } from "../../src/people/net/https-client.js";

async function certificate(name: string): Promise<string> {
  const pems = await generate([{ name: "commonName", value: name }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
  });
  return pems.cert;
}

describe("tls pool", () => {
  it("builds one context per CA set, whatever its order", async () => {
    const [a, b] = [await certificate("a.test"), await certificate("b.test")];
    assert.equal(caSetKey([a, b]), caSetKey([b, a, a]));
    assert.notEqual(caSetKey([a]), caSetKey([a, b]));
    assert.equal(secureContextFor([]), undefined);
    assert.equal(secureContextFor(undefined), undefined);
    const ab = secureContextFor([a, b]);
    assert.ok(ab);
    assert.equal(secureContextFor([b, a]), ab);
    assert.notEqual(secureContextFor([a]), ab);
  });

  it("leases one agent to every client with the same options, destroyed after the last", async () => {
    const ca = await certificate("c.test");
    const before = poolSizes().agents;
    const clients = Array.from({ length: 50 }, () => new HttpsClient({ ca: [ca] }));
    assert.equal(poolSizes().agents, before + 1);
    const lease = leaseAgent({ ca: [ca], maxSockets: 64 });
    const other = leaseAgent({ ca: [ca], maxSockets: 8 });
    assert.equal(poolSizes().agents, before + 2);
    for (const c of clients) c.close();
    assert.equal(poolSizes().agents, before + 2, "still leased");
    lease.release();
    lease.release(); // twice is once
    other.release();
    assert.equal(poolSizes().agents, before);
  });
});
