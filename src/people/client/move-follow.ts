// Following a contact's move (PROTOCOL §20). A notice counts only if the
// account key pinned for its `from` signed it and the new address publishes a
// device list under that same key; then the contact's pin, trust and verified
// mark carry over to the new address, with no warning. A notice not older
// than the last one followed changes nothing (a replay); anything that fails
// is refused loudly by the caller and changes nothing either.
import { PeopleError } from "../errors.js";
import type { PeopleAddress } from "../protocol/address.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import { parseMoveNotice, verifyMoveNotice, type MoveNotice } from "../protocol/move-notice.js";
import { verifyLists, type Directory } from "./directory.js";
import type { ClientEvents } from "./events.js";
import type { ClientStore } from "./local-store.js";

/** Moves followed in a row at most (a → b → c …), so a loop of records cannot spin. */
const MAX_HOPS = 8;

export type FollowResult = "followed" | "replayed" | "not-a-contact";

export class MoveFollower {
  constructor(
    private readonly o: {
      store: ClientStore;
      directory: Directory;
      events: ClientEvents;
      now: () => number;
    },
  ) {}

  /** Parse, verify and follow a notice; throws (and changes nothing) when it does not hold. */
  async follow(input: unknown): Promise<{ result: FollowResult; notice: MoveNotice }> {
    const notice = parseMoveNotice(input);
    const { store, directory } = this.o;
    const result = await directory.locked(notice.from, async (): Promise<FollowResult> => {
      const saved = await store.getContact(notice.from);
      if (!saved) return "not-a-contact";
      if (saved.movedAt !== undefined && notice.movedAt <= saved.movedAt) return "replayed";
      const pinned = Ed25519PublicKey.fromB64u(saved.accountKey);
      verifyMoveNotice(notice, pinned);
      const lists = await directory.fetchLists(notice.to);
      const verified = verifyLists(notice.to, lists);
      if (!verified.list.accountKey.equals(pinned))
        throw new PeopleError("PEOPLE_CHAIN_FORK", "the new address is not bound to the pinned account key");
      const now = this.o.now();
      await directory.locked(notice.to, async () => {
        const existing = await store.getContact(notice.to);
        const sameKey = existing?.accountKey === saved.accountKey;
        await directory.put({
          address: notice.to,
          accountKey: saved.accountKey,
          version: verified.list.version,
          pinned: lists,
          verified: saved.verified || (sameKey && existing.verified),
          state: "trusted",
          pending: null,
          lastChange: now,
          fetchedAt: now,
          ...(sameKey && existing.profileSeen !== undefined ? { profileSeen: existing.profileSeen } : {}),
        });
      });
      await directory.put({ ...saved, movedTo: notice.to, movedAt: notice.movedAt });
      this.o.events.emit("contactMoved", { from: notice.from, to: notice.to, at: now });
      return "followed";
    });
    return { result, notice };
  }

  /** Where mail for `address` goes now: the end of the moves it made. */
  async currentAddress(address: PeopleAddress): Promise<PeopleAddress> {
    let current = address;
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const record = await this.o.store.getContact(current);
      if (!record?.movedTo) return current;
      current = record.movedTo as PeopleAddress;
    }
    return current;
  }
}
