// Accounts that moved away (PROTOCOL §20). The server checks the notice
// against the account key it registered, stores it, serves it for ever, and
// from then on refuses new mail for the old address with PEOPLE_MOVED and the
// notice, so senders can follow. Ingest asks for every envelope, so answers
// are cached briefly (a move made by another process sharing the database is
// seen within CACHE_MS; one made here at once).
import { PeopleError } from "../errors.js";
import type { PeopleAddress } from "../protocol/address.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import {
  moveNoticeWireSchema,
  parseMoveNotice,
  verifyMoveNotice,
  type MoveNoticeWire,
} from "../protocol/move-notice.js";
import type { PeopleStore } from "../../store/types.js";

const DAY_MS = 86_400_000;
const CACHE_MS = 30_000;
const CACHE_MAX = 100_000;

export class MoveService {
  private readonly cache = new Map<string, { notice: MoveNoticeWire | null; until: number }>();

  constructor(private readonly o: { store: PeopleStore; forwardDays: number }) {}

  /** Store a move the account key signed; an older or repeated notice is PEOPLE_REPLAYED and changes nothing. */
  async put(address: PeopleAddress, input: unknown, now: number): Promise<PeopleAddress> {
    const account = await this.o.store.accounts.get(address);
    if (!account) throw new PeopleError("PEOPLE_UNKNOWN_RECIPIENT", "no such account");
    const notice = parseMoveNotice(input);
    if (notice.from !== address)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "the notice moves another address", {
        publicText: "The move notice is not this account's.",
      });
    verifyMoveNotice(notice, Ed25519PublicKey.fromB64u(account.accountKey));
    const outcome = await this.o.store.moves.put({
      address,
      toAddress: notice.to,
      noticeJson: JSON.stringify(notice.wire),
      movedAt: notice.movedAt,
      forwardUntil: now + this.o.forwardDays * DAY_MS,
    });
    if (outcome === "stale")
      throw new PeopleError("PEOPLE_REPLAYED", "a move as new or newer is stored", {
        publicText: "A move of this account as new or newer is already stored.",
      });
    this.cache.set(address, { notice: notice.wire, until: now + CACHE_MS });
    return notice.to;
  }

  /** The stored notice of a moved account, or undefined. */
  async notice(address: string, now: number): Promise<MoveNoticeWire | undefined> {
    const hit = this.cache.get(address);
    if (hit && hit.until > now) return hit.notice ?? undefined;
    const record = await this.o.store.moves.get(address);
    const notice = record ? moveNoticeWireSchema.parse(JSON.parse(record.noticeJson)) : null;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(address, { notice, until: now + CACHE_MS });
    return notice ?? undefined;
  }

  /** Refuse mail for a moved account, with the pointer. */
  async refuseIfMoved(address: string, now: number): Promise<void> {
    const notice = await this.notice(address, now);
    if (notice)
      throw new PeopleError("PEOPLE_MOVED", `${address} moved`, {
        publicText: "This account has moved; follow the signed notice to its new address.",
        extra: { notice },
      });
  }

  /** Whether the moved account's devices may still sign in to read the old mailbox. */
  async forwarding(address: string, now: number): Promise<boolean> {
    const record = await this.o.store.moves.get(address);
    return !record || now < record.forwardUntil;
  }
}
