// What the user is told when an address cannot be talked to, from the answer
// of its lookup: the same words in the `dm` command, in a declined invite of a
// ghost and in a group room. Only definite answers refuse; a server that cannot
// be reached now is no answer (mail waits for it).
import { addressDomain, type PeopleAddress } from "../../people/protocol/address.js";
import type { Lookup } from "../core/ports/people-side.js";

export function noServerText(domain: string): string {
  return `There is no People server for ${domain}: the domain does not exist.`;
}

/** The refusal for a definite "no" (no such account, no such domain); undefined otherwise. */
export function lookupRefusal(address: PeopleAddress, found: Lookup): string | undefined {
  if (found.status === "unknown") return `${address} has no People account.`;
  if (found.status === "no_server") return noServerText(addressDomain(address));
  return undefined;
}
