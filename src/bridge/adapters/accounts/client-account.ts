// One Matrix user's People account as the bridge's flows see it (PeopleAccount):
// a PeopleClient plus the trust views (contacts, safety numbers, verification)
// and the failures a user should hear, with the details kept for the log.
import { PeopleError, isPeopleError } from "../../../people/errors.js";
import type { Contact, Resolution } from "../../../people/client/directory.js";
import type { PeopleClient } from "../../../people/client/people-client.js";
import { measureThumbnail } from "../../../people/client/post-attachments.js";
import type { PostThumbnail } from "../../../people/client/post-types.js";
import { errorCode } from "../../../people/transient.js";
import { addressDomain, type PeopleAddress } from "../../../people/protocol/address.js";
import type { MessageId } from "../../../people/protocol/ids.js";
import type { BlobRef, MessageContent } from "../../../people/protocol/messages.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type {
  ContactTrust,
  Lookup,
  OwnDevice,
  PeopleAccount,
  PostGroupChange,
  PeopleCalls,
  PostReader,
  PostWriter,
  SafetyNumbers,
} from "../../core/ports/people-side.js";
import type { BridgeSecret } from "./bridge-secret.js";
import { userError } from "../../core/error-kinds.js";
import { clientCalls } from "./client-calls.js";

/** What a lazily opened account (people-accounts.ts) is told by its uses. */
export interface AccountHooks {
  /** Holds the account open while an operation runs on it; the release (undefined: not held). */
  hold(): (() => void) | undefined;
  /** Group-key listeners kept across closes and reopens of the account. */
  onGroupKey(handler: (group: string) => void): () => void;
}

/** The operations that use the client (held: see `held`). */
const HELD = [
  "send",
  "queue",
  "uploadAttachment",
  "downloadAttachment",
  "lookup",
  "contact",
  "contacts",
  "fingerprint",
  "verify",
  "acceptChange",
  "ownDevices",
] as const;

export class ClientAccount implements PeopleAccount {
  constructor(
    readonly owner: MatrixUserId,
    readonly client: PeopleClient,
    private readonly secret: BridgeSecret,
    /** The bridge-made account's made address: its portals stay its own after a `move`. */
    readonly portalOwner?: PeopleAddress,
    private readonly hooks?: AccountHooks,
  ) {
    if (!hooks) return;
    // Every operation of a lazily opened account holds it open until it settles.
    const self = this as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of HELD) {
      const op = self[name]!.bind(this);
      self[name] = (...args) => this.held(() => op(...args));
    }
    const writer = this.postWriter as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const [name, op] of Object.entries(writer)) writer[name] = (...args) => this.held(() => op(...args));
  }

  /** Runs an operation with the account held open: a lazy account is never closed under it. */
  private async held<R>(work: () => Promise<R>): Promise<R> {
    const release = this.hooks?.hold();
    try {
      return await work();
    } finally {
      release?.();
    }
  }

  private callsView: PeopleCalls | undefined;

  get calls(): PeopleCalls {
    return (this.callsView ??= clientCalls(this.client));
  }

  get address(): PeopleAddress {
    return this.client.address;
  }

  get device(): string {
    return this.client.device;
  }

  readonly posts: PostReader = {
    feed: (author, o) => this.held(() => this.client.posts.feed(author, o)),
    profile: (author) => this.held(() => this.profileOf(author)),
    onGroupKey: (handler) =>
      this.hooks
        ? this.hooks.onGroupKey(handler)
        : this.client.groups.events.on("key", (k) => handler(k.group)),
  };

  private async profileOf(author: PeopleAddress) {
    try {
      const p = await this.client.profile.get(author);
      const avatar = p.avatar && {
        bytes: await this.client.profile.avatar(p),
        mime: p.avatar.mime,
        hash: p.avatar.id,
      };
      return {
        ...(p.displayName !== undefined && { displayName: p.displayName }),
        ...(avatar && { avatar }),
      };
    } catch (err) {
      if (isPeopleError(err, "PEOPLE_NOT_FOUND")) return {};
      throw err;
    }
  }

  readonly postWriter: PostWriter = {
    createGroup: async (name, sourceId) => {
      const id = this.secret.messageId(this.owner, `group\0${sourceId}`);
      const g = await this.client.groups.createGroup(name, [], { id });
      return { id: g.id, epoch: g.epoch };
    },
    addMember: async (group, member) => changeOf(await this.client.groups.addMember(group, member)),
    removeMember: async (group, member) => changeOf(await this.client.groups.removeMember(group, member)),
    rename: async (group, name) => {
      await this.client.groups.rename(group, name);
    },
    setDetails: async (group, details) => {
      const picture = details.avatar;
      const avatar = picture
        ? await this.client.uploadAttachment(picture.bytes, { mime: picture.mime })
        : picture;
      await this.client.groups.setDetails(group, {
        ...(details.topic !== undefined && { topic: details.topic }),
        ...(avatar !== undefined && { avatar }),
      });
    },
    members: (group) => this.client.groups.members(group),
    details: async (group) => {
      const g = await this.client.groups.get(group);
      return { name: g.name, topic: g.topic, avatar: g.avatar };
    },
    post: async (group, draft, sourceId) => {
      const input = {
        ...draft,
        ...(draft.attachments && { attachments: draft.attachments.map(usableThumbnailOnly) }),
        id: this.secret.messageId(this.owner, `post\0${sourceId}`),
      };
      const post =
        group === null ? this.client.posts.postPublic(input) : this.client.posts.post(group, input);
      return (await post).id;
    },
  };

  send(
    to: PeopleAddress | readonly PeopleAddress[],
    content: MessageContent,
    options: { ttlMs?: number; sourceId?: string } = {},
  ): Promise<MessageId> {
    return this.client.send(typeof to === "string" ? [to] : to, content, this.sendOptions(options));
  }

  queue(
    to: PeopleAddress | readonly PeopleAddress[],
    content: MessageContent,
    options: { ttlMs?: number; sourceId?: string } = {},
  ): Promise<{ messageId: MessageId; durable: Promise<void> }> {
    return this.client.queue(typeof to === "string" ? [to] : to, content, this.sendOptions(options));
  }

  private sendOptions(options: { ttlMs?: number; sourceId?: string }) {
    return {
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
      ...(options.sourceId !== undefined
        ? { messageId: this.secret.messageId(this.owner, options.sourceId) }
        : {}),
    };
  }

  uploadAttachment(bytes: Buffer, meta: { mime: string; name?: string }): Promise<BlobRef> {
    return this.client.uploadAttachment(bytes, meta);
  }

  downloadAttachment(ref: BlobRef): Promise<Buffer> {
    return this.client.downloadAttachment(ref);
  }

  async lookup(address: PeopleAddress): Promise<Lookup> {
    try {
      await this.client.contacts.resolve(address);
      return { status: "exists" };
    } catch (err) {
      if (isPeopleError(err, "PEOPLE_UNKNOWN_RECIPIENT") || isPeopleError(err, "PEOPLE_NOT_FOUND")) {
        return { status: "unknown" };
      }
      if (isPeopleError(err, "PEOPLE_NO_SERVER"))
        return { status: "no_server", domain: addressDomain(address) };
      return { status: "unreachable", code: errorCode(err) };
    }
  }

  async contact(address: PeopleAddress): Promise<ContactTrust> {
    const r = await this.resolve(address);
    return trustOf(r.contact, r.status, r.stale);
  }

  async contacts(): Promise<ContactTrust[]> {
    const seen = new Set<string>();
    for (const m of await this.client.inbox()) {
      seen.add(m.from);
      for (const to of m.to) seen.add(to);
    }
    seen.delete(this.address);
    const out: ContactTrust[] = [];
    for (const address of [...seen].sort()) {
      const c = await this.client.contacts.get(address);
      if (c) out.push(trustOf(c, c.state === "unexplained" ? "unexplained" : "unchanged", true));
    }
    return out;
  }

  async fingerprint(address: PeopleAddress): Promise<SafetyNumbers> {
    const r = await this.resolve(address);
    return this.numbers(trustOf(r.contact, r.status, r.stale));
  }

  async verify(address: PeopleAddress): Promise<void> {
    try {
      await this.client.contacts.verify(address);
    } catch (err) {
      if (isPeopleError(err, "PEOPLE_NOT_FOUND")) {
        throw userError(`Compare safety numbers with ${address} first: \`fingerprint ${address}\`.`);
      }
      if (isPeopleError(err, "PEOPLE_CHAIN_FORK")) {
        throw userError(`The keys of ${address} changed: accept the change first.`, err.message);
      }
      throw err;
    }
  }

  async acceptChange(address: PeopleAddress): Promise<SafetyNumbers> {
    let r: Resolution;
    try {
      r = await this.client.acceptKeyChange(address);
    } catch (err) {
      throw userFacing(address, err);
    }
    return this.numbers(trustOf(r.contact, r.status, r.stale));
  }

  async ownDevices(): Promise<OwnDevice[]> {
    return (await this.client.devices()).map((d) => ({
      device: d.device,
      self: d.self,
      seq: d.seq,
      revoked: d.revokedAt !== null,
    }));
  }

  private async resolve(address: PeopleAddress): Promise<Resolution> {
    try {
      return await this.client.contacts.resolve(address);
    } catch (err) {
      throw userFacing(address, err);
    }
  }

  private async numbers(contact: ContactTrust): Promise<SafetyNumbers> {
    const current = await this.client.fingerprint(contact.address);
    if (contact.state !== "unexplained") return { contact, current };
    return { contact, current, pending: await this.client.fingerprint(contact.address, { pending: true }) };
  }
}

function changeOf(u: { epoch: number; undelivered: { address: string; code: string }[] }): PostGroupChange {
  return { epoch: u.epoch, undelivered: u.undelivered };
}

function trustOf(c: Contact, state: ContactTrust["state"], stale: boolean): ContactTrust {
  return {
    address: c.address,
    state: c.state === "unexplained" ? "unexplained" : state,
    verified: c.verified,
    devices: c.devices.map((d) => ({ device: d.device, seq: d.head.seq })),
    stale,
  };
}

/** A failure to reach or read a contact's keys, as the user should hear it (details to the log). */
function userFacing(address: PeopleAddress, err: unknown): unknown {
  if (!(err instanceof PeopleError)) return err;
  const code: string = err.code;
  if (code === "PEOPLE_UNKNOWN_RECIPIENT" || code === "PEOPLE_NOT_FOUND") {
    return userError(`${address} has no People account.`, err.message, { cause: err });
  }
  return userError(
    `The keys of ${address} cannot be checked right now (the People server of ${addressDomain(address)} ` +
      "could not be reached, or answered with something unusable); try again later.",
    `resolving the contact failed: ${code}`,
    { cause: err },
  );
}

/** A Matrix thumbnail is an extra: one People would refuse (no image, too large) is left out, the file posted. */
function usableThumbnailOnly<T extends { thumbnail?: PostThumbnail }>(file: T): T {
  if (!file.thumbnail) return file;
  try {
    measureThumbnail(file.thumbnail);
    return file;
  } catch {
    const { thumbnail: _left, ...rest } = file;
    return rest as T;
  }
}
