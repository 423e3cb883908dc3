// A domain that does not exist is told apart from a server that is down
// (discovery.ts): NXDOMAIN after no .well-known and no SRV is PEOPLE_NO_SERVER,
// an answer; a DNS server that fails, or a host that refuses or times out, is
// PEOPLE_UNAVAILABLE, worth retrying. The bridge tells the user so.
import assert from "node:assert/strict";
import fc from "fast-check";
import { PeopleError, isPeopleError } from "../../src/people/errors.js";
import { isTransient } from "../../src/people/transient.js";
import {
  DEFAULT_PORT,
  noServer,
  resolveServer,
  type ResolveServerOptions,
} from "../../src/people/net/discovery.js";
import { classifyToPeopleFailure } from "../../src/bridge/portals/to-people-failures.js";
import { lookupRefusal } from "../../src/bridge/portals/lookup-refusal.js";
import { parseAddress } from "../../src/people/protocol/address.js";

const dnsError = (code: string) => Object.assign(new Error(`queryA ${code}`), { code });

/** Discovery where .well-known cannot be fetched (as for a host that does not resolve) and SRV has nothing. */
function options(lookup: ResolveServerOptions["lookup"], srvCode = "ENOTFOUND"): ResolveServerOptions {
  return {
    http: {
      send: () => Promise.reject(new PeopleError("PEOPLE_UNAVAILABLE", "cannot connect")),
    },
    srv: () => Promise.reject(dnsError(srvCode)),
    ...(lookup ? { lookup } : {}),
  };
}

describe("discovery: a domain that does not exist is not a server that is down", () => {
  it("NXDOMAIN (ENOTFOUND, or a name without addresses: ENODATA) is PEOPLE_NO_SERVER, naming the domain", async () => {
    for (const code of ["ENOTFOUND", "ENODATA"]) {
      await assert.rejects(
        resolveServer(
          "example.invalid",
          options(() => Promise.reject(dnsError(code))),
        ),
        (e: unknown) => {
          assert.ok(isPeopleError(e, "PEOPLE_NO_SERVER"), String(e));
          assert.equal(
            e.publicText,
            "There is no People server for example.invalid: the domain does not exist.",
          );
          assert.equal(isTransient(e), false, "an answer, not retried");
          return true;
        },
      );
    }
  });

  it("a DNS failure that is not an answer (EAI_AGAIN, SERVFAIL, timeout) falls through to <domain>:7367 (then unreachable, retried)", async () => {
    for (const code of ["EAI_AGAIN", "ESERVFAIL", "ETIMEOUT", "ECONNREFUSED"]) {
      const url = await resolveServer(
        "flaky.example",
        options(() => Promise.reject(dnsError(code)), code),
      );
      assert.equal(url, `https://flaky.example:${DEFAULT_PORT}`);
    }
  });

  it("a name that resolves (its server may be down) is never PEOPLE_NO_SERVER", async () => {
    const url = await resolveServer(
      "down.example",
      options(() => Promise.resolve({ address: "192.0.2.1" })),
    );
    assert.equal(url, `https://down.example:${DEFAULT_PORT}`);
  });

  it("a pin, a .well-known or an SRV answer is used without asking for the domain's address", async () => {
    let asked = 0;
    const lookup = () => {
      asked++;
      return Promise.reject(dnsError("ENOTFOUND"));
    };
    assert.equal(
      await resolveServer("pinned.example", {
        ...options(lookup),
        pins: { "pinned.example": "127.0.0.1:9" },
      }),
      "https://127.0.0.1:9",
    );
    const srv = await resolveServer("srv.example", {
      ...options(lookup),
      srv: () => Promise.resolve([{ name: "people.srv.example", port: 8448, priority: 0, weight: 0 }]),
    });
    assert.equal(srv, "https://people.srv.example:8448");
    assert.equal(asked, 0);
  });

  it("any DNS error code: PEOPLE_NO_SERVER exactly for ENOTFOUND and ENODATA", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("ENOTFOUND", "ENODATA", "EAI_AGAIN", "ESERVFAIL", "EREFUSED", "ETIMEOUT", "X"),
        async (code) => {
          const result = await resolveServer(
            "any.example",
            options(() => Promise.reject(dnsError(code))),
          ).then(
            () => "url",
            (e: unknown) => (isPeopleError(e, "PEOPLE_NO_SERVER") ? "no_server" : "other"),
          );
          assert.equal(result, code === "ENOTFOUND" || code === "ENODATA" ? "no_server" : "url");
        },
      ),
    );
  });

  it("the bridge says so: in a send (a permanent failure, with the text) and in a refused lookup", () => {
    const failure = classifyToPeopleFailure(noServer("example.invalid"));
    assert.deepEqual(failure, {
      kind: "permanent",
      reason: "PEOPLE_NO_SERVER",
      userText: "There is no People server for example.invalid: the domain does not exist.",
    });
    const address = parseAddress("x@example.invalid");
    assert.equal(
      lookupRefusal(address, { status: "no_server", domain: "example.invalid" }),
      "There is no People server for example.invalid: the domain does not exist.",
    );
    assert.equal(lookupRefusal(address, { status: "unknown" }), "x@example.invalid has no People account.");
    assert.equal(lookupRefusal(address, { status: "unreachable", code: "PEOPLE_UNAVAILABLE" }), undefined);
    assert.equal(lookupRefusal(address, { status: "exists" }), undefined);
  });
});
