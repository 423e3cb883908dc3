// When a lazy account (issue 17) opens on its own, besides the Matrix events and
// commands that ask for it: the embedded People server tells of mail for it
// (in-process, `mail.onStored`), the start opens those with mail waiting and
// those open (or with work left) when the bridge last stopped or crashed, which
// includes those that moved to another server (no wake from there; never
// closed), and an hourly timer
// opens the accounts whose keys were not looked after for a day, so their keys
// rotate before the device certificates run out. Idle accounts are closed by a
// sweep of the pool (account-pool.ts).
import { forEachLimit } from "../../concurrency.js";
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type { PeopleAccountStore } from "../../core/ports/store.js";
import type { AccountPool } from "./account-pool.js";
import type { ClientAccount } from "./client-account.js";

/** The embedded People server's side of lazy accounts (PeopleServerHandle.mail). */
export interface EmbeddedMail {
  onStored(listener: (address: string) => void): void;
  waiting(): Promise<string[]>;
}

export interface LazyAccountsOptions {
  mail: EmbeddedMail;
  pool: AccountPool<ClientAccount>;
  store: Pick<PeopleAccountStore, "get" | "dueForMaintenance" | "maintained" | "openAtStart">;
  /** The bridge's user holding a People address of the embedded server, if any. */
  userOf(address: PeopleAddress): Promise<MatrixUserId | undefined>;
  log: Logger;
  now: () => number;
  /** How often idle accounts are looked for (default: 30 s). */
  sweepEveryMs?: number;
}

const HOUR_MS = 60 * 60 * 1000;
/** Keys rotate daily (DEFAULT_ROTATION_MS): an account not opened for this long is opened to rotate them. */
const MAINTAIN_AFTER_MS = 20 * HOUR_MS;
/** Accounts opened for maintenance per hourly run (10,000 accounts within a day), two at a time. */
const MAINTAIN_PER_RUN = 1_000;
const MAINTAIN_AT_ONCE = 2;

export class LazyAccounts {
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private sweeping = false;
  private maintaining = false;

  constructor(private readonly o: LazyAccountsOptions) {
    o.mail.onStored((address) => this.wake(address));
  }

  /** Mail for `address` is stored: its account opens (a no-op when open; the live push delivered it). */
  wake(address: string): void {
    if (this.stopped) return;
    void this.openFor(address).catch((err: unknown) =>
      this.o.log.warn({ err, address }, "could not open an account for its mail"),
    );
  }

  /** The users to open at the start: mail waits for them, or they were open (or had work) at the last stop. */
  async atStart(): Promise<MatrixUserId[]> {
    const [open, waiting] = await Promise.all([this.o.store.openAtStart(), this.o.mail.waiting()]);
    const users = new Set<MatrixUserId>(open as MatrixUserId[]);
    for (const address of waiting) {
      const user = await this.userOfText(address);
      if (user) users.add(user);
    }
    return [...users];
  }

  /** The sweep and maintenance timers run from now on. */
  run(): void {
    if (this.stopped || this.timers.length > 0) return;
    const sweep = setInterval(() => void this.sweep(), this.o.sweepEveryMs ?? 30_000);
    const maintain = setInterval(() => void this.maintainDue(), HOUR_MS);
    for (const t of [sweep, maintain]) t.unref();
    this.timers.push(sweep, maintain);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  /**
   * An account opened: its keys are rotated if due, and the time recorded with "open at the next
   * start" (a crash leaves it set; the account is held meanwhile).
   */
  opened(user: MatrixUserId, account: ClientAccount): void {
    const release = this.o.pool.hold(user);
    void (async () => {
      await account.client.rotateIfDue();
      await this.o.store.maintained(user, this.o.now());
    })()
      .catch((err: unknown) => this.o.log.warn({ err, user }, "could not look after an account's keys"))
      .finally(() => release?.());
  }

  /** An account closed: mail that came meanwhile (or that it left unacknowledged) opens it again. */
  closed(user: string): void {
    if (this.stopped) return;
    void (async () => {
      const record = await this.o.store.get(user);
      if (!record || !(await this.o.mail.waiting()).includes(record.address)) return;
      await this.o.pool.get(user);
    })().catch((err: unknown) =>
      this.o.log.warn({ err, user }, "could not open an account again for its mail"),
    );
  }

  /** Closes the idle accounts now (the timer's work); how many closed. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      return await this.o.pool.sweep();
    } catch (err) {
      this.o.log.warn({ err }, "closing idle accounts failed");
      return 0;
    } finally {
      this.sweeping = false;
    }
  }

  /** Opens the accounts whose keys were not looked after for MAINTAIN_AFTER_MS (the hourly work); how many. */
  async maintainDue(now = this.o.now()): Promise<number> {
    if (this.maintaining || this.stopped) return 0;
    this.maintaining = true;
    try {
      const due = await this.o.store.dueForMaintenance(now - MAINTAIN_AFTER_MS, MAINTAIN_PER_RUN);
      await forEachLimit(
        due,
        MAINTAIN_AT_ONCE,
        async (user) => {
          // Opening looks after the keys (`opened`); the account then closes when idle.
          await this.o.pool
            .get(user)
            .catch((err: unknown) =>
              this.o.log.warn({ err, user }, "could not open an account to rotate its keys"),
            );
        },
        () => this.stopped,
      );
      return due.length;
    } finally {
      this.maintaining = false;
    }
  }

  private async openFor(address: string): Promise<void> {
    const user = await this.userOfText(address);
    if (user) await this.o.pool.get(user);
  }

  private async userOfText(address: string): Promise<MatrixUserId | undefined> {
    let parsed: PeopleAddress;
    try {
      parsed = parseAddress(address);
    } catch {
      return undefined;
    }
    return this.o.userOf(parsed);
  }
}
