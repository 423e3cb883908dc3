// The People accounts the bridge holds for its Matrix users: `@alice:hs` is
// `alice@<people.domain>` on the embedded People server, and the bridge is that
// account's device. One PeopleClient per user, with its encrypted store under
// people.data_dir/users/<sha256 of the user id>/ (the store passphrase derived
// from the bridge secret), opened or created on first use and receiving live
// from then on; every known user's client starts with the bridge.
import { forEachLimit } from "../../concurrency.js";
import { isPeopleError } from "../../../people/errors.js";
import { PeopleClient, type ClientOptions } from "../../../people/client/people-client.js";
import { KeyedLock } from "../../../shared/keyed-lock.js";
import { SqliteHandlePool } from "../../../people/client/store-handles.js";
import type { ReceivedMessage } from "../../../people/client/receiver.js";
import { errorCode } from "../../../people/transient.js";
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import type { MessageId } from "../../../people/protocol/ids.js";
import type { Logger } from "../../logger.js";
import { isMatrixUserId, splitMatrixUserId, type MatrixUserId } from "../../model/matrix-ids.js";
import type {
  IncomingHandler,
  KeyChangeHandler,
  OutboxReport,
  PeopleAccount,
  PeopleSide,
} from "../../core/ports/people-side.js";
import type { AddressChoiceStore, LoginStore, PeopleAccountStore } from "../../core/ports/store.js";
import { userDataDir, type BridgeSecret } from "./bridge-secret.js";
import type { PeopleNetwork } from "./people-network.js";
import { ClientAccount } from "./client-account.js";
import { Logins } from "./logins.js";
import { DERIVED_PASSPHRASE_KDF, STORE_CACHE_KIB } from "./account-store-settings.js";
import { heldAccountTransport } from "./held-transport.js";
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
  now?: () => number;
}

export class PeopleAccounts implements PeopleSide {
  private readonly accounts = new Map<string, ClientAccount>();
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
    const sizes = await Promise.all([...this.accounts.values()].map((a) => a.client.outboxSize()));
    return sizes.reduce((a, b) => a + b, 0);
  }

  /** Where messages for every account go (set before start()). */
  onMessage(handler: IncomingHandler): void {
    this.handler = handler;
  }

  addressFor(userId: string): PeopleAddress {
    if (!isMatrixUserId(userId)) throw userError("That is not a Matrix user id.");
    const { localpart, server } = splitMatrixUserId(userId);
    if (server !== this.o.homeserverDomain) {
      throw userError(
        `Only users of ${this.o.homeserverDomain} get a People address on this bridge.`,
        "a user of another homeserver asked for a People account",
      );
    }
    const wanted = `${localpart}@${this.o.peopleDomain}`;
    let address: PeopleAddress | undefined;
    try {
      address = parseAddress(wanted);
    } catch {
      address = undefined;
    }
    // Exactly the localpart: a case-folded one could make two Matrix users share an address.
    if (address !== wanted) {
      throw userError(
        `Your Matrix username "${localpart}" cannot be a People address: it may hold lowercase ` +
          "letters, digits, '.', '_' and '-', starting and ending with a letter or digit.",
        "the user's localpart is not a People local part",
      );
    }
    return address;
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
    const ready = this.accounts.get(userId);
    // Once every recorded login was opened, an open bridge-made account is the answer without asking the store.
    if (ready && (this.logins?.loaded ?? true)) return Promise.resolve(ready);
    return this.lock.run(
      userId,
      async () => (await this.logins?.accountOf(userId)) ?? this.openAccount(userId),
    );
  }

  /** The account the bridge made for the user (`<localpart>@<people.domain>`), logged in elsewhere or not. */
  heldAccountFor(userId: string): Promise<ClientAccount> {
    const ready = this.accounts.get(userId);
    if (ready) return Promise.resolve(ready);
    return this.lock.run(userId, () => this.openAccount(userId));
  }

  /** Whether the user has a bridge-made account already (without making one). */
  async hasHeldAccount(userId: string): Promise<boolean> {
    return (await this.o.store.get(userId)) !== undefined;
  }

  /** The open client of a user (tests and operations). */
  clientOf(userId: string): PeopleClient | undefined {
    return this.accounts.get(userId)?.client;
  }

  /** Starts the client of every Matrix user who has an account; one failing user does not stop the others. */
  /** Starts every account, `concurrency` at a time (bridge.startup_concurrency). */
  async startAll(concurrency = 1): Promise<void> {
    const started = Date.now();
    const records = await this.o.store.list();
    await forEachLimit(
      records,
      concurrency,
      async (record) => {
        try {
          await this.accountFor(record.matrixUser);
        } catch (err) {
          this.o.log.error(
            { err, user: record.matrixUser },
            "could not start a Matrix user's People account",
          );
        }
      },
      () => this.closed,
    );
    if (this.closed) return;
    await this.logins?.startAll();
    // The scale bench times a restart by this line.
    this.o.log.info({ accounts: records.length, ms: Date.now() - started }, "People accounts started");
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.logins?.close();
    const open = [...this.accounts.values()];
    this.accounts.clear();
    await Promise.all(
      open.map((a) =>
        a.client.close().catch((err: unknown) => this.o.log.warn({ err }, "closing a People client failed")),
      ),
    );
  }

  private async openAccount(userId: string): Promise<ClientAccount> {
    const ready = this.accounts.get(userId);
    if (ready) return ready;
    if (this.closed) throw retryLater("the bridge is stopping");
    const address = this.addressFor(userId);
    const owner = userId as MatrixUserId;
    const client = await this.openOrCreate(owner, address);
    try {
      const account = new ClientAccount(owner, client, this.o.secret, address);
      this.attach(account);
      await this.o.store.put({ matrixUser: owner, address, createdAt: (this.o.now ?? Date.now)() });
      await client.start();
      if (this.closed) throw retryLater("the bridge is stopping");
      this.accounts.set(userId, account);
      return account;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  /** Messages, key changes and outbox reports of an account go where every account's go. */
  private attach(account: ClientAccount): void {
    account.client.onMessage((m) => this.deliver(account, m));
    this.watch(account.client, account.owner);
    watchKeys(account, this.o.log, () => this.keyChangeHandler);
  }

  private clientOptions(dataDir: string, passphrase: string, onEmbeddedServer = true): ClientOptions {
    return {
      dataDir,
      passphrase,
      kdf: DERIVED_PASSPHRASE_KDF,
      storeCacheKiB: STORE_CACHE_KIB,
      storeHandles: this.storeHandles,
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

  private async openOrCreate(owner: MatrixUserId, address: PeopleAddress): Promise<PeopleClient> {
    let opened: PeopleClient | undefined;
    const base = this.clientOptions(userDataDir(this.o.dataDir, owner), this.o.secret.storePassphrase(owner));
    // An account moved off the embedded server (`move`) reaches its new one over a WebSocket.
    const live = this.o.liveTransport;
    const options = live
      ? { ...base, liveTransport: heldAccountTransport(live, this.o.peopleDomain, () => opened?.address) }
      : base;
    try {
      return (opened = await PeopleClient.open(options));
    } catch (err) {
      if (!isPeopleError(err, "PEOPLE_NOT_FOUND")) throw err;
    }
    try {
      const client = (opened = await PeopleClient.create({
        ...options,
        address,
        invite: this.o.secret.registrationToken(),
      }));
      this.o.log.info({ user: owner, address, device: client.device }, "created a People account");
      return client;
    } catch (err) {
      if (isPeopleError(err, "PEOPLE_FORBIDDEN")) {
        throw userError(
          `The People address ${address} is taken on this server by someone else. Ask the bridge's admin.`,
          "registering the user's People account was refused",
          { cause: err },
        );
      }
      throw err;
    }
  }

  private async deliver(account: ClientAccount, m: ReceivedMessage): Promise<void> {
    // Set aside by the People client and tried again on its own once the bridge is ready.
    if (!this.handler) throw new Error("no handler for People messages yet");
    // Where a People → Matrix message starts (ids only): "sent to Matrix" (room) is where it ends.
    this.o.log.debug({ user: account.owner, from: m.from, message: m.id }, "People message taken in");
    await this.handler(account, {
      id: m.id as MessageId,
      from: parseAddress(m.from),
      to: m.to.map((a) => parseAddress(a)),
      ts: m.ts,
      content: m.content,
    });
  }

  /** What the client reports goes to the log, by code only (details could name keys). */
  private watch(client: PeopleClient, user: MatrixUserId): void {
    const log = this.o.log.child({ user, address: client.address });
    client.on("keyChange", (e) =>
      log.warn({ kind: e.kind, subject: e.subject, code: e.code }, "a contact's keys changed"),
    );
    client.on("delivered", (e) => this.deliveryHandler?.(e.messageId, true));
    client.on("undeliverable", (e) => this.deliveryHandler?.(e.messageId, false));
    for (const kind of ["delivered", "deferred", "undeliverable"] as const) {
      client.on(kind, (e) =>
        this.outboxHandler?.({
          kind,
          // Read at each report: a moved account (`move`) sends as its new address.
          sender: client.address,
          messageId: e.messageId,
          address: e.address,
          ...(e.code !== undefined ? { code: e.code } : {}),
        }),
      );
    }
    client.on("rejected", (e) => log.warn({ code: e.code, from: e.from }, "rejected a People envelope"));
    client.on("held", (e) => log.warn({ from: e.from }, "holding mail from a contact whose keys changed"));
    client.on("undeliverable", (e) =>
      log.warn(
        { to: e.address, code: e.code, message: e.messageId },
        "a People message could not be delivered",
      ),
    );
    client.on("error", (e) => log.warn({ where: e.where, code: errorCode(e.error) }, "People client error"));
  }
}
