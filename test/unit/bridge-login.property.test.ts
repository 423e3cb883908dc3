// Logins' pure parts: the `login <address> <code>` argument parser, and the
// marker on what a user sent from another device. Property tests (fast-check):
// any code `people link-code` shows is taken however it is split or cased, and
// anything that is not one is refused with the usage, never thrown raw; and
// `move <address> [invite]`'s parser likewise.
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatLinkCode } from "../../src/people/client/link-code.js";
import { LOGIN_USAGE, parseLoginArgs } from "../../src/bridge/adapters/accounts/login-commands.js";
import { isUserError } from "../../src/bridge/core/error-kinds.js";
import { MOVE_USAGE, parseMoveArgs } from "../../src/bridge/adapters/accounts/move-command.js";
import { OWN_DEVICE_MARK, marked } from "../../src/bridge/portals/own-copies.js";

const RUNS = 300;
const code = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatLinkCode(Buffer.from(b)));

function refusal(args: string[]): string {
  try {
    parseLoginArgs(args);
  } catch (err) {
    assert.ok(isUserError(err), `a user error, not ${String(err)}`);
    return err.userText;
  }
  return assert.fail(`accepted ${JSON.stringify(args)}`);
}

describe("login: the argument parser", () => {
  it("takes an address and a code", () => {
    const c = formatLinkCode(Buffer.alloc(16, 7));
    assert.deepEqual(parseLoginArgs(["joe@other.test", c]), { address: "joe@other.test", code: c });
  });

  it("takes any code link-code shows, split into words and in any case", () => {
    fc.assert(
      fc.property(code, fc.integer({ min: 1, max: 6 }), fc.boolean(), (c, parts, upper) => {
        const shown = upper ? c.toUpperCase() : c;
        const words = shown.split("-").reduce<string[]>((acc, group, i) => {
          if (i % parts === 0 || acc.length === 0) acc.push(group);
          else acc[acc.length - 1] += `-${group}`;
          return acc;
        }, []);
        const parsed = parseLoginArgs(["ann@people.test", ...words]);
        assert.equal(parsed.address, "ann@people.test");
        assert.equal(parsed.code.toLowerCase().replace(/-/g, ""), c.replace(/-/g, ""));
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses missing words with the usage", () => {
    assert.equal(refusal([]), LOGIN_USAGE);
    assert.equal(refusal(["joe@other.test"]), LOGIN_USAGE);
  });

  it("refuses anything that is not a code, or not an address, as a user error", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 4 }), (words) => {
        fc.pre(!/^[a-z2-7]{26}$/i.test(words.join("").replace(/[\s-]/g, "")));
        assert.match(refusal(["joe@other.test", ...words]), /not a link code/);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), code, (address, c) => {
        fc.pre(!address.includes("@")); // an address needs its "@"; the rest of its rules are parseAddress's
        assert.match(refusal([address, c]), /not a People address/);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("own copies: the marker", () => {
  it("goes before the body and the HTML, and into an edit's new content", () => {
    const out = marked({
      msgtype: "m.text",
      body: "hi",
      format: "org.matrix.custom.html",
      formatted_body: "<b>hi</b>",
    });
    assert.equal(out.body, `${OWN_DEVICE_MARK} hi`);
    assert.equal(out.formatted_body, `<em>${OWN_DEVICE_MARK}</em> <b>hi</b>`);
    assert.equal(out["org.people.own_device"], true);
    const edit = marked({
      msgtype: "m.text",
      body: "* hi",
      "m.new_content": { msgtype: "m.text", body: "hi" },
    });
    assert.deepEqual(edit["m.new_content"], { msgtype: "m.text", body: `${OWN_DEVICE_MARK} hi` });
  });

  it("leaves content without a body (a reaction) unchanged but for the flag", () => {
    const reaction = { "m.relates_to": { rel_type: "m.annotation", event_id: "$e", key: "👍" } };
    assert.deepEqual(marked(reaction), { ...reaction, "org.people.own_device": true });
  });
});

describe("move: the argument parser", () => {
  const moveRefusal = (args: string[]): string => {
    try {
      parseMoveArgs(args);
    } catch (err) {
      assert.ok(isUserError(err), `a user error, not ${String(err)}`);
      return err.userText;
    }
    return assert.fail(`accepted ${JSON.stringify(args)}`);
  };

  it("takes an address, with or without an invite code", () => {
    assert.deepEqual(parseMoveArgs(["joe@third.test"]), { to: "joe@third.test" });
    assert.deepEqual(parseMoveArgs(["joe@third.test", "invite-0123456789"]), {
      to: "joe@third.test",
      invite: "invite-0123456789",
    });
  });

  it("refuses anything else with the usage, never a raw error", () => {
    assert.equal(moveRefusal([]), MOVE_USAGE);
    assert.equal(moveRefusal(["a@b.test", "x", "y"]), MOVE_USAGE);
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 }), (args) => {
        try {
          const parsed = parseMoveArgs(args);
          // Accepted: exactly an address and, if given, a printable invite without spaces.
          assert.ok(args.length === 1 || args.length === 2);
          assert.equal(parsed.to, args[0]);
          if (args.length === 2) assert.match(parsed.invite!, /^[\x21-\x7e]+$/);
        } catch (err) {
          assert.ok(isUserError(err), `a user error, not ${String(err)}`);
          assert.match(err.userText, /Usage: `move/);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
