// What tells two appservice transactions under one id apart: Synapse on SQLite
// reuses ids after a restart, and a reused id must not make the bridge drop a
// later transaction as a redelivery of the earlier one.
import assert from "node:assert/strict";
import { transactionHash } from "../../src/bridge/adapters/appservice/transactional-appservice.js";
import { parseTransactionExtensions } from "../../src/bridge/adapters/crypto/transaction-extensions.js";

const toDevice = (ciphertext: string) =>
  parseTransactionExtensions({
    "de.sorunome.msc2409.to_device": [
      {
        type: "m.room.encrypted",
        sender: "@alice:hs",
        to_user_id: "@_people_joe=40other.test:hs",
        to_device_id: "GHOSTDEVICE",
        content: { algorithm: "m.olm.v1.curve25519-aes-sha2", ciphertext },
      },
    ],
  });

describe("appservice transaction identity", function () {
  it("room events are identified by their event ids", function () {
    const a = [{ event_id: "$1", type: "m.room.message" }];
    const none = parseTransactionExtensions({});
    assert.equal(
      transactionHash(a, [], none),
      transactionHash([{ ...a[0], content: {} }], [], toDevice("x")),
    );
    assert.notEqual(transactionHash(a, [], none), transactionHash([{ event_id: "$2" }], [], none));
  });

  it("a transaction of room keys only differs from another one with other keys", function () {
    assert.equal(toDevice("one").toDevice.length, 1);
    assert.equal(transactionHash([], [], toDevice("one")), transactionHash([], [], toDevice("one")));
    assert.notEqual(transactionHash([], [], toDevice("one")), transactionHash([], [], toDevice("two")));
    assert.notEqual(
      transactionHash([], [], toDevice("one")),
      transactionHash([], [], parseTransactionExtensions({})),
    );
  });

  it("ephemeral-only transactions differ by their content", function () {
    const none = parseTransactionExtensions({});
    const typing = (users: string[]) => [{ type: "m.typing", room_id: "!r", content: { user_ids: users } }];
    assert.notEqual(transactionHash([], typing(["@a:hs"]), none), transactionHash([], typing([]), none));
  });
});
