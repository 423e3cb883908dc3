// PeopleClient: one device of one People account, as a person's app or the
// bridge (for each Matrix user it serves) runs it. It ties together the
// encrypted local store, discovery, the key directory, the account, sending
// through the persistent outbox, and receiving over the live WebSocket.
import { PeopleError } from "../errors.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import type { DeviceId, MessageId } from "../protocol/ids.js";
import type { BlobRef, MessageContent } from "../protocol/messages.js";
import { Account, type DeviceInfo } from "./account.js";
import { Attachments, type AttachmentMeta, type TransferOptions } from "./attachments.js";
import { closeCore, openCore, type ClientOptions, type Core } from "./client-core.js";
import type { Contact, Resolution } from "./directory.js";
import type { ClientEventMap, ClientEvents, KeyChangeEvent } from "./events.js";
import { Groups } from "./groups.js";
import { linkDevice } from "./link-device.js";
import { LinkResponder, type LinkOffer } from "./link.js";
import { LiveSocket } from "./live-socket.js";
import type { InboxEntry } from "./local-store.js";
import { Messenger, type SendOptions } from "./messaging.js";
import { Posts } from "./posts.js";
import { Profiles } from "./profile.js";
import { Realtime } from "./realtime.js";
import { createCalls, type Calls, type CallsFacet } from "./calls/client-calls.js";
import { clientRoutes, type ClientRoute } from "./client-routes.js";
import { Receiver, type MessageHandler, type ReceivedMessage } from "./receiver.js";
import { fingerprint } from "./safety-number.js";
import { Session } from "./session.js";
import { TargetedSender } from "./targeted-send.js";
import { ClientMoves, type MoveResult } from "./client-moves.js";
import type { GroupsFacet, PostsFacet, ProfileFacet, RealtimeFacet } from "./facets.js";
export type * from "./client-exports.js";

const MAINTENANCE_MS = 60 * 60 * 1000;

export class PeopleClient {
  readonly events: ClientEvents;
  private readonly session: Session;
  private readonly messenger: Messenger;
  private readonly receiver: Receiver;
  private readonly live: LiveSocket;
  private readonly link: LinkResponder;
  private readonly attachments: Attachments;
  private readonly groupsImpl: Groups;
  private readonly postsImpl: Posts;
  private readonly realtimeImpl: Realtime;
  private readonly callsImpl: Calls;
  private readonly moves: ClientMoves;
  private readonly routes: ReadonlyMap<string, ClientRoute>;
  readonly groups: GroupsFacet;
  readonly posts: PostsFacet;
  readonly realtime: RealtimeFacet;
  readonly calls: CallsFacet;
  readonly profile: ProfileFacet;
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  private constructor(
    private readonly core: Core,
    private readonly account: Account,
  ) {
    const { store, http, events, discovery, servers, directory, outbox, now } = core;
    this.events = events;
    const serverUrl = () => discovery.resolve(addressDomain(account.address));
    this.session = new Session({ http, serverUrl, identity: () => account.identity, now });
    const redirect = (a: PeopleAddress) => this.moves.follower.currentAddress(a);
    this.messenger = new Messenger({ account, directory, servers, store, outbox, now, redirect });
    this.receiver = new Receiver({
      account,
      directory,
      store,
      events,
      now,
      ...(core.o.deliveryRetry ? { deliveryRetry: core.o.deliveryRetry } : {}),
      ...(core.o.beforeAck ? { beforeAck: core.o.beforeAck } : {}),
    });
    this.link = new LinkResponder({ account, servers, outbox, events, now });
    this.receiver.linkInterceptor = this.link.intercept;
    // First listener: group keys are stored, and realtime signals handled, before anyone else sees them.
    this.receiver.onMessage((m) => this.route(m));
    this.live = new LiveSocket({
      serverUrl,
      session: this.session,
      events,
      handler: {
        envelope: async (id, inner) => this.receiver.take(id, inner),
        caughtUp: (seq) => events.emit("caughtUp", { seq }),
        relay: (frame) => this.realtimeImpl.relayFrame(frame),
        relayError: (session, code) => this.realtimeImpl.relayError(session, code),
        pong: () => this.realtimeImpl.pong(),
        readyChange: (ready) => this.realtimeImpl.liveChanged(ready),
      },
      ...(core.o.ca ? { ca: core.o.ca } : {}),
      wsOptions: (host: string) => core.http.wsOptions(host),
      ...(core.o.liveTransport ? { transport: core.o.liveTransport } : {}),
      ...(core.o.reconnect ? { reconnect: core.o.reconnect } : {}),
    });
    this.attachments = new Attachments({
      http,
      session: this.session,
      discovery,
      serverUrl,
      domain: addressDomain(account.address),
      ...(core.o.maxAttachmentBytes ? { maxBytes: core.o.maxAttachmentBytes } : {}),
    });
    const send = (to: readonly string[], content: MessageContent) => this.messenger.send(to, content);
    this.groupsImpl = new Groups({ account, store, directory, send, now });
    this.postsImpl = new Posts({
      account,
      groups: this.groupsImpl,
      directory,
      discovery,
      http,
      session: this.session,
      attachments: this.attachments,
      send,
      now,
    });
    const sender = new TargetedSender({ account, directory, servers, outbox, now });
    this.realtimeImpl = new Realtime({ account, directory, sender, live: this.live, now });
    this.calls = this.callsImpl = createCalls({
      account,
      sender,
      now,
      engine: core.o.mediaEngine,
      turn: { http, session: this.session, serverUrl, now },
    });
    this.profile = new Profiles({ account, http, directory, discovery, attachments: this.attachments, now });
    this.groups = this.groupsImpl;
    this.posts = this.postsImpl;
    this.realtime = this.realtimeImpl;
    const { session, receiver, messenger } = this;
    this.moves = new ClientMoves({
      ...core,
      account,
      session,
      receiver,
      messenger,
      reconnect: () => this.relive(),
    });
    outbox.onMoved = (row, error) => this.moves.outboxMoved(row, error);
    const groups = this.groupsImpl;
    const routes = { groups, posts: this.postsImpl, realtime: this.realtimeImpl, calls: this.callsImpl };
    this.routes = clientRoutes({ ...routes, moves: this.moves });
  }

  private async route(m: ReceivedMessage): Promise<void> {
    return this.routes.get(m.content.type)?.(m);
  }

  private static async with(o: ClientOptions, make: (core: Core) => Promise<Account>): Promise<PeopleClient> {
    const core = await openCore(o);
    try {
      return new PeopleClient(core, await make(core));
    } catch (e) {
      await closeCore(core);
      throw e;
    }
  }

  private static deps(core: Core, address: PeopleAddress) {
    return {
      store: core.store,
      http: core.http,
      directory: core.directory,
      now: core.now,
      serverUrl: () => core.discovery.resolve(addressDomain(address)),
    };
  }

  /** A new account with this device as its first: keys made here, registered with the account's server. */
  static create(o: ClientOptions & { address: string; invite?: string }): Promise<PeopleClient> {
    const address = parseAddress(o.address);
    return PeopleClient.with(o, (core) =>
      Account.create(PeopleClient.deps(core, address), {
        address,
        ...(o.invite ? { invite: o.invite } : {}),
      }),
    );
  }

  /** A new device for an existing account, with the code another of its devices shows (see link.ts). */
  static link(o: ClientOptions & { address: string; code: string }): Promise<PeopleClient> {
    const address = parseAddress(o.address);
    return PeopleClient.with(o, (core) =>
      linkDevice(core, PeopleClient.deps(core, address), { ...o, address }),
    );
  }

  /** The device kept in `dataDir`. A wrong passphrase or key file fails with PEOPLE_UNAUTHORIZED. */
  static open(o: ClientOptions): Promise<PeopleClient> {
    return PeopleClient.with(o, async (core) => {
      const stored = await core.store.loadIdentity();
      if (!stored) throw new PeopleError("PEOPLE_NOT_FOUND", "no account in this data directory");
      return (await Account.load(PeopleClient.deps(core, parseAddress(stored.address))))!;
    });
  }

  /** After a move: the live socket goes to the new server. */
  private async relive(): Promise<void> {
    if (!this.started) return;
    await this.live.stop();
    this.live.start();
  }

  /** Whether the live socket to the account's server is open and authenticated now. */
  get connected(): boolean {
    return this.live.ready;
  }

  get address(): PeopleAddress {
    return this.account.address;
  }

  get device(): DeviceId {
    return this.account.device;
  }

  /** Receive (live, with catch-up), deliver the outbox, and keep keys rotated. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.account
      .ensurePublished()
      .catch((error: unknown) => this.events.emit("error", { where: "publish", error }));
    await this.receiver.redeliverPending();
    this.core.outbox.run();
    this.live.start();
    if (this.core.o.autoRotate !== false) {
      this.timer = setInterval(() => void this.maintain(), MAINTENANCE_MS);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.timer);
    this.link.cancel();
    await this.realtimeImpl.closeAll();
    await this.callsImpl.closeAll();
    await this.live.stop();
    await this.receiver.stop();
    await this.core.outbox.stop();
  }

  async close(): Promise<void> {
    await this.stop();
    await closeCore(this.core);
  }

  send(to: readonly string[], content: MessageContent, options?: SendOptions): Promise<MessageId> {
    return this.messenger.send(to, content, options);
  }

  /** send() that resolves at the commit, with the fsync still to wait for (Messenger.queue). */
  queue(to: readonly string[], content: MessageContent, options?: SendOptions) {
    return this.messenger.queue(to, content, options);
  }

  sendText(to: readonly string[], body: string, options?: SendOptions): Promise<MessageId> {
    return this.send(to, { type: "text", body }, options);
  }

  async sendAttachment(
    to: readonly string[],
    bytes: Buffer,
    meta: AttachmentMeta & { caption?: string },
    options?: SendOptions & TransferOptions,
  ): Promise<MessageId> {
    const { onProgress, ...sendOptions } = options ?? {};
    const blob = await this.attachments.upload(bytes, meta, onProgress ? { onProgress } : {});
    return this.send(
      to,
      { type: "attachment", blob, ...(meta.caption ? { caption: meta.caption } : {}) },
      options ? sendOptions : undefined,
    );
  }

  /** Encrypts and uploads an attachment without sending it: the reference to put in a message. */
  uploadAttachment(bytes: Buffer, meta: AttachmentMeta, o?: TransferOptions): Promise<BlobRef> {
    return this.attachments.upload(bytes, meta, o);
  }

  downloadAttachment(ref: BlobRef, o?: TransferOptions): Promise<Buffer> {
    return this.attachments.download(ref, o);
  }

  /** Called for each verified message, once it is stored; it is acknowledged after the handler's promise resolves. */
  onMessage(handler: MessageHandler): () => void {
    return this.receiver.onMessage(handler);
  }

  onKeyChange(handler: (e: KeyChangeEvent) => void): () => void {
    return this.events.on("keyChange", handler);
  }

  on<K extends keyof ClientEventMap>(event: K, listener: (value: ClientEventMap[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  readonly contacts = {
    /** Fetch and classify the contact's device list now. */
    resolve: (address: string): Promise<Resolution> => this.core.directory.resolve(parseAddress(address), 0),
    get: (address: string): Promise<Contact | undefined> => this.core.directory.get(parseAddress(address)),
    /** The user compared safety numbers and they matched. */
    verify: (address: string): Promise<void> => this.core.directory.setVerified(parseAddress(address), true),
    /** The user accepts an unexplained key change: the contact is pinned anew, unverified. */
    accept: (address: string): Promise<Resolution> => this.acceptKeyChange(address),
  };

  /** The user accepts an unexplained key change; mail held meanwhile is read now. */
  async acceptKeyChange(address: string): Promise<Resolution> {
    const resolution = await this.core.directory.acceptKeyChange(parseAddress(address));
    await this.receiver.releaseHeld(resolution.contact.address);
    return resolution;
  }

  /** The user accepts a server's changed identity key. */
  acceptServerKey(domain: string): Promise<void> {
    return this.core.servers.accept(domain);
  }

  /**
   * The safety number of this account and `address`, the same on both sides:
   * of the pinned key, or with `pending` of a changed key waiting for acceptKeyChange().
   */
  async fingerprint(address: string, o: { pending?: boolean } = {}): Promise<string> {
    const a = parseAddress(address);
    const key = o.pending
      ? await this.core.directory.pendingAccountKey(a)
      : ((await this.core.directory.get(a)) ?? (await this.core.directory.resolve(a, 0)).contact).accountKey;
    if (!key) throw new PeopleError("PEOPLE_NOT_FOUND", "no key change is waiting for this contact");
    return fingerprint(
      { address: this.address, accountKey: this.account.accountKey.publicKey },
      { address: a, accountKey: key },
    );
  }

  /** Move this account to `to` under the same account key, and tell its contacts (client-moves.ts). */
  move(to: string, o?: { invite?: string }): Promise<MoveResult> {
    return this.moves.move(to, o);
  }

  devices(): Promise<DeviceInfo[]> {
    return this.account.devices();
  }

  revokeDevice(device: string): Promise<void> {
    return this.account.revokeDevice(device as DeviceId);
  }

  /** Revokes this device itself (logout) and stops; the caller erases its data directory after. */
  async leaveAccount(): Promise<void> {
    await this.stop();
    await this.account.revokeSelf();
  }

  rotateIfDue(now = this.core.now(), o?: { rotationMs?: number; graceMs?: number }) {
    return this.account.rotateIfDue(now, o);
  }

  eraseExpiredKeys(now = this.core.now(), graceMs?: number): Promise<number> {
    return this.account.eraseExpiredKeys(now, graceMs);
  }

  /** Show the code on this device and type it on the new one (PeopleClient.link). */
  createLinkCode(ttlMs?: number): LinkOffer {
    return this.link.offer(ttlMs);
  }

  /** Every message this device holds, in arrival order (its own sent ones included). */
  inbox(): Promise<InboxEntry[]> {
    return this.core.store.inbox();
  }

  /** Copies waiting for delivery. */
  outboxSize(): Promise<number> {
    return this.core.outbox.size();
  }

  /** Messages stored but not yet handed to the listeners (set aside: retried while the client runs). */
  async undeliveredCount(): Promise<number> {
    return (await this.core.store.undelivered()).length;
  }

  /** Try due deliveries now. */
  flush(): Promise<number> {
    return this.core.outbox.drain();
  }

  private async maintain(): Promise<void> {
    try {
      await this.account.rotateIfDue(this.core.now());
      await this.core.store.pruneReplay(this.core.now());
    } catch (error) {
      this.events.emit("error", { where: "maintenance", error });
    }
  }
}
