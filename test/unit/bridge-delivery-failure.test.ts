// Sorting People → Matrix failures, without IO: what is an answer (the room is
// told why) and what may pass (the message is tried again on its own).
import assert from "node:assert/strict";
import {
  classifyAttachmentFailure,
  gaveUpText,
  unfetchableText,
} from "../../src/bridge/portals/delivery-failure.js";
import { PeopleError, type ErrorCode } from "../../src/people/errors.js";
import { remoteError } from "../../src/people/net/https-client.js";

const people = (code: ErrorCode) => new PeopleError(code, "detail that is not shown");

describe("People → Matrix failure classes", function () {
  it("a blob that does not exist, is altered, too large or malformed is permanent, with a reason for the room", function () {
    const cases: [unknown, RegExp][] = [
      [remoteError(404, { errcode: "PEOPLE_NOT_FOUND", error: "no such blob" }), /could not be fetched/],
      [people("PEOPLE_DECRYPT_FAILED"), /could not be decrypted/],
      [people("PEOPLE_BAD_SIGNATURE"), /does not match/],
      [people("PEOPLE_TOO_LARGE"), /too large/],
      [people("PEOPLE_BAD_KEY"), /malformed/],
      [people("PEOPLE_BAD_ENVELOPE"), /damaged/],
      [remoteError(400, null), /malformed/],
      [remoteError(403, { errcode: "PEOPLE_FORBIDDEN", error: "no" }), /refused/],
      [{ errcode: "M_TOO_LARGE", httpStatus: 413 }, /too large for this homeserver/],
    ];
    for (const [err, why] of cases) {
      const f = classifyAttachmentFailure(err);
      assert.equal(f.kind, "permanent", String(err));
      if (f.kind === "permanent") {
        assert.match(f.why, why);
        assert.doesNotMatch(f.why, /detail that is not shown|no such blob/);
      }
    }
  });

  it("the network, a 5xx, rate limits and Matrix errors other than size are transient", function () {
    const cases: unknown[] = [
      remoteError(502, null),
      remoteError(503, { errcode: "PEOPLE_UNAVAILABLE", error: "later" }),
      people("PEOPLE_INTERNAL"),
      people("PEOPLE_RATE_LIMITED"),
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      { errcode: "M_LIMIT_EXCEEDED" },
      { body: { errcode: "M_UNKNOWN" }, statusCode: 500 },
      undefined,
    ];
    for (const err of cases)
      assert.deepEqual(classifyAttachmentFailure(err), { kind: "transient" }, String(err));
  });

  it("the notices name the sender, the file and the reason", function () {
    assert.equal(
      unfetchableText("joe@other.test", "the file is too large", "a.png"),
      "joe@other.test sent a file (a.png) that could not be bridged: the file is too large.",
    );
    assert.equal(
      unfetchableText("joe@other.test", "the file is too large"),
      "joe@other.test sent a file that could not be bridged: the file is too large.",
    );
    assert.match(gaveUpText("joe@other.test", 10 * 60_000), /retried for 10 minutes/);
    assert.match(gaveUpText("joe@other.test", 1000), /retried for 1 minute /);
  });
});
