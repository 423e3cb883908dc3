// The People address the bridge makes for a Matrix user of its homeserver:
// `@alice:hs` is `alice@<people.domain>`, exactly the localpart (one to one).
import { parseAddress, type PeopleAddress } from "../../../people/protocol/address.js";
import { isMatrixUserId, splitMatrixUserId } from "../../model/matrix-ids.js";
import { userError } from "../../core/error-kinds.js";

export function madeAddress(userId: string, homeserverDomain: string, peopleDomain: string): PeopleAddress {
  if (!isMatrixUserId(userId)) throw userError("That is not a Matrix user id.");
  const { localpart, server } = splitMatrixUserId(userId);
  if (server !== homeserverDomain) {
    throw userError(
      `Only users of ${homeserverDomain} get a People address on this bridge.`,
      "a user of another homeserver asked for a People account",
    );
  }
  const wanted = `${localpart}@${peopleDomain}`;
  let address: PeopleAddress | undefined;
  try {
    address = parseAddress(wanted);
  } catch {
    address = undefined;
  }
  // Exactly the localpart: a case-folded one could make two Matrix users share an address.
  if (address !== wanted) {
    throw userError(
      `Your Matrix username "${localpart}" cannot be a People address: it may hold lowercase ` +
        "letters, digits, '.', '_' and '-', starting and ending with a letter or digit.",
      "the user's localpart is not a People local part",
    );
  }
  return address;
}
