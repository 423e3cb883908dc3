// Sending: one message, sealed once (PROTOCOL §9), with one copy per
// recipient account and one for the sender's own other devices, each sealed
// to its account's server. Keys are fetched fresh when the servers answer and
// taken from what was saved when they do not, so mail can be written offline.
// Every copy is in the outbox before the first delivery attempt; send()
// resolves once the outbox is also fsynced (the attempt does not wait for that).
// queue() resolves at the commit and hands back the fsync to wait for, so a
// caller with many messages can go on while one fsync covers several of them.
import { PeopleError } from "../errors.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { MAX_TTL_MS, sealMessage, type EnvelopeCopy } from "../protocol/envelope.js";
import type { MessageId } from "../protocol/ids.js";
import type { MessageContent } from "../protocol/messages.js";
import type { Account } from "./account.js";
import type { Directory } from "./directory.js";
import type { ClientStore, OutboxInsert } from "./local-store.js";
import type { Outbox } from "./outbox.js";
import type { ServerDirectory } from "./server-directory.js";

export const DEFAULT_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface SendOptions {
  /** How long the message may wait for delivery (default 7 days, at most 30). */
  ttlMs?: number;
  /**
   * A caller-chosen message id. Sending the same message again under the same
   * id after a crash is harmless: receivers keep one copy per (sender, id).
   */
  messageId?: MessageId;
}

export class Messenger {
  constructor(
    private readonly o: {
      account: Account;
      directory: Directory;
      servers: ServerDirectory;
      store: ClientStore;
      outbox: Outbox;
      now: () => number;
      /** Where mail for an address goes now (a contact who moved, move-follow.ts). */
      redirect?: (address: PeopleAddress) => Promise<PeopleAddress>;
    },
  ) {}

  /** Seal `content` to everyone in `to` and queue it; resolves with the message id once it is queued durably. */
  async send(to: readonly string[], content: MessageContent, options: SendOptions = {}): Promise<MessageId> {
    const queued = await this.queue(to, content, options);
    await queued.durable;
    return queued.messageId;
  }

  /**
   * As send(), but resolves once the copies are committed (the OS has them), with `durable`: the
   * fsync after which they survive a power loss. Nothing relying on the message may be
   * acknowledged before `durable` resolves.
   */
  async queue(
    to: readonly string[],
    content: MessageContent,
    options: SendOptions = {},
  ): Promise<{ messageId: MessageId; durable: Promise<void> }> {
    const self = this.o.account.address;
    const redirect = this.o.redirect ?? ((a: PeopleAddress) => Promise.resolve(a));
    const recipients = [...new Set(await Promise.all(to.map((a) => redirect(parseAddress(a)))))];
    if (recipients.length === 0) throw new PeopleError("PEOPLE_BAD_REQUEST", "no recipient");
    const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    if (ttlMs <= 0 || ttlMs > MAX_TTL_MS) throw new PeopleError("PEOPLE_BAD_REQUEST", "ttl out of range");
    // A rotation not yet published would leave recipients without the key this message is signed with.
    await this.o.account.ensurePublished().catch(() => undefined);
    // Resolve everything before sealing: one recipient whose keys cannot be trusted stops the whole message.
    // The key directories are asked at once (each a round trip to a server), not one after another.
    const others = recipients.filter((a) => a !== self);
    const [theirs, own] = await Promise.all([
      Promise.all(others.map((address) => this.copyFor(address))),
      this.copyFor(self, this.o.account.device),
    ]);
    const copies: EnvelopeCopy[] = [];
    theirs.forEach((copy, i) => {
      if (!copy) throw new PeopleError("PEOPLE_EXPIRED", `no device of ${others[i]} has a valid key`);
      copies.push(copy);
    });
    if (own) copies.push(own);
    const now = this.o.now();
    const identity = this.o.account.identity;
    const sealed = sealMessage({
      from: self,
      device: identity.device,
      signingKey: identity.signingKey,
      to: recipients,
      content,
      copies,
      now,
      ttlMs,
      ...(options.messageId ? { messageId: options.messageId } : {}),
    });
    const rows: OutboxInsert[] = sealed.copies.map((c) => ({
      envelopeId: c.envelopeId,
      messageId: sealed.messageId,
      address: c.address,
      outer: c.outer,
      createdAt: now,
      expiresAt: now + ttlMs,
    }));
    await this.o.store.enqueue(rows);
    // The sender's own history: every device's inbox holds the whole conversation once.
    await this.o.store.commitMessage(
      {
        id: sealed.messageId,
        from: self,
        device: identity.device,
        ts: now,
        exp: now + ttlMs,
        to: recipients,
        content,
        receivedAt: now,
        outgoing: true,
      },
      true,
    );
    this.o.outbox.kick();
    const durable = this.o.store.sync();
    // Awaited by the caller; a failure must not also surface as an unhandled rejection.
    durable.catch(() => undefined);
    return { messageId: sealed.messageId, durable };
  }

  /** A copy for `address`: its usable devices (minus `except`) and its server's current envelope key. */
  private async copyFor(address: PeopleAddress, except?: string): Promise<EnvelopeCopy | undefined> {
    const devices = (await this.o.directory.sealingKeys(address)).filter((d) => d.device !== except);
    if (devices.length === 0) return undefined;
    const server = await this.o.servers.keys(addressDomain(address));
    return { address, devices: devices.map((d) => d.head.encKey), server: server.envelopeKey };
  }
}
