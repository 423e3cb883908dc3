// Each account's stored profile gets the `updated_at` of its signed body in a
// column of its own, so a profile older than the one stored is refused by one
// conditional update (PROTOCOL §16.5: rollback). Profiles stored before this
// migration get theirs read from the body; one that cannot be read stays NULL,
// and any valid profile then replaces it.
import type { Knex } from "knex";

/** The signed body's `updated_at`, or null when the stored JSON holds none. */
export function storedUpdatedAt(profileJson: string): number | null {
  try {
    const { body } = JSON.parse(profileJson) as { body?: unknown };
    if (typeof body !== "string") return null;
    const parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { updated_at?: unknown };
    const at = parsed.updated_at;
    return typeof at === "number" && Number.isSafeInteger(at) && at >= 0 ? at : null;
  } catch {
    return null;
  }
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("accounts", (t) => {
    t.bigInteger("profile_updated_at").nullable();
  });
  const rows = (await knex("accounts").whereNotNull("profile_json").select("address", "profile_json")) as {
    address: string;
    profile_json: string;
  }[];
  for (const r of rows) {
    const at = storedUpdatedAt(r.profile_json);
    if (at !== null) await knex("accounts").where("address", r.address).update({ profile_updated_at: at });
  }
}

export async function down(): Promise<void> {
  throw new Error("migrations only move forward");
}
