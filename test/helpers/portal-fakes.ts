// In-memory stand-ins for the portals' two sides and their tables, for unit
// tests of the flows without a homeserver or a People server. They keep the
// real contracts (uniqueness included) and record what was asked of them.
import { createHash } from "node:crypto";
import { type GhostSide } from "../../src/bridge/core/ports/matrix-side.js";
import { BridgeMetrics } from "../../src/bridge/metrics.js";
import { addressFromGhostUserId, ghostUserId } from "../../src/bridge/model/ghost-id.js";
import type { MatrixEventId, MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type {
  ContactTrust,
  IncomingMessage,
  Lookup,
  OwnDevice,
  PeopleAccount,
  PeopleSide,
  SafetyNumbers,
} from "../../src/bridge/core/ports/people-side.js";
import { participantSet, setKey } from "../../src/bridge/model/participant-set.js";
import type {
  CreationCounts,
  GroupMember,
  GroupPortal,
  GroupPortalStore,
  MessageMapStore,
  MessageMapping,
  Portal,
  PortalStore,
  SenderCreationStore,
} from "../../src/bridge/core/ports/store.js";
import { createBridgeLogger } from "../../src/bridge/logger.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { newMessageId, type MessageId } from "../../src/people/protocol/ids.js";
import type { BlobRef, MessageContent } from "../../src/people/protocol/messages.js";
import { BridgeError, userError } from "../../src/bridge/core/error-kinds.js";

export const silentLog = createBridgeLogger("silent");
export const newMetrics = (): BridgeMetrics => new BridgeMetrics(false);

export class MemoryMessages implements MessageMapStore {
  readonly rows: MessageMapping[] = [];
  async put(m: MessageMapping): Promise<void> {
    const clash = this.rows.some(
      (r) =>
        r.matrixEventId === m.matrixEventId ||
        (r.peopleSender === m.peopleSender && r.peopleMessageId === m.peopleMessageId),
    );
    if (!clash) this.rows.push({ ...m });
  }
  async byEvent(id: string) {
    return this.rows.find((r) => r.matrixEventId === id);
  }
  async byMessage(sender: string, id: string) {
    return this.rows.find((r) => r.peopleSender === sender && r.peopleMessageId === id);
  }
  async eventsInRoom(roomId: string, ids: readonly string[]) {
    return this.rows.filter((r) => r.roomId === roomId && ids.includes(r.matrixEventId));
  }
  async messagesInRoom(roomId: string, ids: readonly string[]) {
    return this.rows.filter((r) => r.roomId === roomId && ids.includes(r.peopleMessageId));
  }
}

export class MemoryPortals implements PortalStore {
  readonly rows: Portal[] = [];
  async put(p: Portal): Promise<{ replaced?: string }> {
    const older = this.rows.find(
      (r) => r.matrixUser === p.matrixUser && r.peopleAddress === p.peopleAddress && r.roomId !== p.roomId,
    );
    if (older) this.rows.splice(this.rows.indexOf(older), 1);
    const same = this.rows.findIndex((r) => r.roomId === p.roomId);
    if (same >= 0) this.rows.splice(same, 1);
    this.rows.push({ ...p });
    return older ? { replaced: older.roomId } : {};
  }
  async byRoom(roomId: string) {
    return this.rows.find((r) => r.roomId === roomId);
  }
  async byPair(user: string, address: string) {
    return this.rows.find((r) => r.matrixUser === user && r.peopleAddress === address);
  }
  async usersWith(address: string) {
    return [...new Set(this.rows.filter((r) => r.peopleAddress === address).map((r) => r.matrixUser))];
  }
  async remove(roomId: string) {
    const i = this.rows.findIndex((r) => r.roomId === roomId);
    if (i >= 0) this.rows.splice(i, 1);
  }
  async count() {
    return this.rows.length;
  }
  async list() {
    return this.rows.map((r) => ({ ...r }));
  }
}

export interface SentEvent {
  ghost: string;
  roomId: string;
  type: string;
  content: Record<string, unknown>;
  txnKey: string;
}

/** Ghosts on a fake homeserver: a repeated txnKey returns the same event, as Synapse does. */
export class FakeGhosts implements GhostSide {
  readonly sent: SentEvent[] = [];
  readonly rooms: { roomId: string; ghost: string; invitee: string }[] = [];
  readonly left: { ghost: string; roomId: string; reason?: string }[] = [];
  readonly joined: { ghost: string; roomId: string }[] = [];
  /** Make the next sends fail with this error. */
  failSends: Error | undefined;
  private readonly byTxn = new Map<string, MatrixEventId>();
  private seq = 0;

  ghostId(address: PeopleAddress): MatrixUserId {
    return ghostUserId(address, "hs.test");
  }
  addressOf(userId: string) {
    return addressFromGhostUserId(userId, "hs.test");
  }
  async ensureGhost(): Promise<void> {}
  async createDirectRoom(ghost: MatrixUserId, invitee: string): Promise<string> {
    const roomId = `!dm${++this.seq}:hs.test`;
    this.rooms.push({ roomId, ghost, invitee });
    return roomId;
  }
  readonly groupRooms: { roomId: string; ghost: string; name: string; invite: string[]; admins: string[] }[] =
    [];
  readonly invites: { ghost: string; roomId: string; userId: string }[] = [];
  async createGroupRoom(
    ghost: MatrixUserId,
    o: { name: string; invite: readonly string[]; admins: readonly string[] },
  ): Promise<string> {
    const roomId = `!group${++this.seq}:hs.test`;
    this.groupRooms.push({ roomId, ghost, name: o.name, invite: [...o.invite], admins: [...o.admins] });
    return roomId;
  }
  async invite(ghost: MatrixUserId, roomId: string, userId: string) {
    this.invites.push({ ghost, roomId, userId });
  }
  async join(ghost: MatrixUserId, roomId: string) {
    this.joined.push({ ghost, roomId });
  }
  /** Room state by `${roomId}\n${type}\n${stateKey}`; members joined by room. */
  readonly state = new Map<string, Record<string, unknown>>();
  readonly members = new Map<string, string[]>();
  readonly kicked: { ghost: string; roomId: string; userId: string; reason: string }[] = [];
  async roomState(_ghost: MatrixUserId, roomId: string, type: string, stateKey: string) {
    const content = this.state.get(`${roomId}\n${type}\n${stateKey}`);
    return content && { content };
  }
  /** Every state event set, in order (what a test expects to have been sent, repeats included). */
  readonly stateSets: { ghost: string; roomId: string; type: string; content: Record<string, unknown> }[] =
    [];
  async setRoomState(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ) {
    this.stateSets.push({ ghost, roomId, type, content });
    this.state.set(`${roomId}\n${type}\n${stateKey}`, content);
  }
  async joinedMembers(_ghost: MatrixUserId, roomId: string) {
    return this.members.get(roomId) ?? [];
  }
  async kick(ghost: MatrixUserId, roomId: string, userId: string, reason: string) {
    this.kicked.push({ ghost, roomId, userId, reason });
  }
  async leave(ghost: MatrixUserId, roomId: string, reason?: string) {
    this.left.push({ ghost, roomId, ...(reason !== undefined && { reason }) });
  }
  async sendEvent(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnKey: string,
  ) {
    if (this.failSends) throw this.failSends;
    const key = `${ghost}\n${roomId}\n${txnKey}`;
    const known = this.byTxn.get(key);
    if (known) return known;
    const id = `$ev${++this.seq}` as MatrixEventId;
    this.byTxn.set(key, id);
    this.sent.push({ ghost, roomId, type, content, txnKey });
    return id;
  }
  async redact(
    ghost: MatrixUserId,
    roomId: string,
    eventId: MatrixEventId,
    reason: string | undefined,
    txnKey: string,
  ) {
    return this.sendEvent(ghost, roomId, "m.room.redaction", { redacts: eventId, reason }, txnKey);
  }
  /** Media on the fake homeserver, by mxc URI. */
  readonly media = new Map<string, Buffer>();
  readonly receipts: { ghost: string; roomId: string; eventId: string }[] = [];
  readonly typing: { ghost: string; roomId: string; active: boolean }[] = [];
  async downloadMedia(mxc: string, maxBytes: number): Promise<Buffer> {
    const bytes = this.media.get(mxc);
    if (!bytes) throw new BridgeError("media_not_found", "no such media");
    if (bytes.length > maxBytes) throw new BridgeError("media_too_large", "too large");
    return bytes;
  }
  async uploadMedia(_ghost: MatrixUserId, bytes: Buffer): Promise<string> {
    const mxc = `mxc://hs.test/m${++this.seq}`;
    this.media.set(mxc, bytes);
    return mxc;
  }
  async sendReadReceipt(ghost: MatrixUserId, roomId: string, eventId: MatrixEventId): Promise<void> {
    this.receipts.push({ ghost, roomId, eventId });
  }
  async sendTyping(ghost: MatrixUserId, roomId: string, active: boolean): Promise<void> {
    this.typing.push({ ghost, roomId, active });
  }
  notices(): string[] {
    return this.sent.filter((s) => s.content.msgtype === "m.notice").map((s) => String(s.content.body));
  }
}

/** A People account whose sends are recorded, or fail with `failSends`. */
export class FakeAccount implements PeopleAccount {
  readonly sent: { to: PeopleAddress | readonly PeopleAddress[]; content: MessageContent; id: MessageId }[] =
    [];
  failSends: Error | undefined;
  lookups: Record<string, Lookup["status"]> = {};

  constructor(
    readonly owner: MatrixUserId,
    readonly address: PeopleAddress,
  ) {}

  async send(to: PeopleAddress | readonly PeopleAddress[], content: MessageContent): Promise<MessageId> {
    if (this.failSends) throw this.failSends;
    const id = newMessageId();
    this.sent.push({ to, content, id });
    return id;
  }
  /** Blobs "uploaded" to People, by id. */
  readonly blobs = new Map<string, Buffer>();
  async uploadAttachment(bytes: Buffer, meta: { mime: string; name?: string }): Promise<BlobRef> {
    const id = createHash("sha256").update(bytes).digest("base64url");
    this.blobs.set(id, bytes);
    return { server: "people.test", id, key: "k".repeat(43), hash: id, size: bytes.length, ...meta };
  }
  async downloadAttachment(ref: BlobRef): Promise<Buffer> {
    const bytes = this.blobs.get(ref.id);
    if (!bytes) throw new Error("no such blob");
    return bytes;
  }
  async lookup(address: PeopleAddress): Promise<Lookup> {
    const status = this.lookups[address] ?? "exists";
    if (status === "unreachable") return { status, code: "PEOPLE_UNAVAILABLE" };
    if (status === "no_server") return { status, domain: address.slice(address.lastIndexOf("@") + 1) };
    return { status };
  }

  /** Contacts' keys as the fake People network has them; an address not here has no account. */
  readonly keys = new Map<string, FakeContactKeys>();
  readonly ownDeviceList: OwnDevice[] = [{ device: "BRIDGEDEV", self: true, seq: 0, revoked: false }];

  /** A contact whose keys are pinned, with one device and a made-up safety number. */
  addContact(address: string, o: Partial<FakeContactKeys> = {}): FakeContactKeys {
    const keys: FakeContactKeys = {
      state: "unchanged",
      verified: false,
      devices: [{ device: "JOEDEV1", seq: 0 }],
      current: safetyNumber(1),
      ...o,
    };
    this.keys.set(address, keys);
    return keys;
  }
  private keysOf(address: PeopleAddress): FakeContactKeys {
    const keys = this.keys.get(address);
    if (!keys) throw userError(`${address} has no People account.`);
    return keys;
  }
  private trustOf(address: PeopleAddress, k: FakeContactKeys): ContactTrust {
    return { address, state: k.state, verified: k.verified, devices: [...k.devices], stale: false };
  }
  async contact(address: PeopleAddress): Promise<ContactTrust> {
    return this.trustOf(address, this.keysOf(address));
  }
  async contacts(): Promise<ContactTrust[]> {
    return [...this.keys.keys()].sort().map((a) => this.trustOf(a as PeopleAddress, this.keys.get(a)!));
  }
  async fingerprint(address: PeopleAddress): Promise<SafetyNumbers> {
    const k = this.keysOf(address);
    return {
      contact: this.trustOf(address, k),
      current: k.current,
      ...(k.state === "unexplained" && k.pending ? { pending: k.pending } : {}),
    };
  }
  async verify(address: PeopleAddress): Promise<void> {
    const k = this.keysOf(address);
    if (k.state === "unexplained")
      throw userError(`The keys of ${address} changed: accept the change first.`);
    k.verified = true;
  }
  async acceptChange(address: PeopleAddress): Promise<SafetyNumbers> {
    const k = this.keysOf(address);
    if (k.pending) k.current = k.pending;
    delete k.pending;
    k.state = "new";
    k.verified = false;
    return this.fingerprint(address);
  }
  async ownDevices(): Promise<OwnDevice[]> {
    return this.ownDeviceList.map((d) => ({ ...d }));
  }
}

export interface FakeContactKeys {
  state: ContactTrust["state"];
  verified: boolean;
  devices: { device: string; seq: number }[];
  current: string;
  pending?: string;
}

/** A well-formed safety number (12 groups of 5 digits) made from `n`. */
export function safetyNumber(n: number): string {
  return Array.from({ length: 12 }, (_, i) =>
    String((n * 7919 + i * 104729) % 100_000).padStart(5, "0"),
  ).join(" ");
}

export class FakePeople implements PeopleSide {
  readonly accounts = new Map<string, FakeAccount>();
  addressFor(userId: string): PeopleAddress {
    return parseAddress(`${userId.slice(1, userId.indexOf(":"))}@people.test`);
  }
  /** Users who have an account (accountFor was called), as the bridge's people_accounts table. */
  async matrixUserOf(address: PeopleAddress): Promise<MatrixUserId | undefined> {
    return [...this.accounts.values()].find((a) => a.address === address)?.owner;
  }
  async accountFor(userId: string): Promise<FakeAccount> {
    let a = this.accounts.get(userId);
    if (!a) this.accounts.set(userId, (a = new FakeAccount(userId as MatrixUserId, this.addressFor(userId))));
    return a;
  }
}

export function incoming(o: {
  from: string;
  to: string[];
  id?: MessageId;
  ts?: number;
  content?: MessageContent;
}): IncomingMessage {
  return {
    id: o.id ?? newMessageId(),
    from: parseAddress(o.from),
    to: o.to.map((a) => parseAddress(a)),
    ts: o.ts ?? Date.now(),
    content: o.content ?? { type: "text", body: "hello" },
  };
}

/** Group portals in memory, with the real store's uniqueness of set keys. */
export class MemoryGroups implements GroupPortalStore {
  readonly rows: GroupPortal[] = [];
  constructor(private readonly messages?: MemoryMessages) {}
  private keyOf(members: readonly GroupMember[]): string {
    return setKey(participantSet(members.map((m) => parseAddress(m.address))));
  }
  async put(p: GroupPortal): Promise<{ replaced?: string }> {
    if (new Set(p.members.map((m) => m.address)).size !== p.members.length)
      throw new Error("duplicate member");
    const key = this.keyOf(p.members);
    const older = this.rows.find((r) => r.roomId !== p.roomId && this.keyOf(r.members) === key);
    if (older) this.rows.splice(this.rows.indexOf(older), 1);
    const same = this.rows.findIndex((r) => r.roomId === p.roomId);
    const members = [...p.members].sort((a, b) => (a.address < b.address ? -1 : 1)).map((m) => ({ ...m }));
    if (same >= 0) this.rows[same] = { ...this.rows[same]!, members };
    else this.rows.push({ ...p, members });
    return older ? { replaced: older.roomId } : {};
  }
  async byRoom(roomId: string) {
    const r = this.rows.find((x) => x.roomId === roomId);
    return r && { ...r, members: r.members.map((m) => ({ ...m })) };
  }
  async bySetKey(key: string) {
    const r = this.rows.find((x) => this.keyOf(x.members) === key);
    return r && this.byRoom(r.roomId);
  }
  async matrixUsersWith(address: string) {
    const users = this.rows
      .filter((r) => r.members.some((m) => m.address === address))
      .flatMap((r) => r.members.flatMap((m) => (m.matrixUser ? [m.matrixUser] : [])));
    return [...new Set(users)].sort();
  }
  async roomsOfMessages(ids: readonly string[]) {
    const rooms = new Set(
      (this.messages?.rows ?? []).filter((m) => ids.includes(m.peopleMessageId)).map((m) => m.roomId),
    );
    return this.rows.map((r) => r.roomId).filter((r) => rooms.has(r));
  }
  async remove(roomId: string) {
    const i = this.rows.findIndex((r) => r.roomId === roomId);
    if (i >= 0) this.rows.splice(i, 1);
  }
  async count() {
    return this.rows.length;
  }
  async list() {
    return Promise.all(this.rows.map(async (r) => (await this.byRoom(r.roomId))!));
  }
}

/** sender_creations in memory. */
export class MemoryCreations implements SenderCreationStore {
  readonly rows: { sender: string; counts: CreationCounts; at: number }[] = [];
  async usedSince(sender: string, since: number): Promise<CreationCounts> {
    const of = this.rows.filter((r) => r.sender === sender && r.at > since);
    return {
      rooms: of.reduce((n, r) => n + r.counts.rooms, 0),
      ghosts: of.reduce((n, r) => n + r.counts.ghosts, 0),
    };
  }
  async add(sender: string, counts: CreationCounts, at: number): Promise<void> {
    this.rows.push({ sender, counts: { ...counts }, at });
  }
  async prune(before: number): Promise<number> {
    const keep = this.rows.filter((r) => r.at > before);
    const gone = this.rows.length - keep.length;
    this.rows.splice(0, this.rows.length, ...keep);
    return gone;
  }
}
