// Who gets into a group room the People side asks for. Anyone can write any
// address into a message's `to`, and each one would be a ghost registered on
// the homeserver; so before a room is made (or grown by a People reply) every
// address that would become a ghost (not the sender's: its message is signed
// by its verified device; not a bridged Matrix user's) is looked up with the
// receiving account, a few at a time. Only an address with a People account is
// let in: one without (PEOPLE_UNKNOWN_RECIPIENT), and one whose server cannot be
// reached now (a domain that does not exist, or has no People server, answers
// the same as a server that is down; or no answer within LOOKUP_DEADLINE_MS),
// are left out, and the room is told. The lookups run outside the group lock
// (group-service.ts), so they hold up this message only.
// A later People message of the conversation brings them in once they resolve.
import { addressDomain, type PeopleAddress } from "../../people/protocol/address.js";
import type { LeftOutReason } from "../model/creation-limits.js";
import type { Lookup, PeopleAccount } from "../core/ports/people-side.js";

/** Lookups in flight at once for one message. */
export const LOOKUP_CONCURRENCY = 8;
/** An address not answered for within this long (from the first lookup of a message) is left out as unreachable. */
export const LOOKUP_DEADLINE_MS = 10_000;

/**
 * The addresses that may not become ghosts now, and why. One address of each domain is looked up
 * first: when its server cannot be reached, neither can the others' (twenty addresses on a domain
 * that does not exist cost one discovery, not twenty); the rest are looked up after.
 */
export async function unresolvable(
  account: PeopleAccount,
  addresses: readonly PeopleAddress[],
  deadlineMs = LOOKUP_DEADLINE_MS,
): Promise<Map<PeopleAddress, LeftOutReason>> {
  const out = new Map<PeopleAddress, LeftOutReason>();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Lookup>((resolve) => {
    timer = setTimeout(() => resolve({ status: "unreachable", code: "timeout" }), deadlineMs);
  });
  const lookAll = async (list: readonly PeopleAddress[]): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < list.length) {
        const address = list[next++]!;
        const found = await Promise.race([account.lookup(address), late]);
        if (found.status !== "exists") out.set(address, found.status);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, list.length) }, worker));
  };
  const byDomain = new Map<string, PeopleAddress[]>();
  for (const a of addresses) byDomain.set(addressDomain(a), [...(byDomain.get(addressDomain(a)) ?? []), a]);
  try {
    const probes = [...byDomain.values()].map((list) => list[0]!);
    await lookAll(probes);
    const rest: PeopleAddress[] = [];
    for (const [probe, ...others] of byDomain.values()) {
      const why = out.get(probe!);
      if (why === "unreachable" || why === "no_server") for (const a of others) out.set(a, why);
      else rest.push(...others);
    }
    await lookAll(rest);
  } finally {
    clearTimeout(timer);
  }
  // In the set's order, whatever order the answers came in.
  return new Map(addresses.filter((a) => out.has(a)).map((a) => [a, out.get(a)!]));
}

/** The answers of the lookups made for one message: the addresses asked, and those left out, why. */
export interface Lookups {
  asked: Set<PeopleAddress>;
  leftOut: Map<PeopleAddress, LeftOutReason>;
}

export function newLookups(): Lookups {
  return { asked: new Set(), leftOut: new Map() };
}

/** Those of `addresses` left out, and why; undefined while some of them were not looked up yet. */
export function answersFor(
  looked: Lookups,
  addresses: readonly PeopleAddress[],
): Map<PeopleAddress, LeftOutReason> | undefined {
  if (addresses.some((a) => !looked.asked.has(a))) return undefined;
  return new Map(addresses.flatMap((a) => (looked.leftOut.has(a) ? [[a, looked.leftOut.get(a)!]] : [])));
}

/** Looks `addresses` up and adds the answers to `looked`. */
export async function lookUp(
  account: PeopleAccount,
  looked: Lookups,
  addresses: readonly PeopleAddress[],
): Promise<void> {
  const leftOut = await unresolvable(account, addresses);
  for (const a of addresses) looked.asked.add(a);
  for (const [a, why] of leftOut) looked.leftOut.set(a, why);
}
