// What the provisioning API accepts, parsed once at the edge into typed
// values: the acting user (user_id), a People address in the path, and the
// create_group body. Anything else is refused with the errcode to answer.
import { z } from "zod";
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import { isMatrixUserId, type MatrixUserId } from "../../model/matrix-ids.js";
import { provisioningError } from "./errors.js";

/** The largest body read (create_group with max_ghosts addresses fits many times over). */
export const MAX_BODY_BYTES = 64 * 1024;
/** The most addresses one create_group may name (bridge.groups.max_ghosts applies after). */
export const MAX_GROUP_ADDRESSES = 1024;
export const MAX_GROUP_NAME = 255;

export function parseUserId(raw: unknown): MatrixUserId {
  if (typeof raw !== "string" || raw === "") {
    throw provisioningError("M_INVALID_PARAM", "the user_id query parameter is required");
  }
  if (!isMatrixUserId(raw)) throw provisioningError("M_INVALID_PARAM", "user_id is not a Matrix user ID");
  return raw;
}

export function parseAddressParam(raw: string): PeopleAddress {
  try {
    return parseAddress(raw);
  } catch {
    throw provisioningError("M_INVALID_PARAM", "that is not a People address (like joe@example.com)");
  }
}

const address = z.string().max(512);

/**
 * create_group: `participants` (mautrix's name) or `addresses`, and an optional `name`
 * (a string, or mautrix's {"name": …} object).
 */
const groupBody = z
  .object({
    participants: z.array(address).min(1).max(MAX_GROUP_ADDRESSES).optional(),
    addresses: z.array(address).min(1).max(MAX_GROUP_ADDRESSES).optional(),
    name: z
      .union([
        z.string().trim().min(1).max(MAX_GROUP_NAME),
        z.object({ name: z.string().trim().min(1).max(MAX_GROUP_NAME) }).transform((n) => n.name),
      ])
      .optional(),
  })
  .refine((b) => (b.participants === undefined) !== (b.addresses === undefined), {
    message: "give the addresses as `participants` (or `addresses`), once",
  });

export interface GroupRequest {
  addresses: PeopleAddress[];
  name?: string;
}

/** The create_group body (already JSON): distinct canonical addresses and the name. */
export function parseGroupRequest(json: unknown): GroupRequest {
  const result = groupBody.safeParse(json);
  if (!result.success) {
    throw provisioningError("M_BAD_JSON", z.prettifyError(result.error).slice(0, 300));
  }
  const raw = result.data.participants ?? result.data.addresses ?? [];
  const addresses: PeopleAddress[] = [];
  for (const a of raw) {
    let parsed: PeopleAddress;
    try {
      parsed = parseAddress(a);
    } catch {
      throw provisioningError("M_BAD_JSON", `not a People address: ${JSON.stringify(a.slice(0, 100))}`);
    }
    if (!addresses.includes(parsed)) addresses.push(parsed);
  }
  return { addresses, ...(result.data.name !== undefined ? { name: result.data.name } : {}) };
}

/** A JSON body's text parsed, or M_NOT_JSON. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw provisioningError("M_NOT_JSON", "the body is not JSON");
  }
}
