// The persistent outbound queue, like a mail relay's: every sealed copy is
// written here before the first delivery attempt, removed only when its
// server answered 2xx ("stored" or "duplicate": the envelope id makes retries
// safe) or refused it for good (a 4xx, reported), and otherwise retried with
// exponential backoff and jitter until the envelope expires. Copies to one
// recipient go out in the order they were sent, so a later message never
// overtakes an earlier one that is waiting for its server. While the device is
// online, servers found down are probed often and, once one answers, all its
// waiting copies go at once (outbox-probes.ts).
import { PeopleError } from "../errors.js";
import { remoteError, type HttpsClient } from "../net/https-client.js";
import { addressDomain, type PeopleAddress } from "../protocol/address.js";
import { jsonOrNull } from "./answers.js";
import type { Discovery } from "../net/discovery.js";
import type { ClientEvents } from "./events.js";
import type { ClientStore, OutboxInsert, OutboxRow } from "./local-store.js";
import { errorCode } from "../transient.js";
import { ServerProbes } from "./outbox-probes.js";

export interface BackoffOptions {
  /** First retry delay (default 1 s); doubles per attempt. */
  baseMs?: number;
  /** Longest delay between attempts (default 1 h). */
  maxMs?: number;
  /**
   * While the device's live connection is open, a server that could not be reached is tried
   * again at least this often (default 15 s), one copy at a time; 0 turns this off.
   */
  onlineMaxMs?: number;
}

const DEFAULT_ONLINE_MAX_MS = 15_000;

const IDLE_MS = 60_000;

/** "released": delivered (or refused for good) by a server that had been down. */
type Outcome = "done" | "released" | "retry";

export class Outbox {
  private pass: Promise<number> | undefined;
  private queued: Promise<number> | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  private wakeUp: (() => void) | undefined;
  /** Mail was queued since the current pass read the outbox: pass again before sleeping. */
  private dirty = false;
  private readonly probes: ServerProbes | undefined;
  /** Set by the client: follows a PEOPLE_MOVED answer's notice and sends the message again (client-moves.ts). */
  onMoved: ((row: OutboxRow, error: PeopleError) => Promise<void>) | undefined;

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
  ) {
    const onlineMaxMs = o.backoff?.onlineMaxMs ?? DEFAULT_ONLINE_MAX_MS;
    if (onlineMaxMs > 0) {
      const probes = new ServerProbes({ baseMs: o.backoff?.baseMs ?? 1000, onlineMaxMs });
      this.probes = probes;
      // (Re)connected: the device's network works, so every server with mail waiting is tried now.
      o.events.on("connection", (c) => {
        if (probes.setOnline(c.state === "open")) this.kick();
      });
    }
  }

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
    const pass = this.probes?.beginPass();
    let nextDue = Infinity;
    const released = new Set<string>();
    await Promise.all(
      [...byRecipient.values()].map(async (queue) => {
        for (const row of queue) {
          const now = this.o.now();
          if (row.expiresAt <= now) {
            await this.drop(row, "PEOPLE_EXPIRED");
            continue;
          }
          const domain = addressDomain(row.address as PeopleAddress);
          const probe =
            row.nextAttemptAt > now && pass !== undefined && this.probes!.claim(domain, now, pass);
          if (row.nextAttemptAt > now && !probe) {
            // Later copies to this recipient wait behind this one, to keep the order.
            const probeAt = pass?.probing.has(domain) ? Infinity : this.nextProbe(domain);
            nextDue = Math.min(nextDue, row.nextAttemptAt, probeAt);
            break;
          }
          const outcome = await this.deliver(row, domain);
          if (outcome === "retry") {
            nextDue = Math.min(nextDue, row.nextAttemptAt, this.nextProbe(domain));
            break;
          }
          if (outcome === "released") released.add(domain);
        }
      }),
    );
    if (released.size === 0) return nextDue;
    // A server that was down answered: its other copies are due now, not at their own backoff.
    const now = this.o.now();
    for (const row of await this.o.store.outbox()) {
      if (row.nextAttemptAt <= now || !released.has(addressDomain(row.address as PeopleAddress))) continue;
      await this.o.store.updateOutbox(row.id, { ...row, nextAttemptAt: now });
    }
    this.dirty = true;
    return now;
  }

  private nextProbe(domain: string): number {
    return this.probes?.nextProbe(domain) ?? Infinity;
  }

  private async deliver(row: OutboxRow, domain: string): Promise<Outcome> {
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
      // A domain that does not exist is an answer: nothing will ever take this copy.
      if (e instanceof PeopleError && e.code === "PEOPLE_NO_SERVER") {
        await this.drop(row, e.code);
        return "done";
      }
      this.o.discovery.forget(domain);
      this.probes?.failed(domain, this.o.now());
      return this.retry(row, errorCode(e));
    }
    if (status >= 500) this.probes?.failed(domain, this.o.now());
    if (status === 429 || status >= 500) return this.retry(row, remoteError(status, jsonOrNull(body)).code);
    const outcome = this.probes?.answered(domain) ? "released" : "done";
    if (status >= 200 && status < 300) {
      await this.o.store.removeOutbox(row.id);
      this.o.events.emit("delivered", {
        envelopeId: row.envelopeId,
        messageId: row.messageId,
        address: row.address,
      });
      return outcome;
    }
    const error = remoteError(status, jsonOrNull(body));
    // The account moved (PROTOCOL §20): the copy is dropped and, if the notice holds, sent to the new address.
    if (error.code === "PEOPLE_MOVED") await this.onMoved?.(row, error);
    await this.drop(row, error.code);
    await this.o.onRefused?.(domain, error.code);
    return outcome;
  }

  private async retry(row: OutboxRow, code: PeopleError["code"]): Promise<"retry"> {
    const base = this.o.backoff?.baseMs ?? 1000;
    const max = this.o.backoff?.maxMs ?? 60 * 60 * 1000;
    const delay = Math.min(max, base * 2 ** Math.min(row.attempts, 30));
    // Jitter in [delay/2, delay): many clients retrying one returning server do not arrive together.
    const wait = delay / 2 + Math.random() * (delay / 2);
    row.attempts += 1;
    row.nextAttemptAt = this.o.now() + Math.ceil(wait);
    row.lastError = code;
    await this.o.store.updateOutbox(row.id, row);
    this.o.events.emit("deferred", {
      envelopeId: row.envelopeId,
      messageId: row.messageId,
      address: row.address,
      code,
      attempts: row.attempts,
      retryAt: row.nextAttemptAt,
    });
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
