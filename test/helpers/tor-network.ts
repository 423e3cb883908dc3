// A private Tor network on loopback for the Tor tests, from Debian's `tor`
// package (.ci/run installs it; see ../shared/notes/tor.md for the recipe):
// 3 directory authorities, 3 relays and one client with a SOCKS port and a
// control port (onion services are added through it with ADD_ONION, by a test
// or by the server under test). It lives in a temp dir, starts lazily once per
// run on the first test that asks for it (~40 s), and is stopped by the PIDs
// it started from the root hook (test/helpers/root-hooks.ts).
//
// Every wait is for a condition: consensus files listing every node, the
// client's bootstrap reaching 100 %, an onion descriptor uploaded.
//
// PEOPLE_TEST_KEEP_TOR: if set, the temp dir is kept after stop() for inspection.

import { freePort } from "./ports.js";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SocksClient } from "socks";
import { TorControl } from "../../src/people/net/tor-control.js";

const execFileAsync = promisify(execFile);

export interface TorNetwork {
  /** The client's SOCKS5 proxy, "127.0.0.1:port". */
  socks: string;
  /** The client's control port (no authentication: loopback test network only). */
  controlPort: number;
  /** All relay and authority addresses are 127.0.0.1. */
  dir: string;
  /** Publishes 127.0.0.1:localPort as <onion>.onion:virtualPort and waits until its descriptor is uploaded. */
  addOnion(localPort: number, virtualPort?: number): Promise<string>;
  /** Waits until an onion added by someone else (e.g. the server under test) is uploaded and answers on port 443. */
  waitForDescriptor(onion: string): Promise<void>;
}

interface Running extends TorNetwork {
  stop(): Promise<void>;
}

let network: Promise<Running> | undefined;

/** The run's private Tor network, started on first use. Give the calling hook a timeout of ~3 minutes. */
export function torNetwork(): Promise<TorNetwork> {
  network ??= startNetwork();
  return network;
}

export async function stopTorNetwork(): Promise<void> {
  const started = network;
  network = undefined;
  if (!started) return;
  try {
    await (await started).stop();
  } catch {
    // it never started: nothing to stop
  }
}

function torBinary(): string {
  for (const p of ["/usr/bin/tor", "/usr/sbin/tor"]) if (existsSync(p)) return p;
  throw new Error("tor is not installed: apt-get install -y tor (.ci/run does)");
}

interface Node {
  name: string;
  dir: string;
  orPort: number;
  dirPort?: number;
  process?: ChildProcess;
}

const POLL_MS = 250;

/** Set when a tor of the network exits before stop(): every wait fails at once with its last words. */
let died: string | undefined;

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ");
  } catch {
    return "(no output)";
  }
}

async function until<T>(
  what: string | (() => string),
  check: () => T | undefined | Promise<T | undefined>,
  limitMs: number,
): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (died) throw new Error(`private Tor network: ${died}`);
    if (Date.now() > end)
      throw new Error(`private Tor network: gave up waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function consensusNodes(dir: string): number {
  for (const f of ["cached-microdesc-consensus", "cached-consensus"]) {
    const path = join(dir, f);
    if (!existsSync(path)) continue;
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("r ")).length;
  }
  return 0;
}

async function startNetwork(): Promise<Running> {
  died = undefined;
  const tor = torBinary();
  const root = await mkdtemp(join(tmpdir(), "people-tor-"));
  const processes: ChildProcess[] = [];
  let stopping = false;
  const stop = async (): Promise<void> => {
    stopping = true;
    await Promise.all(
      processes.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            // tor exits at once on SIGTERM (ShutdownWaitLength 0); one that hangs in its shutdown
            // (seen under load) is killed: this is a safety net, nothing waits for it to pass.
            const hard = setTimeout(() => p.kill("SIGKILL"), 5_000);
            p.once("exit", () => (clearTimeout(hard), resolve()));
            p.kill("SIGTERM");
          }),
      ),
    );
    if (!process.env.PEOPLE_TEST_KEEP_TOR) rmSync(root, { recursive: true, force: true });
  };
  try {
    const authorities: Node[] = [];
    for (let i = 0; i < 3; i++) {
      authorities.push({
        name: `auth${i}`,
        dir: join(root, `auth${i}`),
        orPort: await freePort(),
        dirPort: await freePort(),
      });
    }
    const relays: Node[] = [];
    for (let i = 0; i < 3; i++)
      relays.push({ name: `relay${i}`, dir: join(root, `relay${i}`), orPort: await freePort() });

    const dirLines = await Promise.all(authorities.map((a) => authorityKeys(tor, a)));
    const common = (n: { dir: string }): string[] => [
      "TestingTorNetwork 1",
      `DataDirectory ${n.dir}`,
      `PidFile ${join(n.dir, "pid")}`,
      `Log notice file ${join(n.dir, "notice.log")}`,
      "RunAsDaemon 0",
      "ShutdownWaitLength 0",
      "ClientUseIPv6 0",
      "ServerDNSDetectHijacking 0",
      "ServerDNSResolvConfFile /dev/null",
      ...dirLines,
    ];
    const relayLike = (n: Node): string[] => [
      "SocksPort 0",
      // Upload the descriptor at once instead of first testing reachability through a circuit of
      // its own: on a loaded machine a relay could stay stuck without the microdescriptors that
      // circuit needs, and the authorities test reachability themselves anyway.
      "AssumeReachable 1",
      `Nickname ${n.name}`,
      "Address 127.0.0.1",
      `ORPort 127.0.0.1:${n.orPort}`,
      "ContactInfo people-tests@localhost",
    ];
    const start = (n: { name: string; dir: string }, lines: string[]): void => {
      mkdirSync(n.dir, { recursive: true, mode: 0o700 });
      const torrc = join(n.dir, "torrc");
      writeFileSync(torrc, lines.join("\n") + "\n");
      const out = openSync(join(n.dir, "stdout.log"), "a");
      const child = spawn(tor, ["-f", torrc, "--ignore-missing-torrc"], { stdio: ["ignore", out, out] });
      closeSync(out);
      child.on("error", () => undefined);
      child.on("exit", (code) => {
        if (!stopping) died ??= `${n.name} exited (${code}): ${tail(join(n.dir, "stdout.log"))}`;
      });
      processes.push(child);
    };

    for (const a of authorities) {
      start(a, [
        ...common(a),
        ...relayLike(a),
        `DirPort 127.0.0.1:${a.dirPort}`,
        "AuthoritativeDirectory 1",
        "V3AuthoritativeDirectory 1",
        "V3AuthVotingInterval 10",
        "V3AuthVoteDelay 2",
        "V3AuthDistDelay 2",
        "TestingV3AuthInitialVotingInterval 10",
        "TestingV3AuthInitialVoteDelay 2",
        "TestingV3AuthInitialDistDelay 2",
        "TestingDirAuthVoteGuard *",
        "TestingDirAuthVoteExit *",
        "TestingDirAuthVoteHSDir *",
      ]);
    }
    await until(
      "the authorities' consensus",
      () => (authorities.every((a) => consensusNodes(a.dir) >= 3) ? true : undefined),
      120_000,
    );
    for (const r of relays) {
      start(r, [
        ...common(r),
        ...relayLike(r),
        "DirCache 0",
        "ExitRelay 1",
        "ExitPolicyRejectPrivate 0",
        "ExitPolicy accept 127.0.0.1:*",
      ]);
    }
    // The client starts once the authorities list every relay, so its first consensus is complete.
    await until(
      () =>
        `the relays in the authorities' consensus (${authorities.map((a) => consensusNodes(a.dir)).join(", ")} of 6)`,
      () => (authorities.every((a) => consensusNodes(a.dir) >= 6) ? true : undefined),
      240_000,
    );
    // The client's ports are taken just before it starts, so nothing else grabs them meanwhile.
    const socksPort = await freePort();
    const controlPort = await freePort();
    const client = { name: "client", dir: join(root, "client") };
    start(client, [
      ...common(client),
      `SocksPort 127.0.0.1:${socksPort} IsolateSOCKSAuth`,
      `ControlPort 127.0.0.1:${controlPort}`,
    ]);
    await until(
      () => `the client's consensus (${consensusNodes(client.dir)} of 6 nodes)`,
      () => (consensusNodes(client.dir) >= 6 ? true : undefined),
      240_000,
    );
    const control = await until(
      "the client's control port",
      () => TorControl.open({ port: controlPort }).catch(() => undefined),
      60_000,
    );
    try {
      await until(
        "the client to bootstrap",
        async () =>
          (await control.getInfo("status/bootstrap-phase")).includes("PROGRESS=100") ? true : undefined,
        120_000,
      );
    } finally {
      control.close();
    }

    const waitForDescriptor = async (onion: string): Promise<void> => {
      const id = onion.replace(/\.onion$/, "");
      const c = await TorControl.open({ port: controlPort });
      try {
        const uploaded = new Promise<void>((resolve) => {
          c.onEvent((line) => {
            if (line.startsWith("HS_DESC UPLOADED") && line.includes(id)) resolve();
          });
        });
        await c.command("SETEVENTS HS_DESC");
        // An upload that happened before we listened: the service's own view says so.
        await Promise.race([uploaded, descriptorAlreadyUploaded(c, id)]);
      } finally {
        c.close();
      }
      // Uploaded is not yet found: a client can still miss it on the ring for a moment. Connect
      // through the SOCKS port until it answers, each try on a fresh circuit (new credentials).
      let attempt = 0;
      await until(
        `${onion} to answer through the SOCKS port`,
        async () => {
          try {
            const { socket } = await SocksClient.createConnection({
              proxy: {
                host: "127.0.0.1",
                port: socksPort,
                type: 5,
                userId: `harness-${attempt++}`,
                password: "x",
              },
              command: "connect",
              destination: { host: `${id}.onion`, port: 443 },
              timeout: 60_000,
            });
            socket.destroy();
            return true;
          } catch {
            return undefined;
          }
        },
        180_000,
      );
    };

    return {
      socks: `127.0.0.1:${socksPort}`,
      controlPort,
      dir: root,
      stop,
      waitForDescriptor,
      async addOnion(localPort: number, virtualPort = 443): Promise<string> {
        const c = await TorControl.open({ port: controlPort });
        let onion: string;
        const uploaded = new Promise<void>((resolve) => {
          c.onEvent((line) => {
            if (onion && line.startsWith("HS_DESC UPLOADED") && line.includes(onion)) resolve();
          });
        });
        try {
          await c.command("SETEVENTS HS_DESC");
          const reply = await c.command(
            `ADD_ONION NEW:ED25519-V3 Flags=DiscardPK,Detach Port=${virtualPort},127.0.0.1:${localPort}`,
          );
          onion = reply.lines.find((l) => l.startsWith("ServiceID="))!.slice("ServiceID=".length);
          await uploaded;
        } finally {
          c.close();
        }
        return `${onion}.onion`;
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves once GETINFO says this service's descriptor sits on at least one HSDir; never rejects. */
async function descriptorAlreadyUploaded(c: TorControl, id: string): Promise<void> {
  await until(
    `the descriptor of ${id}.onion`,
    async () => ((await c.getInfo(`hs/service/desc/id/${id}`).catch(() => "")) !== "" ? true : undefined),
    180_000,
  ).catch(() => new Promise<void>(() => undefined));
}

/** Creates an authority's v3 keys and relay identity; returns its DirAuthority line. */
async function authorityKeys(tor: string, a: Node): Promise<string> {
  const keys = join(a.dir, "keys");
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve, reject) => {
    const gen = spawn(
      "tor-gencert",
      [
        "--create-identity-key",
        "--passphrase-fd",
        "0",
        "-m",
        "12",
        "-a",
        `127.0.0.1:${a.dirPort}`,
        "-i",
        join(keys, "authority_identity_key"),
        "-s",
        join(keys, "authority_signing_key"),
        "-c",
        join(keys, "authority_certificate"),
      ],
      { stdio: ["pipe", "ignore", "ignore"] },
    );
    gen.on("error", reject);
    gen.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`tor-gencert exited ${code}`))));
    gen.stdin!.end("\n");
  });
  const cert = readFileSync(join(keys, "authority_certificate"), "utf8");
  const v3ident = /^fingerprint ([0-9A-F]+)$/m.exec(cert)![1]!;
  await execFileAsync(tor, [
    "--list-fingerprint",
    "--DataDirectory",
    a.dir,
    "--ORPort",
    "1",
    "-f",
    "/dev/null",
    "--ignore-missing-torrc",
  ]);
  const fp = readFileSync(join(a.dir, "fingerprint"), "utf8").trim().split(" ").slice(1).join("");
  return `DirAuthority ${a.name} orport=${a.orPort} no-v2 v3ident=${v3ident} 127.0.0.1:${a.dirPort} ${fp}`;
}
