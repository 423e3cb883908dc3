// Moving this account to another address (PROTOCOL §20), and what the client
// does when a contact moved. The mover's steps, each safe to run again after a
// crash (the staged identity and notice are persisted first):
//   1. register the new address under the SAME account key, this device its
//      first device there (new device keys, a seq-0 chain for the new address);
//   2. put the signed notice on the old server, which from then on refuses new
//      mail with PEOPLE_MOVED and the notice;
//   3. read what is still in the old mailbox, with the old identity;
//   4. become the device at the new address;
//   5. send the notice to every contact.
import { z } from "zod";
import { PeopleError, isPeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import type { Discovery } from "../net/discovery.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { fromB64u } from "../protocol/bytes.js";
import { DeviceIdentity } from "../protocol/device-identity.js";
import { issueDeviceList } from "../protocol/device-list.js";
import type { MessageId } from "../protocol/ids.js";
import { issueMoveNotice, type MoveNoticeWire } from "../protocol/move-notice.js";
import { isTransient } from "../transient.js";
import type { Account } from "./account.js";
import { parseAnswer } from "./answers.js";
import { fetchDeviceLists, verifyLists, type Directory } from "./directory.js";
import type { ClientEvents } from "./events.js";
import type { ClientStore, DeviceLists, OutboxRow } from "./local-store.js";
import type { Messenger } from "./messaging.js";
import { MoveFollower, type FollowResult } from "./move-follow.js";
import type { ReceivedMessage, Receiver } from "./receiver.js";
import type { Session } from "./session.js";

const mailboxAnswer = z.object({
  envelopes: z.array(z.object({ id: z.string().max(64), data: z.string() })).max(500),
});

export interface MoveResult {
  from: PeopleAddress;
  to: PeopleAddress;
  /** Contacts the notice was sent to. */
  notified: number;
  /** Envelopes read from the old mailbox during the move. */
  drained: number;
}

export class ClientMoves {
  readonly follower: MoveFollower;

  constructor(
    private readonly o: {
      account: Account;
      store: ClientStore;
      http: Pick<HttpsClient, "json">;
      discovery: Discovery;
      directory: Directory;
      events: ClientEvents;
      session: Session;
      receiver: Receiver;
      messenger: Messenger;
      now: () => number;
      /** Reconnect the live socket (to the new server) once the move is done. */
      reconnect: () => Promise<void>;
    },
  ) {
    this.follower = new MoveFollower(o);
  }

  async move(to: string, opts: { invite?: string } = {}): Promise<MoveResult> {
    const { account } = this.o;
    const from = account.address;
    const target = parseAddress(to);
    if (target === from)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "that is this account's address already");
    let staged = account.moveState.moving;
    if (staged && staged.identity.address !== target)
      throw new PeopleError("PEOPLE_BAD_REQUEST", `a move to ${staged.identity.address} is in progress`);
    if (!staged) {
      const now = this.o.now();
      const identity = DeviceIdentity.create({ address: target, accountKey: account.accountKey, now });
      const notice = issueMoveNotice({ from, to: target, accountKey: account.accountKey, movedAt: now });
      await account.stageMove(identity, notice.wire);
      staged = account.moveState.moving!;
    }
    const lists = await this.register(staged.identity, opts.invite);
    await this.putNotice(from, staged.notice);
    const drained = await this.drainOldMailbox();
    await account.commitMove();
    this.o.session.invalidate();
    await this.o.directory.pinKnown(target, lists, account.accountKey.publicKey);
    await this.o.reconnect();
    const notified = await this.notifyContacts(staged.notice, [from, target, ...account.moveState.movedFrom]);
    return { from, to: target, notified, drained };
  }

  /** Step 1: the new address, bound to the same account key; already done (a retry) is fine. */
  private async register(identity: DeviceIdentity, invite?: string): Promise<DeviceLists> {
    const { account, http } = this.o;
    const address = identity.address;
    const url = await this.o.discovery.resolve(addressDomain(address));
    const list = issueDeviceList({
      address,
      accountKey: account.accountKey,
      version: 1,
      issuedAt: identity.head.notBefore,
      heads: [identity.head],
      revoked: [],
    });
    const lists: DeviceLists = {
      list: list.wire,
      chains: { [identity.device]: identity.chain.map((c) => c.wire) },
    };
    try {
      await http.json("POST", `${url}/_people/v1/accounts`, {
        address,
        ...(invite ? { invite } : {}),
        device_list: lists.list,
        chains: lists.chains,
      });
      return lists;
    } catch (e) {
      if (!isPeopleError(e, "PEOPLE_FORBIDDEN")) throw e;
      // Taken: by this very move before a crash (then the list is ours), or by someone else.
      const published = await fetchDeviceLists(http, url, address).catch(() => undefined);
      if (published && verifyLists(address, published).list.accountKey.equals(account.accountKey.publicKey))
        return published;
      throw e;
    }
  }

  /** Step 2: the old server stores the notice; the same notice stored before (a retry) is fine. */
  private async putNotice(from: PeopleAddress, notice: MoveNoticeWire): Promise<void> {
    const url = `${await this.o.discovery.resolve(addressDomain(from))}/_people/v1/accounts/${encodeURIComponent(from)}/move`;
    try {
      await this.o.http.json("PUT", url, { notice });
    } catch (e) {
      if (!isPeopleError(e, "PEOPLE_REPLAYED")) throw e;
      const stored = await this.o.http.json<{ notice?: MoveNoticeWire }>("GET", url);
      if (stored.notice?.body !== notice.body) throw e;
    }
  }

  /** Step 3: whatever reached the old mailbox before the notice was stored is read now. */
  private async drainOldMailbox(): Promise<number> {
    const { session, receiver } = this.o;
    let drained = 0;
    for (;;) {
      const box = parseAnswer(
        mailboxAnswer,
        await session.json("GET", "/_people/v1/mailbox?after=0&limit=100"),
        "mailbox",
      );
      if (box.envelopes.length === 0) return drained;
      for (const e of box.envelopes) {
        const inner = fromB64u(e.data);
        if (inner) await receiver.envelope(e.id, inner);
      }
      await session.json("POST", "/_people/v1/mailbox/ack", { ids: box.envelopes.map((e) => e.id) });
      drained += box.envelopes.length;
    }
  }

  /** Step 5: one message per contact, so no contact learns who else was told. */
  private async notifyContacts(notice: MoveNoticeWire, own: readonly string[]): Promise<number> {
    let notified = 0;
    for (const contact of await this.o.store.listContacts()) {
      if (own.includes(contact.address) || contact.movedTo || contact.state !== "trusted") continue;
      try {
        await this.o.messenger.send([contact.address], { type: "move_notice", notice });
        notified++;
      } catch (error) {
        this.o.events.emit("error", { where: "move-notify", error });
      }
    }
    return notified;
  }

  /** A `move_notice` message (from anyone: only the pinned account key's signature counts). */
  async received(m: ReceivedMessage): Promise<void> {
    if (m.content.type !== "move_notice" || m.outgoing) return;
    await this.take(m.content.notice, m.from);
  }

  /**
   * Follow a notice, or refuse it loudly: a `moveRefused` event, nothing changed.
   * A network failure is thrown, so the message is tried again.
   */
  async take(input: unknown, claimed: string): Promise<FollowResult | "refused"> {
    try {
      return (await this.follower.follow(input)).result;
    } catch (e) {
      if (isTransient(e)) throw e;
      const parsed = input as { body?: unknown } | null;
      let to = "";
      try {
        const body = JSON.parse(Buffer.from(String(parsed?.body ?? ""), "base64url").toString("utf8")) as {
          from?: unknown;
          to?: unknown;
        };
        if (typeof body.from === "string") claimed = body.from.slice(0, 254);
        if (typeof body.to === "string") to = body.to.slice(0, 254);
      } catch {
        // Unreadable: reported under the sender's address.
      }
      this.o.events.emit("moveRefused", {
        from: claimed,
        to,
        code: e instanceof PeopleError ? e.code : "PEOPLE_BAD_REQUEST",
        detail: e instanceof Error ? e.message.slice(0, 300) : String(e),
        at: this.o.now(),
      });
      return "refused";
    }
  }

  /** A server answered PEOPLE_MOVED for a queued copy: follow its notice, then send the message to the new address. */
  async outboxMoved(row: OutboxRow, error: PeopleError): Promise<void> {
    await this.take(error.extra?.notice, row.address);
    const to = await this.follower.currentAddress(row.address as PeopleAddress);
    if (to === row.address) return;
    const original = (await this.o.store.inbox()).find((m) => m.id === row.messageId && m.outgoing);
    if (!original) return;
    const ttlMs = Math.max(60_000, original.exp - this.o.now());
    await this.o.messenger.send([to], original.content, { messageId: original.id as MessageId, ttlMs });
  }
}
