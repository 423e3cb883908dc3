// Registration invites: who may create an account on a server that is not
// open. The admin makes them with `people-server invite create` (the token is
// printed once, only its SHA-256 is stored); `registration.tokens` in the
// config are invites too, in `token` mode. Every comparison of a token is in
// constant time, and no token is ever logged.
import { createHash, randomBytes } from "node:crypto";
import { PeopleError } from "../errors.js";
import { ctEqual } from "../protocol/bytes.js";
import type { InviteRecord, InviteStore } from "../../store/types.js";

export const INVITE_PREFIX = "people-invite-";
/** Longest note kept with an invite (shown by `invite list`). */
export const MAX_NOTE = 200;

export interface RegistrationPolicy {
  mode: "closed" | "token" | "open";
  /** Tokens from the config, accepted in `token` mode. */
  tokens: readonly string[];
}

export function inviteHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Make an invite: the record to store and the token to hand to its user (shown once). */
export function newInvite(
  o: { maxUses: number | null; expiresAt: number | null; note: string | null },
  now: number,
): { token: string; record: InviteRecord } {
  if (o.maxUses !== null && (!Number.isSafeInteger(o.maxUses) || o.maxUses < 1))
    throw new PeopleError("PEOPLE_BAD_REQUEST", "uses must be a whole number of at least 1");
  if (o.expiresAt !== null && o.expiresAt <= now)
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the expiry is in the past");
  if (o.note !== null && o.note.length > MAX_NOTE)
    throw new PeopleError("PEOPLE_BAD_REQUEST", `a note has at most ${MAX_NOTE} characters`);
  const token = INVITE_PREFIX + randomBytes(24).toString("base64url");
  const tokenHash = inviteHash(token);
  return {
    token,
    record: { tokenHash, id: tokenHash.slice(0, 12), createdAt: now, uses: 0, revokedAt: null, ...o },
  };
}

/** What an invite is now, for listing. */
export function inviteState(r: InviteRecord, now: number): "active" | "revoked" | "expired" | "used" {
  if (r.revokedAt !== null) return "revoked";
  if (r.expiresAt !== null && r.expiresAt <= now) return "expired";
  if (r.maxUses !== null && r.uses >= r.maxUses) return "used";
  return "active";
}

/** A registration let in; `giveBack()` returns the invite's use when the registration then failed. */
export interface Admission {
  giveBack(): Promise<void>;
}

const NOTHING_TO_GIVE_BACK: Admission = { giveBack: () => Promise.resolve() };

/**
 * Whether a registration with `invite` may go ahead. `open`: anyone. `token`: a configured
 * token or an admin's invite. `closed`: an admin's invite only (the bridge registers its
 * own users with a token of its own). Returns null when refused.
 */
export async function admit(
  policy: RegistrationPolicy,
  invites: InviteStore,
  invite: string | undefined,
  now: number,
): Promise<Admission | null> {
  if (policy.mode === "open") return NOTHING_TO_GIVE_BACK;
  if (invite === undefined) return null;
  if (policy.mode === "token") {
    const given = Buffer.from(invite);
    let ok = false;
    for (const t of policy.tokens) ok = ctEqual(given, Buffer.from(t)) || ok;
    if (ok) return NOTHING_TO_GIVE_BACK;
  }
  if (!invite.startsWith(INVITE_PREFIX)) return null;
  const hash = inviteHash(invite);
  const stored = await invites.get(hash);
  // Found by its hash; compared again in constant time, so no timing tells how close a guess was.
  if (!stored || !ctEqual(Buffer.from(stored.tokenHash, "hex"), Buffer.from(hash, "hex"))) return null;
  if (!(await invites.use(hash, now))) return null;
  return { giveBack: () => invites.giveBack(hash) };
}
