// Public profiles (PROTOCOL §16.5): a display name and an avatar, signed by
// the account key (label "profile") and kept by the account's server, which
// does not read them. The avatar is a public, unencrypted blob on the own
// server, named by the SHA-256 of its bytes, so the signed body pins it.
//
// Reading checks the signature against the contact's pinned account key, that
// the body names the address asked for, and that it is not older than one
// already seen (a server replaying an earlier signed profile).
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import type { Ed25519PublicKey } from "../protocol/keys.js";
import { parseBody, timestampMs } from "../protocol/signed-json.js";
import { signBytes, verifyBytes } from "../protocol/signing.js";
import type { Account } from "./account.js";
import { parseAnswer } from "./answers.js";
import type { Attachments, TransferOptions } from "./attachments.js";
import type { Directory } from "./directory.js";
import type { Discovery } from "../net/discovery.js";

export const MAX_DISPLAY_NAME = 128;
export const MAX_AVATAR_BYTES = 5 * 1024 * 1024;

const avatarSchema = z.strictObject({
  server: z.string().min(1).max(253),
  id: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  mime: z
    .string()
    .regex(/^image\/[\w.+-]+$/)
    .max(100),
  size: z.number().int().min(0).max(MAX_AVATAR_BYTES),
});

const profileBodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.profile"),
  address: z.string().max(1024),
  display_name: z.string().max(MAX_DISPLAY_NAME).optional(),
  avatar: avatarSchema.optional(),
  updated_at: timestampMs,
});

const wireSchema = z.object({ body: z.string().max(64 * 1024), sig: z.string().max(128) });

export type AvatarRef = z.infer<typeof avatarSchema>;

export interface Profile {
  address: PeopleAddress;
  displayName?: string;
  avatar?: AvatarRef;
  /** When the owner signed it (ms since the epoch). */
  updatedAt: number;
}

export interface ProfileInput {
  /** The new name; "" removes it; absent keeps the current one. */
  display_name?: string;
  /** The new avatar (an image); null removes it; absent keeps the current one. */
  avatar?: { bytes: Buffer; mime: string } | null;
  onProgress?: TransferOptions["onProgress"];
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** One line of at most MAX_DISPLAY_NAME UTF-16 units (the schema's bound). */
export function validDisplayName(name: string): boolean {
  return name.length <= MAX_DISPLAY_NAME && !CONTROL.test(name);
}

export class Profiles {
  /** Newest `updated_at` seen per address this run (also kept in the contact record, when there is one). */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly o: {
      account: Account;
      http: Pick<HttpsClient, "json">;
      directory: Directory;
      discovery: Discovery;
      attachments: Attachments;
      now: () => number;
    },
  ) {}

  private get self(): PeopleAddress {
    return this.o.account.address;
  }

  /** Sign and publish the own profile; fields not given are kept from the published one. */
  async set(input: ProfileInput): Promise<Profile> {
    const name = input.display_name;
    if (name !== undefined && !validDisplayName(name))
      throw new PeopleError(
        "PEOPLE_BAD_REQUEST",
        `a display name is one line of at most ${MAX_DISPLAY_NAME} characters`,
      );
    const current = await this.get(this.self).catch((e: unknown) => {
      if (e instanceof PeopleError && e.code === "PEOPLE_NOT_FOUND") return undefined;
      throw e;
    });
    let avatar = current?.avatar;
    if (input.avatar === null) avatar = undefined;
    else if (input.avatar !== undefined) {
      const { bytes, mime } = input.avatar;
      if (!/^image\/[\w.+-]+$/.test(mime) || mime.length > 100)
        throw new PeopleError("PEOPLE_BAD_REQUEST", "an avatar must be an image");
      if (bytes.length > MAX_AVATAR_BYTES) throw new PeopleError("PEOPLE_TOO_LARGE", "avatar too large");
      const id = await this.o.attachments.uploadPublic(
        bytes,
        input.onProgress ? { onProgress: input.onProgress } : {},
      );
      avatar = { server: addressDomain(this.self), id, mime, size: bytes.length };
    }
    const displayName = name === undefined ? current?.displayName : name === "" ? undefined : name;
    // Strictly newer than the published one, even within one millisecond.
    const updatedAt = Math.max(this.o.now(), (current?.updatedAt ?? 0) + 1);
    const body = {
      v: 1,
      type: "people.profile",
      address: this.self,
      ...(displayName !== undefined ? { display_name: displayName } : {}),
      ...(avatar ? { avatar } : {}),
      updated_at: updatedAt,
    };
    const bytes = Buffer.from(JSON.stringify(body), "utf8");
    const sig = signBytes(this.o.account.accountKey, "profile", bytes);
    const url = `${await this.o.discovery.resolve(addressDomain(this.self))}${path(this.self)}`;
    await this.o.http.json("PUT", url, { body: b64u(bytes), sig: b64u(sig) });
    this.seen.set(this.self, updatedAt);
    await this.o.directory.noteProfile(this.self, updatedAt);
    return toProfile(body as z.infer<typeof profileBodySchema>);
  }

  /** Fetch and verify `address`'s profile. None published: PEOPLE_NOT_FOUND. */
  async get(addressInput: string): Promise<Profile> {
    const address = parseAddress(addressInput);
    const key = await this.accountKey(address);
    const url = `${await this.o.discovery.resolve(addressDomain(address))}${path(address)}`;
    const wire = parseAnswer(wireSchema, await this.o.http.json("GET", url), "profile");
    const bytes = fromB64u(wire.body);
    const sig = fromB64u(wire.sig);
    if (!bytes || !sig || !verifyBytes(key, "profile", bytes, sig))
      throw new PeopleError("PEOPLE_BAD_SIGNATURE", `the profile of ${address} is not signed by its account`);
    const body = parseBody(bytes, profileBodySchema, "profile", "PEOPLE_BAD_SIGNATURE");
    if (body.address !== address)
      throw new PeopleError(
        "PEOPLE_BAD_SIGNATURE",
        `the profile served for ${address} is that of another address`,
      );
    const before = this.seen.get(address) ?? 0;
    if (body.updated_at < before || !(await this.o.directory.noteProfile(address, body.updated_at)))
      throw new PeopleError(
        "PEOPLE_BAD_SIGNATURE",
        `the server of ${address} served an older profile than one already seen (a rollback)`,
      );
    this.seen.set(address, Math.max(before, body.updated_at));
    return toProfile(body);
  }

  /** Download a profile's avatar and check it against the hash the profile signed. */
  avatar(profile: Profile, o: TransferOptions = {}): Promise<Buffer> {
    const a = profile.avatar;
    if (!a) throw new PeopleError("PEOPLE_NOT_FOUND", "this profile has no avatar");
    return this.o.attachments.downloadPublic(a.server, a.id, { ...o, size: a.size });
  }

  private async accountKey(address: PeopleAddress): Promise<Ed25519PublicKey> {
    if (address === this.self) return this.o.account.accountKey.publicKey;
    // The pinned key (a first contact pins it now); an unexplained change is not trusted.
    return (await this.o.directory.resolve(address, 0)).contact.accountKey;
  }
}

function path(address: PeopleAddress): string {
  return `/_people/v1/accounts/${encodeURIComponent(address)}/profile`;
}

function toProfile(body: z.infer<typeof profileBodySchema>): Profile {
  return {
    address: body.address as PeopleAddress,
    ...(body.display_name !== undefined ? { displayName: body.display_name } : {}),
    ...(body.avatar ? { avatar: body.avatar } : {}),
    updatedAt: body.updated_at,
  };
}
