// The persistent outbound queue, like a mail relay's: every sealed copy is
// written here before the first delivery attempt, removed only when its
// server answered 2xx ("stored" or "duplicate": the envelope id makes retries
// safe) or refused it for good (a 4xx, reported), and otherwise retried with
// exponential backoff and jitter until the envelope expires. Copies to one
// recipient go out in the order they were sent, so a later message never
// overtakes an earlier one that is waiting for its server.
import { PeopleError } from "../errors.js";
import { remoteError, type HttpsClient } from "../net/https-client.js";
import { addressDomain, type PeopleAddress } from "../protocol/address.js";
import { jsonOrNull } from "./answers.js";
import type { Discovery } from "../net/discovery.js";
import type { ClientEvents } from "./events.js";
import type { ClientStore, OutboxInsert, OutboxRow } from "./local-store.js";
import { errorCode } from "../transient.js";

export interface BackoffOptions {
  /** First retry delay (default 1 s); doubles per attempt. */
  baseMs?: number;
  /** Longest delay between attempts (default 1 h). */
  maxMs?: number;
}

const IDLE_MS = 60_000;

type Outcome = "done" | "retry";

export class Outbox {
  private pass: Promise<number> | undefined;
  private queued: Promise<number> | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  private wakeUp: (() => void) | undefined;
  /** Mail was queued since the current pass read the outbox: pass again before sleeping. */
  private dirty = false;

  constructor(
    private readonly o: {
      store: ClientStore;
      http: Pick<HttpsClient, "send">;
      discovery: Discovery;
      events: ClientEvents;
      now: () => number;
      backoff?: BackoffOptions;
      /** A server refused a copy for good (e.g. PEOPLE_UNKNOWN_KEY: its envelope keys changed). */
      onRefused?: (domain: string, code: PeopleError["code"]) => Promise<void>;
    },
  ) {}

  /** Persist copies (all or none); call kick() to deliver them. */
  enqueue(rows: OutboxInsert[]): Promise<void> {
    return this.o.store.enqueue(rows);
  }

  /** Try every copy that is due; returns when the next one will be due (Infinity when none waits). */
  drain(): Promise<number> {
    if (!this.pass) {
      this.pass = this.runPass().finally(() => (this.pass = undefined));
      return this.pass;
    }
    this.queued ??= this.pass.then(() => {
      this.queued = undefined;
      return this.drain();
    });
    return this.queued;
  }

  /** New mail was queued: deliver now (through the loop when it runs). */
  kick(): void {
    this.dirty = true;
    if (this.wakeUp) this.wakeUp();
    else if (this.stopped)
      void this.drain().catch((error: unknown) => this.o.events.emit("error", { where: "outbox", error }));
  }

  run(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        this.dirty = false;
        let next: number;
        try {
          next = await this.drain();
        } catch (error) {
          this.o.events.emit("error", { where: "outbox", error });
          next = this.o.now() + 1000;
        }
        if (this.stopped) break;
        if (this.dirty) continue;
        const delay = Math.min(Math.max(next - this.o.now(), 5), IDLE_MS);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay);
          this.wakeUp = done;
          function done(): void {
            clearTimeout(timer);
            resolve();
          }
        });
        this.wakeUp = undefined;
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
    this.loop = undefined;
    await this.pass?.catch(() => undefined);
    await this.queued?.catch(() => undefined);
  }

  async size(): Promise<number> {
    return (await this.o.store.outbox()).length;
  }

  private async runPass(): Promise<number> {
    const rows = await this.o.store.outbox();
    const byRecipient = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const list = byRecipient.get(row.address) ?? [];
      list.push(row);
      byRecipient.set(row.address, list);
    }
    let nextDue = Infinity;
    await Promise.all(
      [...byRecipient.values()].map(async (queue) => {
        for (const row of queue) {
          const now = this.o.now();
          if (row.expiresAt <= now) {
            await this.drop(row, "PEOPLE_EXPIRED");
            continue;
          }
          if (row.nextAttemptAt > now || (await this.deliver(row)) === "retry") {
            // Later copies to this recipient wait behind this one, to keep the order.
            nextDue = Math.min(nextDue, row.nextAttemptAt > now ? row.nextAttemptAt : now);
            break;
          }
        }
      }),
    );
    return nextDue;
  }

  private async deliver(row: OutboxRow): Promise<Outcome> {
    const domain = addressDomain(row.address as PeopleAddress);
    let status: number;
    let body: Buffer;
    try {
      const url = await this.o.discovery.resolve(domain);
      const res = await this.o.http.send("POST", `${url}/_people/v1/envelopes`, {
        headers: { "content-type": "application/octet-stream", "content-length": String(row.outer.length) },
        body: row.outer,
      });
      status = res.status;
      body = res.body;
    } catch (e) {
      this.o.discovery.forget(domain);
      return this.retry(row, errorCode(e));
    }
    if (status >= 200 && status < 300) {
      await this.o.store.removeOutbox(row.id);
      this.o.events.emit("delivered", {
        envelopeId: row.envelopeId,
        messageId: row.messageId,
        address: row.address,
      });
      return "done";
    }
    const error = remoteError(status, jsonOrNull(body));
    if (status === 429 || status >= 500) return this.retry(row, error.code);
    await this.drop(row, error.code);
    await this.o.onRefused?.(domain, error.code);
    return "done";
  }

  private async retry(row: OutboxRow, code: PeopleError["code"]): Promise<Outcome> {
    const base = this.o.backoff?.baseMs ?? 1000;
    const max = this.o.backoff?.maxMs ?? 60 * 60 * 1000;
    const delay = Math.min(max, base * 2 ** Math.min(row.attempts, 30));
    // Jitter in [delay/2, delay): many clients retrying one returning server do not arrive together.
    const wait = delay / 2 + Math.random() * (delay / 2);
    row.attempts += 1;
    row.nextAttemptAt = this.o.now() + Math.ceil(wait);
    row.lastError = code;
    await this.o.store.updateOutbox(row.id, row);
    return "retry";
  }

  private async drop(row: OutboxRow, code: PeopleError["code"]): Promise<void> {
    await this.o.store.removeOutbox(row.id);
    this.o.events.emit("undeliverable", {
      envelopeId: row.envelopeId,
      messageId: row.messageId,
      address: row.address,
      code,
    });
  }
}
