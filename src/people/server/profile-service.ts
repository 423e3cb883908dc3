// Public profiles (PROTOCOL §16.5): signed by the account key, served to
// anyone. The server reads two fields of the signed body: `address`, which must
// be the account's, and `updated_at`, which must be newer than the stored
// profile's, so a profile the account signed earlier, put again by anyone, is
// refused instead of replacing the newer one (a rollback). The very same
// profile put twice is a repeat and changes nothing.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { PeopleAddress } from "../protocol/address.js";
import { fromB64u } from "../protocol/bytes.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import { requireSignature } from "../protocol/signing.js";
import type { PeopleStore } from "../../store/types.js";

/** What the server reads of a profile's body; the rest is the clients' to check. */
const bodySchema = z.object({
  address: z.string().max(1024),
  updated_at: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

export interface SignedProfile {
  body: string;
  sig: string;
}

export async function putProfile(
  store: PeopleStore,
  address: PeopleAddress,
  profile: SignedProfile,
): Promise<"updated" | "same"> {
  const account = await store.accounts.get(address);
  if (!account) throw new PeopleError("PEOPLE_UNKNOWN_RECIPIENT", "no such account");
  const bytes = fromB64u(profile.body);
  const sig = fromB64u(profile.sig);
  if (!bytes || !sig) throw new PeopleError("PEOPLE_BAD_JSON", "profile is not base64url");
  requireSignature(Ed25519PublicKey.fromB64u(account.accountKey), "profile", bytes, sig, "profile");
  const body = parseBody(bytes);
  if (body.address !== address) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the profile names another address", {
      publicText: "The profile is not this account's.",
    });
  }
  const outcome = await store.accounts.setProfile(
    address,
    JSON.stringify({ body: profile.body, sig: profile.sig }),
    body.updated_at,
  );
  if (outcome === "stale") {
    throw new PeopleError("PEOPLE_REPLAYED", "a profile as new or newer is stored", {
      publicText: "A newer profile of this account is already stored.",
    });
  }
  return outcome;
}

function parseBody(bytes: Buffer): z.infer<typeof bodySchema> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new PeopleError("PEOPLE_BAD_JSON", "the profile body is not JSON");
  }
  const parsed = bodySchema.safeParse(json);
  if (!parsed.success) {
    throw new PeopleError("PEOPLE_BAD_JSON", "the profile body has no valid address and updated_at");
  }
  return parsed.data;
}
