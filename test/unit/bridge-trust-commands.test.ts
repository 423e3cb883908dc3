// The trust commands and key-change notices, without IO: over the fake People
// account and ghosts.
import assert from "node:assert/strict";
import { CommandRegistry, type CommandContext } from "../../src/bridge/core/commands.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { keyChangeNotices } from "../../src/bridge/portals/key-change-notices.js";
import { PortalService } from "../../src/bridge/portals/portal-service.js";
import { trustCommands } from "../../src/bridge/trust/trust-commands.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { FakeGhosts, FakePeople, MemoryPortals, safetyNumber, silentLog } from "../helpers/portal-fakes.js";
import { isUserError } from "../../src/bridge/core/error-kinds.js";

const ALICE = "@alice:hs.test";
const JOE = "joe@other.test";

function setup() {
  const people = new FakePeople();
  const registry = new CommandRegistry().register(...trustCommands(people));
  const run = async (line: string): Promise<string> => {
    const [name, ...args] = line.split(" ");
    const ctx: CommandContext = {
      sender: ALICE,
      roomId: "!mgmt:hs.test",
      eventId: "$e",
      access: "user",
      args,
    };
    return (await registry.get(name!)!.run(ctx)).text;
  };
  const fails = async (line: string, pattern: RegExp) =>
    assert.rejects(
      run(line),
      (e: unknown) => e instanceof Error && "userText" in e && pattern.test(String(e.userText)),
    );
  return { people, run, fails };
}

describe("trust commands (no IO)", function () {
  it("fingerprint <address> shows the safety number in groups and the user's own address", async function () {
    const { people, run } = setup();
    (await people.accountFor(ALICE)).addContact(JOE, { current: safetyNumber(3) });
    const text = await run(`fingerprint ${JOE}`);
    assert.match(text, /alice@people\.test/);
    assert.equal(text.match(/\b\d{5}\b/g)!.join(" "), safetyNumber(3));
    assert.match(text, /`verify joe@other\.test`/);
  });

  it("fingerprint alone shows the own address and devices", async function () {
    const { run } = setup();
    const text = await run("fingerprint");
    assert.match(text, /alice@people\.test/);
    assert.match(text, /BRIDGEDEV.*this bridge/);
  });

  it("gives usage errors for bad arguments", async function () {
    const { fails } = setup();
    await fails("fingerprint not-an-address", /not a People address/);
    await fails("fingerprint a@b.test c@d.test", /Usage: `fingerprint/);
    await fails("devices", /Usage: `devices/);
    await fails("verify", /Usage: `verify/);
    await fails(`verify ${JOE} --force`, /Usage: `verify/);
    await fails("verify alice@people.test", /your own People address/);
    await fails("devices nobody@other.test", /has no People account/);
  });

  it("contacts and devices list state, verification and devices", async function () {
    const { people, run } = setup();
    const account = await people.accountFor(ALICE);
    assert.equal(await run("contacts"), "No contacts yet.");
    account.addContact(JOE, {
      devices: [
        { device: "D1", seq: 0 },
        { device: "D2", seq: 4 },
      ],
    });
    account.addContact("ann@other.test", { verified: true });
    const list = await run("contacts");
    assert.match(list, /`ann@other\.test`: verified, 1 device/);
    assert.match(list, /`joe@other\.test`: not verified, 2 devices/);
    const devices = await run(`devices ${JOE}`);
    assert.match(devices, /`D1`: key #0/);
    assert.match(devices, /`D2`: key #4/);
  });

  it("verify marks verified; an unexplained change needs --accept-change and shows the new number", async function () {
    const { people, run, fails } = setup();
    const account = await people.accountFor(ALICE);
    const keys = account.addContact(JOE);
    assert.match(await run(`verify ${JOE}`), /is verified/);
    assert.equal(keys.verified, true);

    Object.assign(keys, { state: "unexplained", pending: safetyNumber(9) });
    await fails(`verify ${JOE}`, /changed in a way their account did not sign/);
    await assert.rejects(run(`verify ${JOE}`), (e: unknown) => {
      assert(isUserError(e));
      assert.equal(e.userText.match(/\b\d{5}\b/g)!.join(" "), safetyNumber(9));
      assert.match(e.userText, /--accept-change/);
      return true;
    });
    const fp = await run(`fingerprint ${JOE}`);
    assert.match(fp, /keys pinned before their change/);
    assert.match(await run(`verify ${JOE} --accept-change`), /Accepted the new keys/);
    assert.deepEqual(
      { state: keys.state, verified: keys.verified, current: keys.current },
      {
        state: "new",
        verified: true,
        current: safetyNumber(9),
      },
    );
  });
});

describe("key-change notices (no IO)", function () {
  async function withPortal() {
    const ghosts = new FakeGhosts();
    const people = new FakePeople();
    const portals = new MemoryPortals();
    const service = new PortalService({
      ghosts,
      portals,
      people,
      permissions: new Permissions({ "hs.test": "user" }),
      log: silentLog,
    });
    const { portal } = await service.ensurePortal(ALICE as MatrixUserId, parseAddress(JOE));
    const account = await people.accountFor(ALICE);
    return { ghosts, account, portal, tell: keyChangeNotices({ ghosts, service, log: silentLog }) };
  }

  it("a signed continuation gets a short note from the ghost in the portal", async function () {
    const { ghosts, account, portal, tell } = await withPortal();
    await tell(account, {
      kind: "continued",
      address: parseAddress(JOE),
      added: ["D2"],
      rotated: [],
      removed: [],
    });
    assert.equal(ghosts.sent.at(-1)!.roomId, portal.roomId);
    assert.equal(ghosts.sent.at(-1)!.ghost, ghosts.ghostId(parseAddress(JOE)));
    const [text] = ghosts.notices().slice(-1);
    assert.match(text!, /added a device, signed by their account/);
    assert.doesNotMatch(text!, /WARNING/);
  });

  it("an unexplained change gets a loud warning with the new number and how to accept it", async function () {
    const { ghosts, account, tell } = await withPortal();
    account.addContact(JOE, { state: "unexplained", pending: safetyNumber(5) });
    await tell(account, { kind: "unexplained", address: parseAddress(JOE), code: "PEOPLE_CHAIN_FORK" });
    const [text] = ghosts.notices().slice(-1);
    assert.match(text!, /WARNING/);
    assert.match(text!, /held/);
    assert.match(text!, /`verify joe@other\.test --accept-change`/);
    assert.equal(text!.match(/\b\d{5}\b/g)!.join(" "), safetyNumber(5));
  });

  it("a contact's move re-keys the portal: the new ghost is invited and says so, in the same room", async function () {
    const { ghosts, account, portal, tell } = await withPortal();
    const to = parseAddress("joe@third.test");
    await tell(account, { kind: "moved", address: parseAddress(JOE), to });
    const newGhost = ghosts.ghostId(to);
    assert.deepEqual(ghosts.invites.at(-1), {
      ghost: ghosts.ghostId(parseAddress(JOE)),
      roomId: portal.roomId,
      userId: newGhost,
    });
    assert.equal(ghosts.sent.at(-1)!.ghost, newGhost);
    assert.equal(ghosts.sent.at(-1)!.roomId, portal.roomId);
    assert.match(
      ghosts.notices().at(-1)!,
      /joe@other\.test moved to joe@third\.test \(verified with their account key\)/,
    );
    // Told again (a replay reaching the bridge twice): nothing more happens.
    const sent = ghosts.sent.length;
    await tell(account, { kind: "moved", address: parseAddress(JOE), to });
    assert.equal(ghosts.sent.length, sent);
  });

  it("a refused move notice is a loud warning in the portal", async function () {
    const { ghosts, account, tell } = await withPortal();
    await tell(account, { kind: "move_refused", address: parseAddress(JOE), code: "PEOPLE_BAD_SIGNATURE" });
    assert.match(ghosts.notices().at(-1)!, /WARNING: a notice claiming that joe@other\.test moved/);
  });

  it("says nothing without a portal", async function () {
    const { ghosts, account, tell } = await withPortal();
    const before = ghosts.sent.length;
    await tell(account, {
      kind: "unexplained",
      address: parseAddress("ann@other.test"),
      code: "PEOPLE_CHAIN_FORK",
    });
    assert.equal(ghosts.sent.length, before);
  });
});
