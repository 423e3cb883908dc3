// Real People servers for tests: HTTPS on loopback with their development
// certificates, SQLite files in a temp dir or a database in the test
// PostgreSQL, and helpers to register accounts and log devices in.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpsClient } from "../../src/people/net/https-client.js";
import type { DeviceIdentity } from "../../src/people/protocol/device-identity.js";
import { issueDeviceList, type DeviceList } from "../../src/people/protocol/device-list.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import {
  verifyEnvelopeKey,
  currentEnvelopeKey,
  type ServerEnvelopeKey,
} from "../../src/people/protocol/server-keys.js";
import { Ed25519PublicKey } from "../../src/people/protocol/keys.js";
import { challengeBytes } from "../../src/people/server/auth.js";
import { parseServerConfig, type ServerConfigInput } from "../../src/people/server/config.js";
import { startPeopleServer, type PeopleServerHandle } from "../../src/people/server/people-server.js";
import { createLogger, type Logger } from "../../src/people/server/logger.js";
import { loadTls } from "../../src/people/server/tls.js";
import { freePort } from "./ports.js";
import type { EngineName } from "./stores.js";
import { testPostgres } from "./postgres.js";
import { makeAccount, type Account } from "./protocol-fixtures.js";

export interface TestServer {
  handle: PeopleServerHandle;
  domain: string;
  url: string;
  /** An HTTPS client that trusts this server's development certificate. */
  http: HttpsClient;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestServer(
  domain: string,
  o: { engine?: EngineName; config?: Partial<ServerConfigInput>; dataDir?: string; logger?: Logger } = {},
): Promise<TestServer> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), `people-${domain}-`));
  const database =
    (o.engine ?? "sqlite") === "sqlite"
      ? { engine: "sqlite" as const, connection: "people.db" }
      : {
          engine: "postgres" as const,
          connection: await (await testPostgres()).createDatabase(`srv-${domain}`),
        };
  const config = parseServerConfig({
    domain,
    listen: { host: "127.0.0.1", port: 0 },
    data_dir: dataDir,
    database,
    registration: { mode: "open" },
    log: { level: "silent" },
    ...o.config,
  });
  const handle = await startPeopleServer(config, o.logger ? { logger: o.logger } : {});
  const http = new HttpsClient({ ca: [handle.certificate] });
  return {
    handle,
    domain,
    url: handle.url,
    http,
    dataDir,
    async stop() {
      http.close();
      await handle.stop();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Servers that know each other as People servers do: each pins the others'
 * domains to their loopback ports and trusts their development certificates
 * (made before start, so each can be named in the others' `ca_files`).
 * `pins` overrides or adds a pin for every server (e.g. a domain at a closed port).
 */
export async function startLinkedServers(
  domains: string[],
  o: { pins?: Record<string, string>; config?: Partial<ServerConfigInput> } = {},
): Promise<TestServer[]> {
  const silent = createLogger("silent");
  const setup = await Promise.all(
    domains.map(async (domain) => {
      const dataDir = mkdtempSync(join(tmpdir(), `people-${domain}-`));
      const tls = await loadTls({ dataDir, domain }, silent);
      return { domain, dataDir, certPath: tls.devCertPath!, port: await freePort() };
    }),
  );
  const servers: TestServer[] = [];
  try {
    for (const me of setup) {
      const others = setup.filter((x) => x !== me);
      const server = await startTestServer(me.domain, {
        dataDir: me.dataDir,
        config: {
          ...o.config,
          listen: { host: "127.0.0.1", port: me.port },
          discovery: {
            pins: { ...Object.fromEntries(others.map((x) => [x.domain, `127.0.0.1:${x.port}`])), ...o.pins },
            ca_files: others.map((x) => x.certPath),
          },
        },
      });
      const stop = server.stop.bind(server);
      server.stop = async () => {
        await stop();
        rmSync(me.dataDir, { recursive: true, force: true });
      };
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) await s.stop();
    throw err;
  }
  return servers;
}

export function deviceUpload(
  account: Account,
  version = 1,
  revoked: { device: string; at: number }[] = [],
): {
  device_list: DeviceList["wire"];
  chains: Record<string, unknown[]>;
} {
  const list = issueDeviceList({
    address: account.address,
    accountKey: account.accountKey,
    version,
    issuedAt: Date.now(),
    heads: account.devices.map((d) => d.head),
    revoked: revoked as never,
  });
  return {
    device_list: list.wire,
    chains: Object.fromEntries(account.devices.map((d) => [d.device, d.chain.map((c) => c.wire)])),
  };
}

export async function registerAccount(server: TestServer, local: string, devices = 1): Promise<Account> {
  const account = makeAccount(`${local}@${server.domain}`, Date.now(), { devices });
  await server.http.json("POST", `${server.url}/_people/v1/accounts`, {
    address: account.address,
    ...deviceUpload(account),
  });
  return account;
}

export async function login(server: TestServer, device: DeviceIdentity): Promise<string> {
  const { challenge } = await server.http.json<{ challenge: string }>(
    "POST",
    `${server.url}/_people/v1/auth/challenge`,
    {
      address: device.address,
      device: device.device,
    },
  );
  const signature = signBytes(
    device.signingKey,
    "auth-challenge",
    challengeBytes(server.domain, device.address, device.device, challenge),
  ).toString("base64url");
  const { token } = await server.http.json<{ token: string }>("POST", `${server.url}/_people/v1/auth/token`, {
    address: device.address,
    device: device.device,
    challenge,
    signature,
  });
  return token;
}

/** The server's current envelope key, verified against its descriptor's identity key. */
export async function envelopeKeyOf(server: TestServer): Promise<ServerEnvelopeKey> {
  const d = await server.http.json<{ identity_key: string; envelope_keys: unknown[] }>(
    "GET",
    `${server.url}/_people/v1/server`,
  );
  const identity = Ed25519PublicKey.fromB64u(d.identity_key);
  return currentEnvelopeKey(
    d.envelope_keys.map((k) => verifyEnvelopeKey(k, identity, server.domain)),
    Date.now(),
  );
}

export async function postEnvelope(
  server: TestServer,
  outer: Buffer,
): Promise<{ status: number; json: unknown }> {
  const res = await server.http.send("POST", `${server.url}/_people/v1/envelopes`, {
    headers: { "content-type": "application/octet-stream" },
    body: outer,
  });
  return { status: res.status, json: JSON.parse(res.body.toString() || "{}") as unknown };
}
