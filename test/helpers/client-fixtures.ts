// People clients against real test servers: options that trust the servers'
// development certificates and pin their domains, fast retries, temp data
// directories, and a recorder of what each device received.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientOptions, PeopleClient } from "../../src/people/client/people-client.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { ClientEventMap } from "../../src/people/client/events.js";
import type { TestServer } from "./people-servers.js";

export const PASSPHRASE = "correct horse battery staple";

const dirs: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `people-client-${prefix}-`));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Pins and trust for a set of servers (a restarted server keeps its port and certificate). */
export function networkOf(servers: TestServer[]): Pick<ClientOptions, "pins" | "ca"> {
  return {
    pins: Object.fromEntries(servers.map((s) => [s.domain, `127.0.0.1:${s.handle.port}`])),
    ca: servers.map((s) => s.handle.certificate),
  };
}

export function clientOptions(network: Pick<ClientOptions, "pins" | "ca">, dataDir: string): ClientOptions {
  return {
    dataDir,
    passphrase: PASSPHRASE,
    ...network,
    backoff: { baseMs: 100, maxMs: 800 },
    reconnect: { baseMs: 100, maxMs: 800 },
    linkPollMs: 100,
    autoRotate: false,
  };
}

/** Records every message and event a device sees. */
export class Recorder {
  readonly messages: ReceivedMessage[] = [];
  readonly events: { [K in keyof ClientEventMap]?: ClientEventMap[K][] } = {};

  client!: PeopleClient;

  constructor(client?: PeopleClient) {
    if (client) this.attach(client);
  }

  /** Record what `client` sees (again after the device's client was closed and opened anew). */
  attach(client: PeopleClient): this {
    this.client = client;
    client.onMessage((m) => {
      this.messages.push(m);
    });
    for (const name of [
      "keyChange",
      "rejected",
      "held",
      "undeliverable",
      "delivered",
      "caughtUp",
      "linked",
    ] as const) {
      client.on(name, (value) => {
        ((this.events[name] ??= []) as unknown[]).push(value);
      });
    }
    return this;
  }

  texts(): string[] {
    return this.messages.map((m) => (m.content.type === "text" ? m.content.body : `[${m.content.type}]`));
  }

  count<K extends keyof ClientEventMap>(name: K): number {
    return this.events[name]?.length ?? 0;
  }
}

/** Polls until `check` holds; generous by default, as CI's machine may be busy (a pass returns at once). */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
