// Social groups (DESIGN §2 "Attachments and posts"): a group is owned by its
// creator and keyed by epochs. Each epoch has a 32-byte random key, delivered
// to every member's devices (and the owner's other devices) in a sealed
// `group_key` message {group, epoch, key, members, name, topic, avatar}. Posts are wrapped under
// the current epoch key (posts.ts).
//
// - Removing a member rotates the epoch: the new key goes to the remaining
//   members only, so the removed member cannot open posts made after removal.
// - Adding a member also rotates by default (`rotate: false` to skip): the
//   newcomer gets the new current key and none of the older ones, so it
//   cannot open posts made before it joined, even in the epoch it joined in.
// - A device accepts a `group_key` only from the group's owner: the sender of
//   the first key it saw for that group id. A key from anyone else for a
//   known group, or a second, different key for an epoch it holds, is refused
//   and reported. Keys are stored encrypted at rest (local-store-sqlite.ts),
//   one row per (group, epoch).
import { PeopleError, type ErrorCode } from "../errors.js";
import { isPeopleAddress, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import { newMessageId, parseMessageId, type MessageId } from "../protocol/ids.js";
import { randomSecret } from "../protocol/keys.js";
import type { BlobRef, MessageContent } from "../protocol/messages.js";
import { detailsOf, detailsSchema } from "./group-details.js";
import type { Account } from "./account.js";
import type { Directory } from "./directory.js";
import { Emitter } from "./emitter.js";
import type { ClientStore, GroupKeyRecord, GroupRecord, InboxEntry } from "./local-store.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { errorCode } from "../transient.js";

export const MAX_GROUP_NAME = 256;
/** `group_key.members` holds at most 1024 addresses (PROTOCOL §11). */
export const MAX_GROUP_MEMBERS = 1024;

export interface GroupInfo {
  id: string;
  /** Sent with every group_key; null only for a group whose keys came without one. */
  name: string | null;
  /** The topic and picture the owner gave it; null when it has none (PROTOCOL §11.2 "Group details"). */
  topic: string | null;
  avatar: BlobRef | null;
  owner: PeopleAddress;
  isOwner: boolean;
  epoch: number;
  /** Everyone holding the current epoch key, the owner first. */
  members: PeopleAddress[];
}

export interface GroupUpdate extends GroupInfo {
  /** Members the key could not be sealed to (e.g. their keys changed unexplained); the rest got it. */
  undelivered: { address: string; code: ErrorCode }[];
}

export interface GroupEvents {
  /** A group key was received and stored. */
  key: { group: string; epoch: number; owner: string; members: string[] };
  /** A group key was refused: not from the group's owner, conflicting, or malformed. */
  rejected: { group: string; from: string; code: ErrorCode; detail: string };
}

/** An epoch key as posts.ts uses it. */
export interface EpochKey {
  group: string;
  epoch: number;
  key: Buffer;
  owner: string;
  members: string[];
}

type Send = (to: readonly string[], content: MessageContent) => Promise<MessageId>;

export class Groups {
  readonly events = new Emitter<GroupEvents>();
  private readonly lock = new KeyedLock();

  constructor(
    private readonly o: {
      account: Account;
      store: ClientStore;
      directory: Directory;
      /** Sealed send to whole accounts, with a copy for the own other devices (Messenger.send). */
      send: Send;
      now: () => number;
    },
  ) {}

  private get self(): PeopleAddress {
    return this.o.account.address;
  }

  /**
   * A new group owned by this account, with epoch 0; `members` get its key at once. `o.id` chooses
   * the group id (the bridge derives it from the Matrix event that asked): creating again with an
   * id this account already owns returns that group unchanged, so a redelivered request makes one.
   */
  async createGroup(
    name: string,
    members: readonly string[] = [],
    o: { id?: string } = {},
  ): Promise<GroupUpdate> {
    if (typeof name !== "string" || name.length === 0 || name.length > MAX_GROUP_NAME)
      throw new PeopleError("PEOPLE_BAD_REQUEST", `a group name is 1 to ${MAX_GROUP_NAME} characters`);
    const others = [...new Set(members.map((m) => parseAddress(m)))].filter((m) => m !== this.self);
    if (others.length + 1 > MAX_GROUP_MEMBERS)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "too many members");
    const group = o.id === undefined ? newMessageId() : parseMessageId(o.id, "PEOPLE_BAD_REQUEST");
    return this.lock.run(group, async () => {
      const existing = await this.o.store.getGroup(group);
      if (existing) {
        if (existing.owner !== this.self)
          throw new PeopleError("PEOPLE_FORBIDDEN", "that group id is another account's group");
        return { ...this.info(existing), undelivered: [] };
      }
      for (const m of others) await this.checkReachable(m);
      const now = this.o.now();
      const record: GroupRecord = {
        group,
        owner: this.self,
        name,
        epoch: 0,
        members: [this.self, ...others],
        createdAt: now,
        updatedAt: now,
      };
      return this.commitEpoch(record, randomSecret(), others);
    });
  }

  /** Add `address`; by default the epoch rotates, so the newcomer cannot read what was posted before. */
  addMember(group: string, address: string, o: { rotate?: boolean } = {}): Promise<GroupUpdate> {
    const id = parseMessageId(group, "PEOPLE_BAD_REQUEST");
    const member = parseAddress(address);
    return this.lock.run(id, async () => {
      const record = await this.owned(id);
      if (record.members.includes(member))
        throw new PeopleError("PEOPLE_BAD_REQUEST", `${member} is already a member`);
      if (record.members.length + 1 > MAX_GROUP_MEMBERS)
        throw new PeopleError("PEOPLE_BAD_REQUEST", "too many members");
      // Before changing anything: a newcomer whose keys cannot be had would get nothing.
      await this.checkReachable(member);
      const members = [...record.members, member];
      const now = this.o.now();
      if (o.rotate === false) {
        const current = await this.o.store.getGroupKey(id, record.epoch);
        if (!current) throw new PeopleError("PEOPLE_INTERNAL", "the current epoch key is missing");
        const key = fromB64u(current.key)!;
        try {
          return await this.commitEpoch({ ...record, members, updatedAt: now }, key, [member]);
        } finally {
          key.fill(0);
        }
      }
      return this.commitEpoch(
        { ...record, epoch: record.epoch + 1, members, updatedAt: now },
        randomSecret(),
        members.filter((m) => m !== this.self),
      );
    });
  }

  /** Remove `address` and rotate the epoch: the new key goes to the remaining members only. */
  removeMember(group: string, address: string): Promise<GroupUpdate> {
    const id = parseMessageId(group, "PEOPLE_BAD_REQUEST");
    const member = parseAddress(address);
    return this.lock.run(id, async () => {
      const record = await this.owned(id);
      if (member === this.self) throw new PeopleError("PEOPLE_BAD_REQUEST", "the owner cannot be removed");
      if (!record.members.includes(member))
        throw new PeopleError("PEOPLE_NOT_FOUND", `${member} is not a member`);
      const members = record.members.filter((m) => m !== member);
      return this.commitEpoch(
        { ...record, epoch: record.epoch + 1, members, updatedAt: this.o.now() },
        randomSecret(),
        members.filter((m) => m !== this.self),
      );
    });
  }

  /** Rename the group: the current epoch key goes again to the members, with the new name (no new epoch). */
  rename(group: string, name: string): Promise<GroupUpdate> {
    const id = parseMessageId(group, "PEOPLE_BAD_REQUEST");
    if (typeof name !== "string" || name.length === 0 || name.length > MAX_GROUP_NAME)
      throw new PeopleError("PEOPLE_BAD_REQUEST", `a group name is 1 to ${MAX_GROUP_NAME} characters`);
    return this.lock.run(id, async () => {
      const record = await this.owned(id);
      const current = await this.o.store.getGroupKey(id, record.epoch);
      const key = current && fromB64u(current.key);
      if (!key) throw new PeopleError("PEOPLE_INTERNAL", "the current epoch key is missing");
      const others = record.members.filter((m) => m !== this.self);
      return this.commitEpoch({ ...record, name, updatedAt: this.o.now() }, key, others);
    });
  }

  /**
   * Change the group's topic ("" for none) and picture (an uploaded image's reference, null for
   * none): like a rename, the current epoch key goes again to the members, with the details.
   */
  setDetails(group: string, details: { topic?: string; avatar?: BlobRef | null }): Promise<GroupUpdate> {
    const id = parseMessageId(group, "PEOPLE_BAD_REQUEST");
    const checked = detailsSchema.safeParse(details);
    if (!checked.success)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "a topic of at most 1024 characters, a raster image");
    return this.lock.run(id, async () => {
      const record = await this.owned(id);
      const current = await this.o.store.getGroupKey(id, record.epoch);
      const key = current && fromB64u(current.key);
      if (!key) throw new PeopleError("PEOPLE_INTERNAL", "the current epoch key is missing");
      const others = record.members.filter((m) => m !== this.self);
      const next = {
        ...record,
        ...(checked.data.topic !== undefined && { topic: checked.data.topic || null }),
        ...(checked.data.avatar !== undefined && { avatar: checked.data.avatar }),
        updatedAt: this.o.now(),
      };
      return this.commitEpoch(next, key, others);
    });
  }

  async members(group: string): Promise<PeopleAddress[]> {
    return (await this.get(group)).members;
  }

  async get(group: string): Promise<GroupInfo> {
    const record = await this.o.store.getGroup(parseMessageId(group, "PEOPLE_BAD_REQUEST"));
    if (!record) throw new PeopleError("PEOPLE_NOT_FOUND", "no such group");
    return this.info(record);
  }

  async list(): Promise<GroupInfo[]> {
    const records = await this.o.store.listGroups();
    return records.sort((a, b) => a.createdAt - b.createdAt).map((r) => this.info(r));
  }

  /** The current epoch key of a group this account is a member of (to post). The caller zeroes `key`. */
  async currentKey(group: string): Promise<EpochKey> {
    const record = await this.o.store.getGroup(parseMessageId(group, "PEOPLE_BAD_REQUEST"));
    if (!record) throw new PeopleError("PEOPLE_NOT_FOUND", "no such group");
    if (!record.members.includes(this.self))
      throw new PeopleError("PEOPLE_FORBIDDEN", "this account is not a member of the group's current epoch");
    const key = await this.keyFor(record.group, record.epoch);
    if (!key) throw new PeopleError("PEOPLE_UNKNOWN_KEY", "the current epoch key is missing");
    return key;
  }

  /** The key of one epoch, if held. The caller zeroes `key`. */
  async keyFor(group: string, epoch: number): Promise<EpochKey | undefined> {
    const [record, stored] = await Promise.all([
      this.o.store.getGroup(group),
      this.o.store.getGroupKey(group, epoch),
    ]);
    if (!record || !stored) return undefined;
    const key = fromB64u(stored.key);
    if (!key || key.length !== 32) throw new PeopleError("PEOPLE_INTERNAL", "stored group key is malformed");
    return { group, epoch, key, owner: record.owner, members: stored.members };
  }

  /** A verified `group_key` message (from the receiver). Throws only when storing failed (to be retried). */
  async receive(m: InboxEntry): Promise<void> {
    if (m.content.type !== "group_key") return;
    const c = m.content;
    const from: string = m.from;
    const refuse = (code: ErrorCode, detail: string): void =>
      this.events.emit("rejected", { group: c.group, from, code, detail });
    const members: string[] = [...new Set(c.members)];
    if (members.length !== c.members.length || !members.every((a) => isPeopleAddress(a)))
      return refuse("PEOPLE_BAD_ENVELOPE", "members must be distinct canonical addresses");
    // A key for a group this account is not in can only be the owner's own, from another of its devices.
    if (from !== this.self && !members.includes(this.self))
      return refuse("PEOPLE_WRONG_RECIPIENT", "a group key that does not name this account as a member");
    if (!members.some((a) => a === from))
      return refuse("PEOPLE_BAD_ENVELOPE", "the owner is not among the members");
    const key = fromB64u(c.key);
    if (!key || key.length !== 32) return refuse("PEOPLE_BAD_KEY", "group key is not 32 bytes");
    key.fill(0);
    await this.lock.run(c.group, async () => {
      const record = await this.o.store.getGroup(c.group);
      if (record && record.owner !== from)
        return refuse("PEOPLE_FORBIDDEN", `group key from ${from}, but the group's owner is ${record.owner}`);
      const held = await this.o.store.getGroupKey(c.group, c.epoch);
      if (held && held.key !== c.key)
        return refuse("PEOPLE_FORBIDDEN", "a second, different key for an epoch already held");
      const now = this.o.now();
      const newest = !record || c.epoch >= record.epoch;
      const next: GroupRecord = record
        ? newest
          ? {
              ...record,
              epoch: c.epoch,
              members,
              name: c.name ?? record.name,
              ...detailsOf(c),
              updatedAt: now,
            }
          : record
        : {
            group: c.group,
            owner: from,
            name: c.name ?? null,
            ...detailsOf(c),
            epoch: c.epoch,
            members,
            createdAt: now,
            updatedAt: now,
          };
      const keyRecord: GroupKeyRecord = {
        group: c.group,
        epoch: c.epoch,
        key: c.key,
        members,
        from,
        receivedAt: held?.receivedAt ?? now,
      };
      await this.o.store.putGroupKey(next, keyRecord);
      this.events.emit("key", { group: c.group, epoch: c.epoch, owner: from, members });
    });
  }

  private async owned(group: string): Promise<GroupRecord> {
    const record = await this.o.store.getGroup(group);
    if (!record) throw new PeopleError("PEOPLE_NOT_FOUND", "no such group");
    if (record.owner !== this.self)
      throw new PeopleError("PEOPLE_FORBIDDEN", "only the group's owner changes its members");
    return record;
  }

  /** The contact's keys can be had now (it exists, and its keys did not change unexplained). */
  private async checkReachable(address: PeopleAddress): Promise<void> {
    const keys = await this.o.directory.sealingKeys(address);
    if (keys.length === 0) throw new PeopleError("PEOPLE_EXPIRED", `no device of ${address} has a valid key`);
  }

  /** Store the epoch key first (so posts can use it at once), then seal it to `to`. Zeroes `key`. */
  private async commitEpoch(record: GroupRecord, key: Buffer, to: readonly string[]): Promise<GroupUpdate> {
    const keyText = b64u(key);
    key.fill(0);
    await this.o.store.putGroupKey(record, {
      group: record.group,
      epoch: record.epoch,
      key: keyText,
      members: record.members,
      from: this.self,
      receivedAt: this.o.now(),
    });
    const content: MessageContent = {
      type: "group_key",
      group: record.group,
      epoch: record.epoch,
      key: keyText,
      members: record.members,
      ...(record.name !== null ? { name: record.name } : {}),
      // Sent only once set, so a group without details keeps the shape older receivers take.
      ...(record.topic != null ? { topic: record.topic } : record.topic === null ? { topic: "" } : {}),
      ...(record.avatar !== undefined ? { avatar: record.avatar } : {}),
    };
    const undelivered: GroupUpdate["undelivered"] = [];
    // One message per member: one member whose keys cannot be trusted must not keep the key from the others.
    // Each carries a copy for the owner's other devices; with no other member, they get one of their own.
    for (const address of to.length > 0 ? to : [this.self]) {
      try {
        await this.o.send([address], content);
      } catch (e) {
        undelivered.push({ address, code: errorCode(e) });
      }
    }
    return { ...this.info(record), undelivered };
  }

  private info(r: GroupRecord): GroupInfo {
    return {
      id: r.group,
      name: r.name,
      owner: r.owner as PeopleAddress,
      isOwner: r.owner === this.self,
      topic: r.topic || null,
      avatar: r.avatar ?? null,
      epoch: r.epoch,
      members: r.members as PeopleAddress[],
    };
  }
}
