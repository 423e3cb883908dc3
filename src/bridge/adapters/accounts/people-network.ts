// How the bridge's People clients reach People servers: people.discovery's
// pins and extra CA files, plus the embedded server itself, which the clients
// reach on loopback when it runs on its development certificate.
import { readFileSync } from "node:fs";
import { ConfigError, type ServerConfig } from "../../../people/server/config.js";

export interface PeopleNetwork {
  /** Domain → host:port, skipping discovery. */
  pins: Record<string, string>;
  /** Extra trusted CA certificates (PEM). */
  ca: string[];
  /** people.tor: .onion servers (and, with `all`, every server but the embedded one) through this SOCKS5 proxy. */
  tor?: { socks: string; all: boolean; direct?: string[] };
}

/** Loopback hosts as a URL's hostname spells them (IPv6 in brackets). */
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** The host of a "host:port" pin. */
function hostOf(hostPort: string): string {
  return hostPort.slice(0, hostPort.lastIndexOf(":")).toLowerCase();
}

function loopback(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

export function peopleNetwork(
  config: ServerConfig,
  server: { port: number; certificate: string },
): PeopleNetwork {
  const pins = { ...config.discovery.pins };
  const ca = config.discovery.ca_files.map((file, i) => {
    try {
      return readFileSync(file, "utf8");
    } catch (cause) {
      throw new ConfigError(
        `people.discovery.ca_files.${i}`,
        `cannot read ${file}: ${(cause as Error).message}`,
      );
    }
  });
  const devCertificate = config.tls.cert === undefined;
  if (pins[config.domain] === undefined) {
    // A development certificate names localhost and 127.0.0.1: reach the server there.
    // A real certificate names the public address: go there (or through discovery).
    if (devCertificate) pins[config.domain] = `${loopback(config.listen.host)}:${server.port}`;
    else if (config.public_address) pins[config.domain] = config.public_address;
  }
  if (devCertificate) ca.push(server.certificate);
  if (!config.tor.socks) return { pins, ca };
  // With tor.all, the accounts still reach their own server on loopback directly: that
  // traffic never leaves the machine, and no Tor exit would carry it.
  const own = pins[config.domain] === undefined ? undefined : hostOf(pins[config.domain]!);
  const direct = own !== undefined && LOOPBACK.has(own) ? { direct: [own] } : {};
  return { pins, ca, tor: { socks: config.tor.socks, all: config.tor.all, ...direct } };
}
