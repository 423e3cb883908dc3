// Receiving (PROTOCOL §12): open the inner envelope with this device's keys
// (current or retired within grace), find the sender device's signing key in
// its verified chain, verify, store durably (deduplicated, with the replay
// guard), hand the message to the listeners, and only then let the caller
// acknowledge it. An envelope that fails the rules is reported and treated
// as handled, so one bad envelope cannot wedge the mailbox; a failure that
// may pass (the network) before the message is stored is thrown, so it is
// tried again. Once stored, the message goes to the listeners through the
// delivery queue (delivery-queue.ts): fairly per sender, and a message whose
// listeners fail is set aside (undelivered in the store) and retried alone,
// so the caller may acknowledge it and later mail flows.
import { PeopleError, isPeopleError } from "../errors.js";
import {
  MAX_TTL_MS,
  decryptInner,
  verifyMessage,
  type ReplayGuard,
  type UnverifiedMessage,
} from "../protocol/envelope.js";
import type { Account } from "./account.js";
import type { Directory } from "./directory.js";
import type { ClientEvents } from "./events.js";
import { DeliveryQueue, type DeliveryRetryOptions } from "./delivery-queue.js";
import type { ClientStore, InboxEntry, StoredMessage } from "./local-store.js";
import { errorCode, isTransient } from "../transient.js";

export type ReceivedMessage = InboxEntry;
export type MessageHandler = (message: ReceivedMessage) => Promise<void> | void;
/** Takes a message meant for the device-linking flow (link.ts); true when it was one. */
export type LinkInterceptor = (message: UnverifiedMessage, envelopeId: string) => Promise<boolean>;

/**
 * verifyMessage's replay check is deferred to the store: commitMessage checks
 * and remembers (from, id) in the same transaction that stores the message,
 * so the check and the write cannot be split by a crash.
 */
const RETRY_WINDOW_MS = 10 * 60 * 1000;
/** Envelopes kept per sender whose keys changed unexplained; beyond this they are reported and dropped. */
const MAX_HELD = 1000;

const deferToStore: ReplayGuard = { checkAndRemember: () => true };

/** An envelope taken in: stored (or rejected, or held), and `handled` once it may be acknowledged. */
export interface Taken {
  status: "done" | "held";
  handled: Promise<void>;
}
const HANDLED = Promise.resolve();

export class Receiver {
  private readonly handlers = new Set<MessageHandler>();
  private readonly failingSince = new Map<string, number>();
  private readonly queue: DeliveryQueue;
  linkInterceptor: LinkInterceptor | undefined;

  constructor(
    private readonly o: {
      account: Account;
      directory: Directory;
      store: ClientStore;
      events: ClientEvents;
      now: () => number;
      retryWindowMs?: number;
      deliveryRetry?: DeliveryRetryOptions;
      /** The listeners' own writes made durable before an envelope is acknowledged (the bridge's store). */
      beforeAck?: () => Promise<void>;
    },
  ) {
    this.queue = new DeliveryQueue({
      run: (entry) => this.run(entry),
      events: o.events,
      ...(o.deliveryRetry ? { retry: o.deliveryRetry } : {}),
    });
  }

  onMessage(handler: MessageHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Resolves when the envelope may be acknowledged ("held": kept aside for a key change to be accepted). */
  async envelope(envelopeId: string, inner: Buffer): Promise<"done" | "held"> {
    const taken = await this.take(envelopeId, inner);
    await taken.handled;
    return taken.status;
  }

  /**
   * Opens, verifies and stores the envelope (resolves then, so the next one can
   * be taken in) and queues the message for the listeners: `handled` resolves
   * once it was delivered or set aside, when the envelope may be acknowledged.
   */
  async take(envelopeId: string, inner: Buffer): Promise<Taken> {
    let message: StoredMessage;
    let from: string | undefined;
    let until = 0;
    try {
      const identity = this.o.account.identity;
      const unverified = decryptInner(inner, (id) => identity.decryptionKey(id));
      from = unverified.from;
      // Unverified, used only to bound how long a held envelope is kept (verifyMessage checks it properly).
      until = Math.min(unverified._message.exp, this.o.now() + MAX_TTL_MS);
      if (
        unverified.from === this.o.account.address &&
        (await this.linkInterceptor?.(unverified, envelopeId))
      )
        return { status: "done", handled: HANDLED };
      const key = await this.o.directory.senderKey(unverified.from, unverified.device, unverified.ts);
      const now = this.o.now();
      const verified = verifyMessage(unverified, key, {
        self: this.o.account.address,
        now,
        replay: deferToStore,
      });
      message = { ...verified, receivedAt: now, outgoing: false };
    } catch (e) {
      if (isTransient(e) && this.keepTrying(envelopeId)) throw e;
      this.failingSince.delete(envelopeId);
      // Signed by keys the user has not accepted (yet): kept aside, not read, not lost.
      if (isPeopleError(e, "PEOPLE_CHAIN_FORK") && from && (await this.o.store.heldCount(from)) < MAX_HELD) {
        await this.o.store.hold({ envelopeId, from, inner, until });
        this.o.events.emit("held", { envelopeId, from });
        return { status: "held", handled: HANDLED };
      }
      this.reject(envelopeId, e, from);
      return { status: "done", handled: HANDLED };
    }
    this.failingSince.delete(envelopeId);
    const result = await this.o.store.commitMessage(message, false);
    switch (result.status) {
      case "new":
        return {
          status: "done",
          handled: this.durable(this.queue.deliver({ ...message, seq: result.seq, delivered: false })),
        };
      case "undelivered":
        return { status: "done", handled: this.durable(this.queue.deliver(result.entry)) };
      case "delivered":
        return { status: "done", handled: this.durable(HANDLED) };
      case "replayed":
        this.reject(envelopeId, new PeopleError("PEOPLE_REPLAYED", "message id seen before"), message.from);
        return { status: "done", handled: HANDLED };
    }
  }

  /**
   * A sender whose server stays unreachable would hold up all mail behind its
   * envelope; after `retryWindowMs` of failures the envelope is reported and
   * given up instead.
   */
  private keepTrying(envelopeId: string): boolean {
    const now = this.o.now();
    const since = this.failingSince.get(envelopeId) ?? now;
    this.failingSince.set(envelopeId, since);
    if (this.failingSince.size > 1000) this.failingSince.delete(this.failingSince.keys().next().value!);
    return now - since < (this.o.retryWindowMs ?? RETRY_WINDOW_MS);
  }

  /** After the user accepted `from`'s new keys: read what was held for it. */
  async releaseHeld(from: string): Promise<void> {
    for (const held of await this.o.store.held(from)) {
      if ((await this.envelope(held.envelopeId, held.inner)) === "done")
        await this.o.store.unhold(held.envelopeId);
    }
  }

  /**
   * Messages stored but not yet seen by the listeners (the process stopped in
   * between, or they were set aside): queued again; resolves once each was
   * delivered or set aside again.
   */
  async redeliverPending(): Promise<void> {
    this.queue.start();
    await Promise.all((await this.o.store.undelivered()).map((entry) => this.queue.deliver(entry)));
  }

  /** Stops retrying set-aside messages (they stay undelivered) and waits for the one being handled. */
  stop(): Promise<void> {
    return this.queue.stop();
  }

  /**
   * Once delivered or set aside: the inbox (message, replay guard, delivered mark) and the
   * listeners' writes fsynced, then the envelope may be acknowledged. The fsyncs are shared
   * by the envelopes handled meanwhile, and the next message is handled while they run.
   */
  private async durable(handled: Promise<void>): Promise<void> {
    await handled;
    await Promise.all([this.o.store.sync(), this.o.beforeAck?.()]);
  }

  private async run(entry: InboxEntry): Promise<void> {
    for (const handler of this.handlers) await handler(entry);
    await this.o.store.markDelivered(entry.seq);
  }

  private reject(envelopeId: string, e: unknown, from?: string): void {
    this.o.events.emit("rejected", {
      envelopeId,
      code: errorCode(e),
      ...(from ? { from } : {}),
      detail: e instanceof Error ? e.message : String(e),
    });
  }
}
