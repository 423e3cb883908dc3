// The People accounts the bridge holds for its Matrix users: `@alice:hs` is
// `alice@<people.domain>` on the embedded People server, and the bridge is that
// account's device. One PeopleClient per user, with its encrypted store under
// people.data_dir/users/<sha256 of the user id>/ (the store passphrase derived
// from the bridge secret), opened or created on first use. With the embedded
// server's mail hook (`mail`), accounts are lazy (issue 17): a row until a Matrix
// event, mail from the embedded server, key maintenance or a command needs one
// (account-pool.ts), closed again when idle; otherwise every one starts with the bridge.
import { forEachLimit } from "../../concurrency.js";
import { PeopleClient, type ClientOptions } from "../../../people/client/people-client.js";
import { KeyedLock } from "../../../shared/keyed-lock.js";
import { SqliteHandlePool } from "../../../people/client/store-handles.js";
import type { ReceivedMessage } from "../../../people/client/receiver.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import type { MessageId } from "../../../people/protocol/ids.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type {
  IncomingHandler,
  KeyChangeHandler,
  OutboxReport,
  PeopleAccount,
  PeopleSide,
} from "../../core/ports/people-side.js";
import { AccountPool } from "./account-pool.js";
import { watchClient } from "./client-watch.js";
import { LazyAccounts, type EmbeddedMail } from "./lazy-accounts.js";
import type { AddressChoiceStore, LoginStore, PeopleAccountStore } from "../../core/ports/store.js";
import { userDataDir, type BridgeSecret } from "./bridge-secret.js";
import type { PeopleNetwork } from "./people-network.js";
import { ClientAccount } from "./client-account.js";
import { Logins } from "./logins.js";
import { DERIVED_PASSPHRASE_KDF, STORE_CACHE_KIB } from "./account-store-settings.js";
import { openOrCreateClient } from "./open-or-create.js";
import { madeAddress } from "./made-address.js";
import { watchKeys } from "./key-watch.js";
import { userError, retryLater } from "../../core/error-kinds.js";

/** Conversations (portals) of one account whose messages are sent into Matrix side by side. */
const PORTALS_AT_ONCE = 8;

export interface PeopleAccountsOptions {
  /** people.data_dir */
  dataDir: string;
  peopleDomain: string;
  homeserverDomain: string;
  secret: BridgeSecret;
  network: PeopleNetwork;
  store: PeopleAccountStore;
  /** Addresses users logged the bridge in to (`login`); without it, only bridge-made accounts. */
  logins?: LoginStore;
  /** `use <own address>`: the address a user's new chats use (without it: the login, else the made one). */
  choices?: AddressChoiceStore;
  log: Logger;
  /** The largest attachment the accounts upload or download (people.limits.max_blob_bytes). */
  maxAttachmentBytes?: number;
  /** How the accounts' live connections reach the embedded server (in-process: no socket per account). */
  liveTransport?: ClientOptions["liveTransport"];
  /** Client tuning (tests: faster reconnects and retries). */
  client?: Pick<ClientOptions, "reconnect" | "backoff" | "autoRotate" | "deliveryRetry">;
  /** Before a received envelope is acknowledged: the bridge's own writes made durable. */
  beforeAck?: () => Promise<void>;
  /** The most account stores with an open SQLite connection at once (bridge.open_account_stores, 128). */
  openStores?: number;
  /** The embedded server's mail hook and bridge.accounts: accounts open only when needed, close when idle. */
  lazy?: { mail: EmbeddedMail; idle_close_seconds: number; max_open: number };
  now?: () => number;
}

export class PeopleAccounts implements PeopleSide {
  /** The bridge-made accounts open now: opened on demand, closed when idle (lazy) or at the end. */
  private readonly accounts: AccountPool<ClientAccount>;
  /** When accounts open on their own (lazy): mail, key maintenance, the start. */
  readonly lazy: LazyAccounts | undefined;
  /** Group-key listeners per user, kept across reopens of the user's account. */
  private readonly groupKeys = new Map<string, Set<(group: string) => void>>();
  private readonly lock = new KeyedLock();
  private handler: IncomingHandler | undefined;
  private keyChangeHandler: KeyChangeHandler | undefined;
  private deliveryHandler: ((messageId: string, accepted: boolean) => void) | undefined;
  private outboxHandler: ((report: OutboxReport) => void) | undefined;
  private closed = false;
  /** Every account's store connection comes from here: memory does not grow with the accounts. */
  readonly storeHandles: SqliteHandlePool;
  /** The addresses users logged in to: a user's login is the account their portals use. */
  readonly logins: Logins | undefined;

  constructor(private readonly o: PeopleAccountsOptions) {
    this.storeHandles = new SqliteHandlePool(o.openStores ?? 128);
    const lazy = o.lazy;
    this.accounts = new AccountPool<ClientAccount>({
      idleMs: lazy ? lazy.idle_close_seconds * 1000 : Infinity,
      maxOpen: lazy ? lazy.max_open : Infinity,
      now: o.now ?? Date.now,
      open: (userId) => this.openAccount(userId),
      close: (userId, account) => this.closeAccount(userId, account),
      busy: (account) => this.busy(account),
      opened: (userId, account) => this.lazy?.opened(userId as MatrixUserId, account),
      closed: (userId) => this.lazy?.closed(userId),
    });
    this.lazy =
      lazy &&
      new LazyAccounts({
        mail: lazy.mail,
        pool: this.accounts,
        store: o.store,
        userOf: (address) => this.matrixUserOf(address),
        log: o.log.child({ component: "lazy-accounts" }),
        now: o.now ?? Date.now,
      });
    this.logins =
      o.logins &&
      new Logins({
        dataDir: o.dataDir,
        secret: o.secret,
        store: o.logins,
        log: o.log.child({ component: "logins" }),
        // A logged-in address lives on its own server: its mail comes over the live WebSocket.
        clientOptions: (dataDir, passphrase) => this.clientOptions(dataDir, passphrase, false),
        attach: (account) => this.attach(account),
        ...(o.now ? { now: o.now } : {}),
      });
  }

  /** Where a contact's key changes are told, for every account (set before start()). */
  onKeyChange(handler: KeyChangeHandler): void {
    this.keyChangeHandler = handler;
  }

  /** Told when a People server accepted (or refused) an envelope of any account's outbox (metrics). */
  onDelivery(handler: (messageId: string, accepted: boolean) => void): void {
    this.deliveryHandler = handler;
  }

  /** Told each copy's outcome in any account's outbox: delivered, waiting (deferred), dropped (send status). */
  onOutbox(handler: (report: OutboxReport) => void): void {
    this.outboxHandler = handler;
  }

  /** Envelopes waiting in the outboxes of the open accounts. */
  async outboxSize(): Promise<number> {
    const sizes = await Promise.all(this.accounts.openValues().map((a) => a.client.outboxSize()));
    return sizes.reduce((a, b) => a + b, 0);
  }

  /** Where messages for every account go (set before start()). */
  onMessage(handler: IncomingHandler): void {
    this.handler = handler;
  }

  addressFor(userId: string): PeopleAddress {
    return madeAddress(userId, this.o.homeserverDomain, this.o.peopleDomain);
  }

  async matrixUserOf(address: PeopleAddress): Promise<MatrixUserId | undefined> {
    const at = address.lastIndexOf("@");
    if (address.slice(at + 1) !== this.o.peopleDomain) return undefined;
    const userId = `@${address.slice(0, at)}:${this.o.homeserverDomain}`;
    // Only an account the bridge holds: its People server may have others (open registration).
    const record = await this.o.store.get(userId);
    return record?.address === address ? (userId as MatrixUserId) : undefined;
  }

  /**
   * The user's default account: the address `use` chose while they still hold it, else their
   * logged-in address when they have one, else the account the bridge made for them.
   */
  async accountFor(userId: string): Promise<PeopleAccount> {
    const chosen = await this.o.choices?.of(userId);
    if (chosen) {
      const account = await this.heldAt(userId, chosen as PeopleAddress);
      if (account) return account;
    }
    return this.defaultAccount(userId);
  }

  /** The user's own account at `address`: the made one or a login; a user error for any other. */
  async accountAt(userId: string, address: PeopleAddress): Promise<PeopleAccount> {
    const account = await this.heldAt(userId, address);
    if (!account)
      throw userError(`You do not hold \`${address}\` on this bridge (\`accounts\` lists yours).`);
    return account;
  }

  /** `use <own address>`: new chats and `dm` use it from now on (it must be one the user holds). */
  async use(userId: string, address: PeopleAddress): Promise<PeopleAccount> {
    const account = await this.accountAt(userId, address);
    if (!this.o.choices) throw userError("Choosing the address is not available on this bridge.");
    await this.o.choices.set(userId, address, (this.o.now ?? Date.now)());
    return account;
  }

  /** The user's account at `address`, when they hold it here (made by the bridge, or logged in). */
  private async heldAt(userId: string, address: PeopleAddress): Promise<ClientAccount | undefined> {
    const login = this.logins?.byAddress(address);
    if (login) return login.owner === userId ? login : undefined;
    const records = (await this.o.logins?.of(userId)) ?? [];
    if (records.some((r) => r.address === address)) return this.logins?.accountOf(userId);
    if (!(await this.hasHeldAccount(userId))) return undefined;
    const held = await this.heldAccountFor(userId);
    return held.address === address || held.portalOwner === address ? held : undefined;
  }

  /** The user's logged-in address when they have one, else the account the bridge made for them. */
  private defaultAccount(userId: string): Promise<PeopleAccount> {
    const login = this.logins?.opened(userId);
    if (login) return Promise.resolve(login);
    const ready = this.accounts.peek(userId);
    // Once every recorded login was opened, an open bridge-made account is the answer without asking the store.
    if (ready && (this.logins?.loaded ?? true)) return Promise.resolve(ready);
    return this.lock.run(
      userId,
      async () => (await this.logins?.accountOf(userId)) ?? this.accounts.get(userId),
    );
  }

  /** The account the bridge made for the user (`<localpart>@<people.domain>`), logged in elsewhere or not. */
  heldAccountFor(userId: string): Promise<ClientAccount> {
    const ready = this.accounts.peek(userId);
    if (ready) return Promise.resolve(ready);
    return this.lock.run(userId, () => this.accounts.get(userId));
  }

  /** Whether the user has a bridge-made account already (without making one). */
  async hasHeldAccount(userId: string): Promise<boolean> {
    return (await this.o.store.get(userId)) !== undefined;
  }

  /** The open client of a user (tests and operations); undefined while a lazy account is closed. */
  clientOf(userId: string): PeopleClient | undefined {
    return this.accounts.peek(userId)?.client;
  }

  /**
   * Whether the user's mail reaches the bridge now: an open account's live link is up, or a lazy
   * account is closed and the embedded server will wake it (undefined: not open, and not lazy).
   */
  reachable(userId: string): boolean | undefined {
    const open = this.accounts.peek(userId);
    if (open) return open.client.connected;
    return this.lazy ? true : undefined;
  }

  /** Bridge-made accounts open now (metrics). */
  get openCount(): number {
    return this.accounts.size;
  }

  /**
   * Starts the accounts, `concurrency` at a time (bridge.startup_concurrency): lazy, only those with
   * mail waiting or living on another server (the rest open when needed); otherwise every one.
   */
  async startAll(concurrency = 1): Promise<void> {
    const started = Date.now();
    const records = await this.o.store.list();
    const users = this.lazy ? await this.lazy.atStart() : records.map((r) => r.matrixUser);
    await forEachLimit(
      users,
      concurrency,
      async (user) => {
        try {
          await this.accountFor(user);
        } catch (err) {
          this.o.log.error({ err, user }, "could not start a Matrix user's People account");
        }
      },
      () => this.closed,
    );
    if (this.closed) return;
    await this.logins?.startAll();
    this.lazy?.run();
    // The scale bench times a restart by this line.
    this.o.log.info(
      { accounts: records.length, opened: users.length, ms: Date.now() - started },
      "People accounts started",
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.lazy?.stop();
    await this.logins?.close();
    if (this.lazy) {
      // Those with nothing left to do stay closed at the next start; the others open again.
      const open = this.accounts.openValues();
      const idle = await Promise.all(open.map(async (a) => ((await this.busy(a)) ? [] : [a.owner])));
      await this.o.store.setOpenAtStart(idle.flat(), false).catch((err: unknown) => {
        this.o.log.warn({ err }, "could not record which accounts open at the next start");
      });
    }
    await this.accounts.closeAll();
  }

  private async openAccount(userId: string): Promise<ClientAccount> {
    if (this.closed) throw retryLater("the bridge is stopping");
    const address = this.addressFor(userId);
    const owner = userId as MatrixUserId;
    const client = await openOrCreateClient({
      options: this.clientOptions(userDataDir(this.o.dataDir, owner), this.o.secret.storePassphrase(owner)),
      owner,
      address,
      peopleDomain: this.o.peopleDomain,
      live: this.o.liveTransport,
      registrationToken: this.o.secret.registrationToken(),
      log: this.o.log,
    });
    try {
      const account = new ClientAccount(owner, client, this.o.secret, address, {
        hold: () => this.accounts.hold(owner),
        onGroupKey: (handler) => this.onGroupKey(owner, handler),
      });
      this.attach(account);
      client.groups.events.on("key", (k) => this.groupKeys.get(owner)?.forEach((h) => h(k.group)));
      await this.o.store.put({ matrixUser: owner, address, createdAt: (this.o.now ?? Date.now)() });
      await client.start();
      if (this.closed) throw retryLater("the bridge is stopping");
      return account;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  private async closeAccount(userId: string, account: ClientAccount): Promise<void> {
    await account.client.close().catch((err: unknown) => {
      this.o.log.warn({ err, user: userId }, "closing a People client failed");
    });
    // Idle with no work of its own (the pool asked): nothing to do at the next start.
    if (!this.closed) await this.o.store.setOpenAtStart([userId], false);
  }

  /**
   * Work an account has of its own: it stays open (a moved address, whose mail comes over a socket;
   * a call; an outbox to deliver; messages set aside to hand to Matrix again).
   */
  private async busy(account: ClientAccount): Promise<boolean> {
    const c = account.client;
    if (addressDomain(c.address) !== this.o.peopleDomain) return true;
    if (c.calls.calls().length > 0 || c.calls.incoming().length > 0 || c.realtime.sessions().length > 0)
      return true;
    return (await c.outboxSize()) > 0 || (await c.undeliveredCount()) > 0;
  }

  private onGroupKey(owner: string, handler: (group: string) => void): () => void {
    const set = this.groupKeys.get(owner) ?? new Set();
    this.groupKeys.set(owner, set);
    set.add(handler);
    return () => void set.delete(handler);
  }

  /** Messages, key changes and outbox reports of an account go where every account's go. */
  private attach(account: ClientAccount): void {
    account.client.onMessage((m) => this.deliver(account, m));
    watchClient(account.client, account.owner, this.o.log, {
      delivery: () => this.deliveryHandler,
      outbox: () => this.outboxHandler,
    });
    watchKeys(account, this.o.log, () => this.keyChangeHandler);
  }

  private clientOptions(dataDir: string, passphrase: string, onEmbeddedServer = true): ClientOptions {
    return {
      dataDir,
      passphrase,
      kdf: DERIVED_PASSPHRASE_KDF,
      storeCacheKiB: STORE_CACHE_KIB,
      storeHandles: this.storeHandles,
      storeExclusive: true, // only the bridge opens its accounts' stores
      pins: this.o.network.pins,
      ca: this.o.network.ca,
      ...(this.o.network.tor ? { tor: this.o.network.tor } : {}),
      ...(this.o.maxAttachmentBytes ? { maxAttachmentBytes: this.o.maxAttachmentBytes } : {}),
      ...this.o.client,
      // Each conversation is a portal: several are brought into Matrix at once, each in its order.
      deliveryRetry: { concurrency: PORTALS_AT_ONCE, ...this.o.client?.deliveryRetry },
      ...(this.o.beforeAck ? { beforeAck: this.o.beforeAck } : {}),
      ...(this.o.liveTransport && onEmbeddedServer ? { liveTransport: this.o.liveTransport } : {}),
    };
  }

  private async deliver(account: ClientAccount, m: ReceivedMessage): Promise<void> {
    // Set aside by the People client and tried again on its own once the bridge is ready.
    if (!this.handler) throw new Error("no handler for People messages yet");
    // Where a People → Matrix message starts (ids only): "sent to Matrix" (room) is where it ends.
    this.o.log.debug({ user: account.owner, from: m.from, message: m.id }, "People message taken in");
    // Held open until the message is in Matrix and acknowledged: never closed mid-delivery.
    const release = this.accounts.hold(account.owner);
    try {
      await this.handler(account, {
        id: m.id as MessageId,
        from: parseAddress(m.from),
        to: m.to.map((a) => parseAddress(a)),
        ts: m.ts,
        content: m.content,
      });
    } finally {
      release?.();
    }
  }
}
