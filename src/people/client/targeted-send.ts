// Sealing a message to chosen devices only (realtime signalling and frames):
// the peer device of a session, and optionally this account's other devices,
// instead of every device of every addressed account as Messenger does. The
// copies go through the persistent outbox like all mail, but nothing is added
// to the own inbox: these are transient session messages, not conversation.
import { PeopleError } from "../errors.js";
import { addressDomain, type PeopleAddress } from "../protocol/address.js";
import { sealMessage, type EnvelopeCopy } from "../protocol/envelope.js";
import type { MessageId } from "../protocol/ids.js";
import type { MessageContent } from "../protocol/messages.js";
import type { Account } from "./account.js";
import type { Directory } from "./directory.js";
import type { OutboxInsert } from "./local-store.js";
import type { Outbox } from "./outbox.js";
import type { ServerDirectory } from "./server-directory.js";

export interface TargetedMessage {
  /** The addressed account (the message's `to`). */
  to: PeopleAddress;
  /** Only these devices of `to` (default: all of them). */
  devices?: readonly string[];
  /** Also a copy for this account's other devices. */
  own?: boolean;
  content: MessageContent;
  ttlMs: number;
  /** Reuse a device list fetched this recently (default 0: fetch fresh while the server answers). */
  maxAgeMs?: number;
}

export class TargetedSender {
  constructor(
    private readonly o: {
      account: Account;
      directory: Directory;
      servers: ServerDirectory;
      outbox: Outbox;
      now: () => number;
    },
  ) {}

  async send(m: TargetedMessage): Promise<MessageId> {
    const self = this.o.account.address;
    const me = this.o.account.device;
    const copies: EnvelopeCopy[] = [];
    const target = await this.copyFor(
      m.to,
      (d) => d !== me && (m.devices === undefined || m.devices.includes(d)),
      m.maxAgeMs,
    );
    if (!target) throw new PeopleError("PEOPLE_EXPIRED", `no addressed device of ${m.to} has a valid key`);
    copies.push(target);
    if (m.own && m.to !== self) {
      const own = await this.copyFor(self, (d) => d !== me, m.maxAgeMs);
      if (own) copies.push(own);
    }
    const now = this.o.now();
    const identity = this.o.account.identity;
    const sealed = sealMessage({
      from: self,
      device: identity.device,
      signingKey: identity.signingKey,
      to: [m.to],
      content: m.content,
      copies,
      now,
      ttlMs: m.ttlMs,
    });
    const rows: OutboxInsert[] = sealed.copies.map((c) => ({
      envelopeId: c.envelopeId,
      messageId: sealed.messageId,
      address: c.address,
      outer: c.outer,
      createdAt: now,
      expiresAt: now + m.ttlMs,
    }));
    await this.o.outbox.enqueue(rows);
    this.o.outbox.kick();
    return sealed.messageId;
  }

  private async copyFor(
    address: PeopleAddress,
    keep: (device: string) => boolean,
    maxAgeMs?: number,
  ): Promise<EnvelopeCopy | undefined> {
    const devices = (await this.o.directory.sealingKeys(address, maxAgeMs)).filter((d) => keep(d.device));
    if (devices.length === 0) return undefined;
    const server = await this.o.servers.keys(addressDomain(address));
    return { address, devices: devices.map((d) => d.head.encKey), server: server.envelopeKey };
  }
}
