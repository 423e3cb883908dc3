// What the client reports to its user (or the bridge): key changes, mail that
// could not be read or delivered, connection state. A throwing listener never
// breaks the component that emitted.
import type { ErrorCode } from "../errors.js";

export interface KeyChangeEvent {
  /** "account": a contact's device list is not a valid continuation; "server": a domain's identity key changed. */
  kind: "account" | "server";
  /** The address (account) or domain (server). */
  subject: string;
  code: ErrorCode;
  detail: string;
  at: number;
}

/** A contact's device list changed as a valid continuation of the pin (signed by its account). */
export interface ContactUpdateEvent {
  address: string;
  /** The device list's version before and after. */
  from: number;
  to: number;
  /** Devices newly listed. */
  added: string[];
  /** Devices whose key chain advanced (a key rotation). */
  rotated: string[];
  /** Devices no longer listed (revoked). */
  removed: string[];
  at: number;
}

export interface RejectedEvent {
  envelopeId: string;
  code: ErrorCode;
  /** The claimed sender, when decryption got that far (unverified). */
  from?: string;
  detail: string;
}

export interface DeliveryEvent {
  envelopeId: string;
  messageId: string;
  address: string;
  /** For "undeliverable": why the copy was dropped. */
  code?: ErrorCode;
}

/** A copy that could not be delivered now and waits in the outbox. */
export interface DeferredEvent extends DeliveryEvent {
  code: ErrorCode;
  /** Delivery attempts so far. */
  attempts: number;
  /** When its own backoff tries it again (sooner when the server is found back). */
  retryAt: number;
}

/** A contact moved to another address, proven by its pinned account key (PROTOCOL §20). */
export interface ContactMovedEvent {
  from: string;
  to: string;
  at: number;
}

/** A move notice that was refused: not signed by the pinned account key, or the new address is not bound to it. */
export interface MoveRefusedEvent {
  /** The address the notice claims to move (unverified). */
  from: string;
  to: string;
  code: ErrorCode;
  detail: string;
  at: number;
}

export interface ClientEventMap {
  keyChange: KeyChangeEvent;
  /** A contact's keys changed in a way their account signed: new, rotated or revoked devices. */
  contactUpdate: ContactUpdateEvent;
  /** An envelope that failed the receiving rules: acknowledged (so it cannot wedge the mailbox) and reported. */
  rejected: RejectedEvent;
  /** An envelope from a contact whose keys changed unexplained: kept unread until acceptKeyChange(). */
  held: { envelopeId: string; from: string };
  delivered: DeliveryEvent;
  undeliverable: DeliveryEvent;
  deferred: DeferredEvent;
  caughtUp: { seq: number };
  connection: { state: "open" | "closed"; code?: number };
  linked: { device: string };
  contactMoved: ContactMovedEvent;
  moveRefused: MoveRefusedEvent;
  error: { where: string; error: unknown };
}

type Listener<T> = (value: T) => void;

export class ClientEvents {
  private readonly listeners = new Map<keyof ClientEventMap, Set<Listener<never>>>();

  on<K extends keyof ClientEventMap>(event: K, listener: Listener<ClientEventMap[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof ClientEventMap>(event: K, value: ClientEventMap[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<ClientEventMap[K]>)(value);
      } catch {
        // A listener's failure is its own; the client keeps going.
      }
    }
  }
}
