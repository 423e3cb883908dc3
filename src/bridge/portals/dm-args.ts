// `dm <address> [--as <own address>]`: parsed once, into addresses.
import { parseAddress, type PeopleAddress } from "../../people/protocol/address.js";
import { userError } from "../core/error-kinds.js";

export const DM_USAGE =
  "Usage: `dm <address> [--as <your address>]`, for example `dm joe@example.com --as me@other.example`.";

export interface DmArgs {
  address: PeopleAddress;
  /** The user's own address to write as (absent: their default one). */
  as?: PeopleAddress;
}

function address(raw: string, usage: string): PeopleAddress {
  try {
    return parseAddress(raw);
  } catch {
    throw userError(`That is not a People address. ${usage}`);
  }
}

/** `dm`'s arguments: one People address, optionally `--as` one of the user's own. */
export function parseDmArgs(args: readonly string[]): DmArgs {
  if (args.length === 1) return { address: address(args[0]!, DM_USAGE) };
  if (args.length === 3 && args[1] === "--as") {
    return { address: address(args[0]!, DM_USAGE), as: address(args[2]!, DM_USAGE) };
  }
  throw userError(DM_USAGE);
}
