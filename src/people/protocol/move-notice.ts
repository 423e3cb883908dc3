// Move notices (PROTOCOL §20): the account key states that the account at
// `from` now lives at `to`, under the same account key. Contacts verify it
// against the account key they pinned for `from`; the old server verifies it
// against the key it registered and serves it in place of the account.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { isPeopleAddress, type PeopleAddress } from "./address.js";
import { b64u } from "./bytes.js";
import { Ed25519PublicKey, type Ed25519KeyPair } from "./keys.js";
import {
  b64uKey32,
  decodeB64uField,
  encodeBody,
  parseBody,
  signature64,
  timestampMs,
} from "./signed-json.js";
import { requireSignature, signBytes } from "./signing.js";

export const MAX_MOVE_NOTICE_BODY = 4096;

/** The wire object: also the `notice` of a `move_notice` message and of a PEOPLE_MOVED answer. */
export const moveNoticeWireSchema = z.strictObject({
  body: z.string().min(1).max(MAX_MOVE_NOTICE_BODY),
  sig: signature64,
});
export type MoveNoticeWire = z.infer<typeof moveNoticeWireSchema>;

const canonicalAddress = z
  .string()
  .max(254)
  .refine((s) => isPeopleAddress(s), "not a canonical People address");

const bodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.move_notice"),
  from: canonicalAddress,
  to: canonicalAddress,
  account_key: b64uKey32,
  moved_at: timestampMs,
});

export interface MoveNotice {
  from: PeopleAddress;
  to: PeopleAddress;
  accountKey: Ed25519PublicKey;
  movedAt: number;
  wire: MoveNoticeWire;
  /** Body bytes and signature, checked by verifyMoveNotice. */
  bytes: Buffer;
  sig: Buffer;
}

export function issueMoveNotice(o: {
  from: PeopleAddress;
  to: PeopleAddress;
  accountKey: Ed25519KeyPair;
  movedAt: number;
}): MoveNotice {
  if (o.from === o.to) throw new PeopleError("PEOPLE_BAD_REQUEST", "a move needs a new address");
  const bytes = encodeBody({
    v: 1,
    type: "people.move_notice",
    from: o.from,
    to: o.to,
    account_key: o.accountKey.publicKey.toB64u(),
    moved_at: o.movedAt,
  });
  const sig = signBytes(o.accountKey, "move-notice", bytes);
  return parseMoveNotice({ body: b64u(bytes), sig: b64u(sig) });
}

/**
 * Shape only (no signature check): any failure is PEOPLE_BAD_REQUEST. Accepts
 * `unknown` so every edge (a message, a server answer, a request) parses the
 * same way.
 */
export function parseMoveNotice(input: unknown): MoveNotice {
  const wire = moveNoticeWireSchema.safeParse(input);
  if (!wire.success) throw new PeopleError("PEOPLE_BAD_REQUEST", "move notice is malformed");
  const bytes = decodeB64uField(wire.data.body, "move notice body", "PEOPLE_BAD_REQUEST");
  const sig = decodeB64uField(wire.data.sig, "move notice signature", "PEOPLE_BAD_REQUEST");
  if (bytes.byteLength > MAX_MOVE_NOTICE_BODY)
    throw new PeopleError("PEOPLE_BAD_REQUEST", "move notice is too large");
  const body = parseBody(bytes, bodySchema, "move notice", "PEOPLE_BAD_REQUEST");
  if (body.from === body.to)
    throw new PeopleError("PEOPLE_BAD_REQUEST", "move notice names one address twice");
  return {
    from: body.from as PeopleAddress,
    to: body.to as PeopleAddress,
    accountKey: Ed25519PublicKey.fromB64u(body.account_key),
    movedAt: body.moved_at,
    wire: wire.data,
    bytes,
    sig,
  };
}

/**
 * The notice is the account's only if it names `pinned` and verifies under it:
 * a notice made with any other key, even a valid one, is PEOPLE_BAD_SIGNATURE.
 */
export function verifyMoveNotice(notice: MoveNotice, pinned: Ed25519PublicKey): void {
  if (!notice.accountKey.equals(pinned))
    throw new PeopleError("PEOPLE_BAD_SIGNATURE", "move notice is not signed by the pinned account key");
  requireSignature(pinned, "move-notice", notice.bytes, notice.sig, "move notice");
}
