// The provisioning API's parsers (provisioning/schemas.ts) and its secret:
// whatever arrives, the answer is a typed value or a provisioning_http error
// with a 4xx status and a known errcode, never a crash; the secret matches
// itself only. The bridge state contents (model/bridge-info.ts) are stable.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { parseBridgeConfig } from "../../src/bridge/config.js";
import { provisioningApi } from "../../src/bridge/adapters/provisioning/mount.js";
import { silentLog } from "../helpers/portal-fakes.js";
import { isBridgeError } from "../../src/bridge/core/error-kinds.js";
import { ERRCODES, answerFor } from "../../src/bridge/adapters/provisioning/errors.js";
import {
  MAX_GROUP_NAME,
  parseAddressParam,
  parseGroupRequest,
  parseJsonText,
  parseUserId,
} from "../../src/bridge/adapters/provisioning/schemas.js";
import {
  PROVISIONING_SECRET_FILE,
  ProvisioningSecret,
  provisioningSecret,
} from "../../src/bridge/adapters/provisioning/secret.js";
import {
  dmBridgeInfo,
  groupBridgeInfo,
  groupChannelId,
  sameContent,
} from "../../src/bridge/model/bridge-info.js";
import { parseAddress } from "../../src/people/protocol/address.js";

const RUNS = 300;

/** A refusal as the API answers it: 4xx, one of the documented codes. */
function assertRefusal(err: unknown): void {
  assert.ok(isBridgeError(err, "provisioning_http"), String(err));
  const answer = answerFor(err);
  assert.ok(answer.status >= 400 && answer.status < 500, String(answer.status));
  assert.ok(answer.body.errcode in ERRCODES, answer.body.errcode);
  assert.equal(answer.unexpected, false);
}

function outcome<T>(fn: () => T): { ok: T } | { err: unknown } {
  try {
    return { ok: fn() };
  } catch (err) {
    return { err };
  }
}

const localpart = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}[a-z0-9]$/);
const domain = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}\.(test|example|org)$/);
const goodAddress = fc.tuple(localpart, domain).map(([l, d]) => `${l}@${d}`);
const anyJson = fc.jsonValue();

describe("provisioning parsers (property)", function () {
  it("user_id: a Matrix user ID, or M_INVALID_PARAM", function () {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.anything(),
          localpart.map((l) => `@${l}:localhost`),
        ),
        (raw) => {
          const r = outcome(() => parseUserId(raw));
          if ("ok" in r) {
            assert.equal(r.ok, raw);
            assert.match(r.ok, /^@[^:]+:.+$/);
          } else {
            assertRefusal(r.err);
            assert.equal(answerFor(r.err).body.errcode, "M_INVALID_PARAM");
          }
        },
      ),
      { numRuns: RUNS },
    );
    assert.equal(parseUserId("@alice:localhost"), "@alice:localhost");
  });

  it("an address in the path: the canonical People address, or M_INVALID_PARAM", function () {
    fc.assert(
      fc.property(fc.oneof(fc.string(), goodAddress), (raw) => {
        const r = outcome(() => parseAddressParam(raw));
        if ("ok" in r) assert.equal(r.ok, parseAddress(raw));
        else {
          assertRefusal(r.err);
          assert.equal(answerFor(r.err).body.errcode, "M_INVALID_PARAM");
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("any body text: JSON or M_NOT_JSON", function () {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          anyJson.map((j) => JSON.stringify(j)),
        ),
        (text) => {
          const r = outcome(() => parseJsonText(text));
          if ("err" in r) {
            assertRefusal(r.err);
            assert.equal(answerFor(r.err).body.errcode, "M_NOT_JSON");
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("any JSON as create_group: distinct canonical addresses and a bounded name, or M_BAD_JSON", function () {
    const body = fc.oneof(
      anyJson,
      fc.record(
        {
          participants: fc.array(fc.oneof(goodAddress, fc.string()), { maxLength: 6 }),
          name: fc.oneof(fc.string({ maxLength: 300 }), fc.record({ name: fc.string() }), fc.integer()),
        },
        { requiredKeys: [] },
      ),
      fc.record({ addresses: fc.array(goodAddress, { minLength: 1, maxLength: 6 }) }),
    );
    fc.assert(
      fc.property(body, (json) => {
        const r = outcome(() => parseGroupRequest(json));
        if ("err" in r) {
          assertRefusal(r.err);
          assert.equal(answerFor(r.err).body.errcode, "M_BAD_JSON");
          return;
        }
        const { addresses, name } = r.ok;
        assert.ok(addresses.length >= 1);
        assert.equal(new Set(addresses).size, addresses.length);
        for (const a of addresses) assert.equal(parseAddress(a), a);
        if (name !== undefined) {
          assert.ok(name.length >= 1 && name.length <= MAX_GROUP_NAME);
          assert.equal(name, name.trim());
        }
      }),
      { numRuns: RUNS },
    );
    assert.deepEqual(
      parseGroupRequest({ participants: ["Joe@Other.Test", "joe@other.test", "ann@other.test"] }),
      {
        addresses: [parseAddress("Joe@Other.Test"), "ann@other.test"].filter(
          (a, i, all) => all.indexOf(a) === i,
        ),
      },
    );
    assert.deepEqual(parseGroupRequest({ addresses: ["ann@other.test"], name: { name: " Trip " } }), {
      addresses: ["ann@other.test"],
      name: "Trip",
    });
    for (const bad of [
      {},
      { participants: [] },
      { participants: ["a@b.test"], addresses: ["a@b.test"] },
      [],
    ]) {
      assert.throws(
        () => parseGroupRequest(bad),
        (err) => answerFor(err).body.errcode === "M_BAD_JSON",
      );
    }
  });
});

describe("provisioning secret", function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "prov-secret-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("matches itself only", function () {
    fc.assert(
      fc.property(fc.string({ minLength: 32 }), fc.string(), (secret, other) => {
        const s = new ProvisioningSecret(secret);
        assert.equal(s.matches(secret), true);
        assert.equal(s.matches(other), other === secret);
      }),
      { numRuns: RUNS },
    );
  });

  it('"generate" makes one secret (0600) and keeps it; "disable" turns the API off; a value is the secret', function () {
    const first = provisioningSecret("generate", dir)!;
    const path = join(dir, PROVISIONING_SECRET_FILE);
    const text = readFileSync(path, "utf8").trim();
    assert.match(text, /^[0-9a-f]{64}$/);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(first.matches(text));
    assert.ok(provisioningSecret("generate", dir)!.matches(text), "read again, not made anew");
    assert.equal(provisioningSecret("disable", dir), undefined);
    const configured = "x".repeat(40);
    assert.ok(provisioningSecret(configured, dir)!.matches(configured));
    assert.ok(!provisioningSecret(configured, dir)!.matches(text));
    writeFileSync(path, "short\n");
    assert.throws(() => provisioningSecret("generate", dir), /no provisioning secret/);
  });
});

describe("provisioning config", function () {
  const base = {
    homeserver: { url: "http://127.0.0.1:8008", domain: "hs.test" },
    people: { domain: "people.test" },
  };

  it("defaults to a generated secret under /_matrix/provision", function () {
    assert.deepEqual(parseBridgeConfig(base).provisioning, {
      prefix: "/_matrix/provision",
      shared_secret: "generate",
    });
  });

  it("refuses a short secret and a prefix that would take the homeserver's paths, naming the key", function () {
    for (const [provisioning, key] of [
      [{ shared_secret: "too-short" }, "provisioning.shared_secret"],
      [{ prefix: "/_matrix" }, "provisioning.prefix"],
      [{ prefix: "/_matrix/app/v1/x" }, "provisioning.prefix"],
      [{ prefix: "no-slash" }, "provisioning.prefix"],
      [{ prefix: "/trailing/" }, "provisioning.prefix"],
    ] as const) {
      assert.throws(
        () => parseBridgeConfig({ ...base, provisioning }),
        (err: Error) => err.message.includes(key),
        JSON.stringify(provisioning),
      );
    }
    assert.equal(
      parseBridgeConfig({ ...base, provisioning: { shared_secret: "disable" } }).provisioning.shared_secret,
      "disable",
    );
  });
});

describe("provisioning API mount", function () {
  it('is not mounted with shared_secret "disable", and is with "generate"', function () {
    const dir = mkdtempSync(join(tmpdir(), "prov-mount-"));
    try {
      const config = (shared_secret: string) =>
        parseBridgeConfig({
          homeserver: { url: "http://127.0.0.1:8008", domain: "hs.test" },
          provisioning: { shared_secret },
          people: { domain: "people.test", data_dir: dir },
        });
      // Nothing of the bridge is touched before the API is served.
      const parts = { log: silentLog } as unknown as Parameters<typeof provisioningApi>[0];
      assert.equal(provisioningApi({ ...parts, config: config("disable") }), undefined);
      const mounted = provisioningApi({ ...parts, config: config("generate") });
      assert.equal(mounted?.prefix, "/_matrix/provision");
      assert.equal(typeof mounted?.handle, "function");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bridge state contents (MSC2346)", function () {
  it("a DM names the address and its domain; a group a stable id under the bridge's domain", function () {
    const dm = dmBridgeInfo("@bot:hs", parseAddress("joe@other.test"));
    assert.equal(dm.stateKey, "people://other.test/joe@other.test");
    assert.deepEqual(dm.content.network, { id: "other.test", displayname: "other.test" });
    assert.deepEqual(dm.content.channel, { id: "joe@other.test", displayname: "joe@other.test" });
    assert.deepEqual(dm.content.protocol, { id: "people", displayname: "People" });
    const g = groupBridgeInfo("@bot:hs", "people.test", "!room:hs", "Trip");
    assert.equal(groupChannelId("!room:hs"), groupChannelId("!room:hs"));
    assert.notEqual(groupChannelId("!room:hs"), groupChannelId("!other:hs"));
    assert.equal(g.stateKey, `people://people.test/${groupChannelId("!room:hs")}`);
    assert.deepEqual(g.content.channel, { id: groupChannelId("!room:hs"), displayname: "Trip" });
  });

  it("compares contents whatever the key order", function () {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        assert.ok(sameContent(obj, reversed));
      }),
      { numRuns: RUNS },
    );
    assert.ok(!sameContent({ a: 1 }, { a: 2 }));
    assert.ok(!sameContent(undefined, { a: 1 }));
  });
});
