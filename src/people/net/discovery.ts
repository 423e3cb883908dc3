// Finding the People server of a domain (PROTOCOL §2): a pinned host:port,
// else https://<domain>/.well-known/people, else DNS SRV _people._tcp.<domain>,
// else <domain>:7367. A .onion domain is never looked up in DNS: its
// .well-known (through Tor), else <onion>:443. DNS and .well-known only route: keys are authenticated
// by signatures, never by how the server was found. Every answer is checked to
// be a plain host:port before it becomes a URL, so a hostile answer cannot
// smuggle a path, credentials or another scheme into later requests.
//
// A clearnet server may also name its onion service (`onion` in .well-known and
// in its descriptor). A client or server with a Tor proxy prefers it: the
// route is then end to end inside Tor. A pinned domain is never rerouted (a pin
// is the admin's explicit route, e.g. the bridge's own embedded server), and
// an onion that fails is set aside for the cache's lifetime, so the clearnet
// route still serves.
import { lookup, resolveSrv } from "node:dns/promises";
import { isIP } from "node:net";
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "./https-client.js";
import { ONION_HOST, isOnionHost } from "./tor-route.js";

/** An onion service's People server listens on the onion's port 443 unless its .well-known says otherwise. */
export const ONION_PORT = 443;

export const DEFAULT_PORT = 7367;
const DEFAULT_TTL_MS = 60 * 60 * 1000;
const WELL_KNOWN_MAX = 4096;

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export type SrvLookup = (name: string) => Promise<SrvRecord[]>;
/** Resolves a name to an address (A/AAAA); rejects with a DNS error code (ENOTFOUND…) when it cannot. */
export type HostLookup = (name: string) => Promise<unknown>;

export interface ResolveServerOptions {
  /** Domain → "host:port", consulted first (tests, private deployments). */
  pins?: Record<string, string>;
  http: Pick<HttpsClient, "send">;
  /** DNS SRV lookup; node:dns by default, injectable for tests. */
  srv?: SrvLookup;
  /** DNS address lookup of the domain itself, the last step; node:dns by default, injectable for tests. */
  lookup?: HostLookup;
  /** False when all traffic goes through Tor: no local DNS (SRV) lookups that would leak the names asked for. */
  localDns?: boolean;
  /** With a Tor proxy: use the onion service a clearnet server names instead of its clearnet address. */
  preferOnion?: boolean;
}

/** Where a domain's server was found, and the onion service it names, if any (both base URLs). */
export interface ServerRoute {
  url: string;
  onion?: string;
}

const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function validHost(host: string): boolean {
  if (host.startsWith("[") && host.endsWith("]")) return isIP(host.slice(1, -1)) === 6;
  return isIP(host) === 4 || DNS_NAME.test(host);
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** "host:port" → "https://host:port", or null when it is anything else. */
export function serverUrlOf(hostPort: unknown): string | null {
  if (typeof hostPort !== "string" || hostPort.length > 300) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(hostPort);
  if (!m || !validHost(m[1]!) || !validPort(Number(m[2]))) return null;
  return `https://${m[1]!.toLowerCase()}:${Number(m[2])}`;
}

/** "<v3 onion>:port" → "https://<onion>:port", or null: an onion a server names must be a real v3 onion. */
export function onionUrlOf(hostPort: unknown): string | null {
  const url = serverUrlOf(hostPort);
  return url !== null && ONION_HOST.test(new URL(url).hostname) ? url : null;
}

function required(hostPort: string, what: string): string {
  const url = serverUrlOf(hostPort);
  if (!url) throw new PeopleError("PEOPLE_BAD_REQUEST", `${what} is not a valid host:port`);
  return url;
}

async function fromWellKnown(
  domain: string,
  http: ResolveServerOptions["http"],
): Promise<ServerRoute | null> {
  try {
    const res = await http.send("GET", `https://${domain}/.well-known/people`, {
      headers: { accept: "application/json" },
    });
    if (res.status !== 200 || res.body.length > WELL_KNOWN_MAX) return null;
    const json = JSON.parse(res.body.toString("utf8")) as unknown;
    if (!json || typeof json !== "object" || Array.isArray(json)) return null;
    const { server, onion } = json as { server?: unknown; onion?: unknown };
    const url = serverUrlOf(server);
    if (url === null) return null;
    // A malformed onion is ignored: the server's own address still stands.
    const onionUrl = isOnionHost(domain) ? null : onionUrlOf(onion);
    return onionUrl !== null ? { url, onion: onionUrl } : { url };
  } catch {
    return null;
  }
}

/** RFC 2782 order, simplified: lowest priority, then highest weight. A lone "." target means no service. */
async function fromSrv(domain: string, srv: SrvLookup): Promise<string | null> {
  let records: SrvRecord[];
  try {
    records = await srv(`_people._tcp.${domain}`);
  } catch {
    return null;
  }
  const usable = records
    .filter((r) => r.name !== "" && r.name !== ".")
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight);
  for (const r of usable) {
    const url = serverUrlOf(`${r.name.replace(/\.$/, "")}:${r.port}`);
    if (url) return url;
  }
  return null;
}

/** Where `domain`'s People server is, and the onion service it names (.well-known only). */
export async function discoverServer(domain: string, o: ResolveServerOptions): Promise<ServerRoute> {
  if (!DNS_NAME.test(domain)) throw new PeopleError("PEOPLE_BAD_ADDRESS", "not a domain name");
  const pin = o.pins?.[domain];
  if (pin !== undefined) return { url: required(pin, `pin for ${domain}`) };
  // An onion has no DNS: asking local DNS would leak the name and answer nothing.
  if (isOnionHost(domain)) {
    return (await fromWellKnown(domain, o.http)) ?? { url: required(`${domain}:${ONION_PORT}`, domain) };
  }
  if (o.localDns === false) {
    return (await fromWellKnown(domain, o.http)) ?? { url: required(`${domain}:${DEFAULT_PORT}`, domain) };
  }
  const wellKnown = await fromWellKnown(domain, o.http);
  if (wellKnown) return wellKnown;
  const srv = await fromSrv(domain, o.srv ?? resolveSrv);
  if (srv) return { url: srv };
  await ensureNameExists(domain, o.lookup ?? ((name) => lookup(name)));
  return { url: required(`${domain}:${DEFAULT_PORT}`, domain) };
}

/**
 * Neither .well-known nor SRV answered: when the domain has no address either
 * (NXDOMAIN, or a name without records), it has no People server, and that is
 * an answer, not a failure to retry. A DNS server that fails or times out
 * (EAI_AGAIN, SERVFAIL) says nothing: the caller tries <domain>:7367 and fails
 * as unreachable, which is retried.
 */
async function ensureNameExists(domain: string, lookupHost: HostLookup): Promise<void> {
  try {
    await lookupHost(domain);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === "ENOTFOUND" || code === "ENODATA") throw noServer(domain);
  }
}

/** The error for a domain that does not exist: its text names the domain (safe: the caller chose it). */
export function noServer(domain: string): PeopleError {
  const text = `There is no People server for ${domain}: the domain does not exist.`;
  return new PeopleError("PEOPLE_NO_SERVER", domain, { publicText: text });
}

/** The base URL (https://host:port) of `domain`'s People server: its onion when preferred and named. */
export async function resolveServer(domain: string, o: ResolveServerOptions): Promise<string> {
  const route = await discoverServer(domain, o);
  return o.preferOnion && route.onion !== undefined ? route.onion : route.url;
}

interface CachedRoute extends ServerRoute {
  until: number;
  /** The onion is used (preferred, and it has not failed since it was named). */
  viaOnion: boolean;
}

/** resolveServer with a cache; a failed or stale route is forgotten with forget(). */
export class Discovery {
  private readonly cache = new Map<string, CachedRoute>();

  constructor(private readonly o: ResolveServerOptions & { ttlMs?: number; now?: () => number }) {
    for (const [domain, pin] of Object.entries(o.pins ?? {})) required(pin, `pin for ${domain}`);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  async resolve(domain: string): Promise<string> {
    const now = this.now();
    let hit = this.cache.get(domain);
    if (!hit || hit.until <= now) {
      const route = await discoverServer(domain, this.o);
      hit = {
        ...route,
        until: now + (this.o.ttlMs ?? DEFAULT_TTL_MS),
        viaOnion: this.o.preferOnion === true && route.onion !== undefined,
      };
      this.cache.set(domain, hit);
    }
    return hit.viaOnion ? hit.onion! : hit.url;
  }

  /**
   * The onion service `domain`'s descriptor names (unchecked input): used from now on when
   * onions are preferred, unless the domain is pinned or this onion failed since it was cached.
   */
  learnOnion(domain: string, named: unknown): void {
    const hit = this.cache.get(domain);
    const onion = onionUrlOf(named);
    if (!this.o.preferOnion || !hit || onion === null || this.o.pins?.[domain] !== undefined) return;
    if (isOnionHost(domain) || hit.viaOnion || hit.onion === onion) return;
    hit.onion = onion;
    hit.viaOnion = true;
  }

  /** The route failed: a preferred onion is set aside for the clearnet route; anything else is looked up again. */
  forget(domain: string): void {
    const hit = this.cache.get(domain);
    if (hit?.viaOnion) hit.viaOnion = false;
    else this.cache.delete(domain);
  }
}
