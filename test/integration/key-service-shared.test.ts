// Server keys shared by the processes of one domain (two KeyServices on one
// PostgreSQL database): one identity key even when both start on an empty
// database at once, and a rotation by one is adopted by the other (on its
// next rotation check, or when an envelope names the new key).
import assert from "node:assert/strict";
import { KeyService } from "../../src/people/server/key-service.js";
import { openStore, type PeopleStore } from "../../src/store/index.js";
import { testPostgres } from "../helpers/postgres.js";

const WEEK = 7 * 86_400_000;

describe("server keys shared by several processes [postgres]", function () {
  this.timeout(180_000);
  let stores: PeopleStore[] = [];

  before(async function () {
    this.timeout(180_000);
    const connection = await (await testPostgres()).createDatabase("shared-keys");
    stores = [
      await openStore({ engine: "postgres", connection }),
      await openStore({ engine: "postgres", connection }),
    ];
  });

  after(async () => {
    for (const s of stores) await s.close();
  });

  it("agree on one identity, and follow each other's rotations", async () => {
    const now = Date.now();
    const load = (s: PeopleStore) =>
      KeyService.load({ domain: "k.test", store: s.serverKeys, rotationMs: WEEK, now, version: "t" });
    const [k1, k2] = await Promise.all([load(stores[0]!), load(stores[1]!)]);
    assert.equal(k1.identity.identityKey.publicKey.toB64u(), k2.identity.identityKey.publicKey.toB64u());
    const identities = (await stores[0]!.serverKeys.all()).filter((r) => r.kind === "identity");
    assert.equal(identities.length, 1);

    // k1 rotates; k2 learns the new key when an envelope names it (reload), not before.
    const later = now + WEEK + 1;
    assert.equal(await k1.rotateIfDue(later), true);
    const newest = k1.descriptor(later).envelope_keys[0]!;
    const newId = (await stores[0]!.serverKeys.all()).find(
      (r) => r.certJson === JSON.stringify(newest),
    )!.keyId;
    assert.equal(k2.envelopeKey(Buffer.from(newId, "hex")), undefined);
    assert.equal(await k2.reload(later), true);
    assert.ok(k2.envelopeKey(Buffer.from(newId, "hex")));
    assert.equal(await k2.reload(later + 10), false, "at most one reload a second");

    // k2's own rotation check adopts k1's key instead of making another.
    const before = (await stores[1]!.serverKeys.all()).length;
    assert.equal(await k2.rotateIfDue(later + 1000), false);
    assert.equal((await stores[1]!.serverKeys.all()).length, before);
    assert.deepEqual(k2.descriptor(later).envelope_keys, k1.descriptor(later).envelope_keys);
  });
});
