// Ghost names and avatars from People profiles, without a homeserver: the
// pure name rules, the config keys, and GhostProfiles over fakes (a reader
// that can fail, ghosts that record names and avatars, a store in memory).
import assert from "node:assert/strict";
import { ConfigError, parseBridgeConfig } from "../../src/bridge/config.js";
import {
  GhostProfiles,
  RETRY_AFTER_FAILURE_MS,
  profiledGhosts,
  type PeopleProfile,
  type ProfileReader,
} from "../../src/bridge/profiles/ghost-profiles.js";
import {
  MAX_DISPLAY_NAME,
  MAX_NAME,
  ghostDisplayName,
  sanitizeProfileName,
  templateProblem,
} from "../../src/bridge/model/ghost-name.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type { GhostProfileRecord, GhostProfileStore } from "../../src/bridge/core/ports/store.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { FakeGhosts, newMetrics, silentLog } from "../helpers/portal-fakes.js";

const JOE = parseAddress("joe@example.com");
const T = "{displayname} (People)";

describe("ghost display names", function () {
  it("fills the template with the profile's name, or the address", function () {
    assert.equal(ghostDisplayName(T, JOE, "Joe Smith"), "Joe Smith (People)");
    assert.equal(ghostDisplayName(T, JOE), "joe@example.com (People)");
    assert.equal(ghostDisplayName("{displayname} <{address}>", JOE, "Joe"), "Joe <joe@example.com>");
  });

  it("removes controls, bidi overrides and zero-width characters, and folds whitespace", function () {
    assert.equal(sanitizeProfileName("Jo\u202eE\u200b  Smith\n\tx\u0007"), "JoE Smith x");
    assert.equal(sanitizeProfileName("\u2066\u2069 \u200f"), undefined);
    assert.equal(sanitizeProfileName("\u3164"), undefined);
  });

  it("cuts long names", function () {
    const name = sanitizeProfileName("é".repeat(200))!;
    assert.equal([...name].length, MAX_NAME);
    assert.ok(name.endsWith("…"));
    const out = ghostDisplayName(
      `${"x".repeat(60)} {displayname} {displayname} {displayname} {displayname}`,
      JOE,
      "y".repeat(64),
    );
    assert.ok([...out].length <= MAX_DISPLAY_NAME);
  });

  it("does not use a name that poses as a Matrix user", function () {
    assert.equal(sanitizeProfileName("@admin:example.org"), undefined);
    assert.equal(sanitizeProfileName("the real @alice:matrix.org"), undefined);
    assert.equal(ghostDisplayName(T, JOE, "@admin:localhost"), "joe@example.com (People)");
    assert.equal(sanitizeProfileName("Joe @ home"), "Joe @ home");
  });

  it("does not use a name that is another address, or a full-width look-alike of a Matrix ID", function () {
    // Mallory naming herself Joe's address would make her ghost "joe@other.test (People)", like Joe's.
    assert.equal(
      ghostDisplayName(T, parseAddress("mallory@evil.test"), "joe@other.test"),
      "mallory@evil.test (People)",
    );
    assert.equal(sanitizeProfileName("Joe (joe@other.test)", "mallory@evil.test"), undefined);
    assert.equal(sanitizeProfileName("\uff20alice\uff1alocalhost"), undefined);
    assert.equal(sanitizeProfileName("\ufe6balice\u2236localhost"), undefined);
    assert.equal(sanitizeProfileName("ｊｏｅ＠ｏｔｈｅｒ．ｔｅｓｔ", "mallory@evil.test"), undefined);
    assert.equal(sanitizeProfileName("joe@other\u3002test", "mallory@evil.test"), undefined);
    assert.equal(sanitizeProfileName("@alice:\ufefflocalhost"), undefined);
    // Its own address is no pretence; the name shown is the original.
    assert.equal(ghostDisplayName(T, JOE, "Joe (JOE@example.com)"), "Joe (JOE@example.com) (People)");
    assert.equal(ghostDisplayName(T, JOE, "Ｊｏｅ"), "Ｊｏｅ (People)");
    assert.equal(sanitizeProfileName("Tom & Jerry: the @ sign"), "Tom & Jerry: the @ sign");
  });

  it("checks templates", function () {
    assert.equal(templateProblem(T), undefined);
    assert.equal(templateProblem("{address}"), undefined);
    assert.match(templateProblem("People user")!, /must contain/);
    assert.match(templateProblem("{name} (People)")!, /unknown placeholder \{name\}/);
    assert.match(templateProblem("{displayname}\u202e")!, /control or format/);
  });

  it("reads the config keys, with defaults, and refuses bad ones", function () {
    const minimal = {
      homeserver: { url: "https://matrix.example.com", domain: "example.com" },
      people: { domain: "example.com" },
    };
    const c = parseBridgeConfig(minimal);
    assert.equal(c.bridge.displayname_template, T);
    assert.equal(c.bridge.profile_refresh_interval, 86_400_000);
    const set = parseBridgeConfig({
      ...minimal,
      bridge: { displayname_template: "{address}", profile_refresh_interval: "6h" },
    });
    assert.equal(set.bridge.profile_refresh_interval, 6 * 3_600_000);
    assert.throws(
      () => parseBridgeConfig({ ...minimal, bridge: { displayname_template: "{nick}" } }),
      (e: unknown) => e instanceof ConfigError && e.path === "bridge.displayname_template",
    );
    assert.throws(
      () => parseBridgeConfig({ ...minimal, bridge: { profile_refresh_interval: "soon" } }),
      (e: unknown) => e instanceof ConfigError && e.path === "bridge.profile_refresh_interval",
    );
  });
});

class MemoryGhostProfiles implements GhostProfileStore {
  readonly rows = new Map<string, GhostProfileRecord>();
  async get(address: string) {
    return this.rows.get(address);
  }
  async put(r: GhostProfileRecord) {
    this.rows.set(r.address, { ...r });
  }
}

/** Ghosts whose display names and avatars are recorded. */
class ProfileGhosts extends FakeGhosts {
  readonly names = new Map<string, string>();
  readonly avatars: { ghost: string; mxc: string }[] = [];
  readonly uploads: Buffer[] = [];
  override async ensureGhost(ghost?: MatrixUserId, name?: string): Promise<void> {
    this.names.set(ghost!, name!);
  }
  async setAvatar(ghost: MatrixUserId, mxc: string): Promise<void> {
    this.avatars.push({ ghost, mxc });
  }
  override async uploadMedia(ghost: MatrixUserId, bytes: Buffer): Promise<string> {
    this.uploads.push(bytes);
    return super.uploadMedia(ghost, bytes);
  }
}

class FakeReader implements ProfileReader {
  profile: PeopleProfile | null = null;
  fail: Error | undefined;
  reads = 0;
  /** Resolves the pending read when set. */
  gate: Promise<void> | undefined;
  async read(): Promise<PeopleProfile | null> {
    this.reads++;
    await this.gate;
    if (this.fail) throw this.fail;
    return this.profile;
  }
  /** Holds avatar downloads until it resolves, when set. */
  avatarGate: Promise<void> | undefined;
  async avatar(_a: PeopleAddress, p: PeopleProfile): Promise<Buffer> {
    await this.avatarGate;
    return Buffer.from(`avatar ${p.avatar?.hash}`);
  }
}

describe("GhostProfiles", function () {
  let now: number;
  let ghosts: ProfileGhosts;
  let reader: FakeReader;
  let store: MemoryGhostProfiles;
  let metrics: ReturnType<typeof newMetrics>;
  let profiles: GhostProfiles;
  const ghost = (): MatrixUserId => ghosts.ghostId(JOE);
  const avatar = (hash: string) => ({ server: "example.com", hash, mime: "image/png", size: 10 });

  beforeEach(function () {
    now = 1_000_000;
    ghosts = new ProfileGhosts();
    reader = new FakeReader();
    store = new MemoryGhostProfiles();
    metrics = newMetrics();
    profiles = new GhostProfiles({
      ghosts,
      reader,
      store,
      log: silentLog,
      metrics,
      template: T,
      refreshIntervalMs: 60_000,
      firstFetchWaitMs: 1_000,
      now: () => now,
    });
  });

  it("names a new ghost from its profile and sets its avatar", async function () {
    reader.profile = { displayName: "Joe", avatar: avatar("h1") };
    await profiledGhosts(ghosts, profiles).ensureGhost(ghost(), JOE);
    assert.equal(ghosts.names.get(ghost()), "Joe (People)");
    assert.equal(ghosts.uploads.length, 1);
    assert.deepEqual(ghosts.avatars, [{ ghost: ghost(), mxc: ghosts.avatars[0]!.mxc }]);
    assert.equal(store.rows.get(JOE)?.avatarHash, "h1");
    const updated = await metrics.registry.getSingleMetricAsString("bridge_ghost_profile_refreshes_total");
    assert.match(updated, /outcome="updated"\} 1/);
  });

  it("fetches again only after the interval, and uploads an avatar only when its hash changed", async function () {
    reader.profile = { displayName: "Joe", avatar: avatar("h1") };
    const wrapped = profiledGhosts(ghosts, profiles);
    await wrapped.ensureGhost(ghost(), JOE);
    await wrapped.ensureGhost(ghost(), JOE);
    assert.equal(reader.reads, 1);

    reader.profile = { displayName: "Joseph", avatar: avatar("h1") };
    now += 60_000;
    await wrapped.ensureGhost(ghost(), JOE);
    await profiles.close();
    assert.equal(reader.reads, 2);
    assert.equal(ghosts.names.get(ghost()), "Joseph (People)");
    assert.equal(ghosts.uploads.length, 1, "the same avatar is not uploaded again");

    // Across a restart too: the hash is in the store.
    const again = new GhostProfiles({
      ghosts,
      reader,
      store,
      log: silentLog,
      metrics,
      template: T,
      refreshIntervalMs: 60_000,
      now: () => now + 60_000,
    });
    reader.profile = { displayName: "Joseph", avatar: avatar("h2") };
    await again.refresh(ghost(), JOE);
    assert.equal(ghosts.uploads.length, 2);
    assert.equal(store.rows.get(JOE)?.avatarHash, "h2");

    reader.profile = { displayName: "Joseph" };
    await again.refresh(ghost(), JOE);
    assert.equal(ghosts.avatars.at(-1)?.mxc, "", "a removed avatar is removed");
    assert.equal(store.rows.get(JOE)?.avatarHash, null);
  });

  it("a failing fetch never fails the ghost: the address is used, and the fetch waits before it is tried again", async function () {
    reader.fail = new Error("People server down");
    const wrapped = profiledGhosts(ghosts, profiles);
    await wrapped.ensureGhost(ghost(), JOE);
    assert.equal(ghosts.names.get(ghost()), "joe@example.com (People)");
    await wrapped.ensureGhost(ghost(), JOE);
    assert.equal(reader.reads, 1, "not fetched on every message");
    now += RETRY_AFTER_FAILURE_MS;
    reader.fail = undefined;
    reader.profile = { displayName: "Joe" };
    await wrapped.ensureGhost(ghost(), JOE);
    assert.equal(reader.reads, 2);
    assert.equal(ghosts.names.get(ghost()), "Joe (People)");
    const text = await metrics.registry.getSingleMetricAsString("bridge_ghost_profile_refreshes_total");
    assert.match(text, /outcome="failed"\} 1/);
  });

  it("a slow first fetch does not hold the message past the wait; the name follows when it arrives", async function () {
    let release!: () => void;
    reader.gate = new Promise((r) => (release = r));
    reader.profile = { displayName: "Joe" };
    const fast = new GhostProfiles({
      ghosts,
      reader,
      store,
      log: silentLog,
      metrics,
      template: T,
      refreshIntervalMs: 60_000,
      firstFetchWaitMs: 10,
      now: () => now,
    });
    await profiledGhosts(ghosts, fast).ensureGhost(ghost(), JOE);
    assert.equal(ghosts.names.get(ghost()), "joe@example.com (People)");
    release();
    await fast.close();
    assert.equal(ghosts.names.get(ghost()), "Joe (People)");
  });

  it("a slow avatar does not hold up a known ghost's messages", async function () {
    this.timeout(5_000); // held up, ensureGhost would never resolve
    reader.profile = { displayName: "Joe" };
    const wrapped = profiledGhosts(ghosts, profiles);
    await wrapped.ensureGhost(ghost(), JOE);
    let release!: () => void;
    reader.avatarGate = new Promise((r) => (release = r));
    reader.profile = { displayName: "Joe", avatar: avatar("slow") };
    now += 60_000;
    await wrapped.ensureGhost(ghost(), JOE); // starts the refresh, which waits for the avatar
    await wrapped.ensureGhost(ghost(), JOE);
    assert.equal(ghosts.avatars.length, 0);
    release();
    await profiles.close();
    assert.equal(ghosts.avatars.length, 1);
    assert.equal(store.rows.get(JOE)?.avatarHash, "slow");
  });

  it("passes everything else through, and leaves non-ghost users alone", async function () {
    const wrapped = profiledGhosts(ghosts, profiles);
    await wrapped.ensureGhost("@someone:hs.test" as MatrixUserId, "Someone");
    assert.equal(reader.reads, 0);
    assert.equal(ghosts.names.get("@someone:hs.test"), "Someone");
    const room = await wrapped.createDirectRoom(ghost(), "@alice:hs.test");
    assert.deepEqual(ghosts.rooms, [{ roomId: room, ghost: ghost(), invitee: "@alice:hs.test" }]);
  });
});
