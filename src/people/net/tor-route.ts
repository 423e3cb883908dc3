// Which connections go through Tor, and how. `.onion` hosts always go through
// the SOCKS5 proxy (and fail clearly when none is configured); with `all` on,
// every People connection does, so the far server sees a Tor exit, never the
// sender's address. Names are resolved by the proxy (socks5h), never by local
// DNS. Each target host gets its own SOCKS username, which tor's
// IsolateSOCKSAuth turns into its own circuit; renew(host) takes a fresh one
// after a failure (a circuit built while the network was thin can hang).
//
// TLS to an onion is not checked against a certificate authority: the onion
// address is the service's public key, so reaching it authenticates it; the
// server identity key signs everything above TLS as for any server.
import { randomBytes } from "node:crypto";
import { SocksProxyAgent } from "socks-proxy-agent";
import { PeopleError } from "../errors.js";

export interface TorOptions {
  /** The SOCKS5 proxy, "host:port" (tor's SocksPort, with IsolateSOCKSAuth). */
  socks: string;
  /** Send all People traffic through the proxy, not only to .onion hosts. */
  all?: boolean;
  /** How long one request through Tor may take (default 120 s). */
  timeoutMs?: number;
  /**
   * Hosts reached directly even with `all`: the bridge's own embedded server on loopback, whose
   * traffic never leaves the machine (a Tor exit would refuse, or reach its own loopback).
   */
  direct?: readonly string[];
}

/** A v3 onion host name: 56 base32 characters, then ".onion". */
export const ONION_HOST = /^[a-z2-7]{56}\.onion$/;

export const TOR_TIMEOUT_MS = 120_000;

export function isOnionHost(host: string): boolean {
  return host.toLowerCase().endsWith(".onion");
}

/** "host:port" of a SOCKS proxy, checked; throws a clear error otherwise. */
export function parseSocks(hostPort: string): { host: string; port: number } {
  const m = /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(hostPort);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the Tor SOCKS proxy must be given as host:port");
  }
  return { host: m[1]!, port };
}

export function unreachableText(host: string): string {
  return isOnionHost(host)
    ? `the onion service ${host} is not reachable`
    : `cannot reach ${host} through the Tor proxy`;
}

export class TorRoute {
  private readonly agents = new Map<string, SocksProxyAgent>();
  private readonly tag = randomBytes(8).toString("hex");
  private generation = 0;
  readonly timeoutMs: number;

  constructor(
    private readonly o: TorOptions | undefined,
    private readonly socketOptions: { localAddress?: string } = {},
  ) {
    if (o) parseSocks(o.socks);
    this.timeoutMs = o?.timeoutMs ?? TOR_TIMEOUT_MS;
  }

  /** Whether a connection to `host` goes through the proxy. */
  proxied(host: string): boolean {
    if (this.o === undefined) return false;
    if (isOnionHost(host)) return true;
    return this.o.all === true && !(this.o.direct ?? []).includes(host.toLowerCase());
  }

  /** The agent for `host` through the proxy, or undefined for a direct connection. */
  agentFor(host: string): SocksProxyAgent | undefined {
    const key = host.toLowerCase();
    if (!this.proxied(key)) {
      if (isOnionHost(key)) {
        const text = `${unreachableText(key)}: no Tor SOCKS proxy is configured`;
        throw new PeopleError("PEOPLE_UNAVAILABLE", text, { publicText: text });
      }
      return undefined;
    }
    let agent = this.agents.get(key);
    if (!agent) {
      const url = new URL(`socks5h://${this.o!.socks}`);
      url.username = `${this.tag}-${this.generation++}`;
      url.password = key;
      agent = new SocksProxyAgent(url, {
        keepAlive: true,
        timeout: this.timeoutMs,
        ...(this.socketOptions.localAddress
          ? { socketOptions: { localAddress: this.socketOptions.localAddress } }
          : {}),
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** TLS options for `host`: an onion's certificate is not checked against a CA (see above). */
  tlsFor(host: string): { rejectUnauthorized?: boolean } {
    return isOnionHost(host) ? { rejectUnauthorized: false } : {};
  }

  /** Forget `host`'s circuit so the next connection builds a fresh one. */
  renew(host: string): void {
    const key = host.toLowerCase();
    this.agents.get(key)?.destroy();
    this.agents.delete(key);
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
