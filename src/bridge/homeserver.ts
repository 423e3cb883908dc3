// Reaching the homeserver: a probe (is it up, does it know our appservice
// token, as which user) and the connection loop the bridge runs at start, which
// retries with backoff for as long as it takes and tells the admin what to do.
// Once connected it keeps watching: when the homeserver comes back after being
// unreachable, or restarted between two checks, onRecovered runs (the bridge
// catches up on events the homeserver may have dropped, see catch-up.ts).
import type { Logger } from "./logger.js";
import type { BridgeMetrics } from "./metrics.js";

export type ProbeResult =
  | { kind: "unreachable"; detail: string }
  /** The homeserver does not accept the as_token: the registration is not loaded. */
  | { kind: "unknown_appservice"; errcode: string }
  /** The token works but names another user (wrong homeserver.domain or bot_username). */
  | { kind: "wrong_user"; userId: string }
  | { kind: "connected" };

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return "timed out";
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** True when the homeserver answers its client API (GET /_matrix/client/versions). */
export async function homeserverReachable(url: string, timeoutMs = 5_000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/_matrix/client/versions`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

export async function probeHomeserver(o: {
  url: string;
  asToken: string;
  botUserId: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}): Promise<ProbeResult> {
  const signal = (ms: number) =>
    o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms);
  const timeout = o.timeoutMs ?? 5_000;
  try {
    const versions = await fetch(`${o.url}/_matrix/client/versions`, { signal: signal(timeout) });
    await versions.body?.cancel();
    if (!versions.ok)
      return { kind: "unreachable", detail: `GET /_matrix/client/versions: HTTP ${versions.status}` };
    const res = await fetch(`${o.url}/_matrix/client/v3/account/whoami`, {
      headers: { authorization: `Bearer ${o.asToken}` },
      signal: signal(timeout),
    });
    const body = (await res.json().catch(() => ({}))) as { user_id?: unknown; errcode?: unknown };
    if (res.status === 401 || res.status === 403) {
      return {
        kind: "unknown_appservice",
        errcode: typeof body.errcode === "string" ? body.errcode : `HTTP ${res.status}`,
      };
    }
    if (!res.ok)
      return { kind: "unreachable", detail: `GET /_matrix/client/v3/account/whoami: HTTP ${res.status}` };
    if (body.user_id !== o.botUserId) return { kind: "wrong_user", userId: String(body.user_id) };
    return { kind: "connected" };
  } catch (err) {
    return { kind: "unreachable", detail: describe(err) };
  }
}

/**
 * A value that changes when the homeserver restarts: Synapse sets its server
 * key's valid_until_ts from its start time (and again every half refresh
 * interval, 12 h by default). Undefined when the homeserver does not serve
 * it at this URL; restarts are then noticed only as outages.
 */
export async function homeserverStartMarker(url: string, signal?: AbortSignal): Promise<number | undefined> {
  try {
    const timeout = AbortSignal.timeout(5_000);
    const res = await fetch(`${url}/_matrix/key/v2/server`, {
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const ts = ((await res.json()) as { valid_until_ts?: unknown }).valid_until_ts;
    return typeof ts === "number" && Number.isSafeInteger(ts) ? ts : undefined;
  } catch {
    return undefined;
  }
}

/** Why the homeserver may have dropped events meant for the appservice. */
export type RecoveryReason = "reconnected" | "restarted";

export type ConnectionState =
  "connecting" | "unreachable" | "unknown_appservice" | "wrong_user" | "connected";

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  /** Once connected, how often the homeserver is checked again (for /health and the log). */
  recheckMs?: number;
}

// Rechecked often: a homeserver restart between two checks is noticed only by its start marker.
export const DEFAULT_RETRY: Required<RetryPolicy> = { initialMs: 1_000, maxMs: 30_000, recheckMs: 10_000 };

/**
 * Connects to the homeserver in the background: probes, and on failure logs
 * what is wrong and retries with exponential backoff until stop(). Once
 * connected it runs onConnected (bot profile etc.) and resolves `ready`.
 */
export class HomeserverConnection {
  state: ConnectionState = "connecting";
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly o: {
      url: string;
      domain: string;
      asToken: string;
      botUserId: string;
      /** Absolute path of registration.yaml, for the instructions to the admin. */
      registrationPath: string;
      log: Logger;
      metrics: BridgeMetrics;
      retry?: RetryPolicy;
      onConnected(): Promise<void>;
      /** Runs when the homeserver is back after an outage, or restarted (not awaited). */
      onRecovered?(reason: RecoveryReason): void;
      /** Runs after each check that found the homeserver up as before, not restarted. */
      onQuiet?(): Promise<void>;
    },
  ) {
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      if (!this.abort.signal.aborted) this.o.log.error({ err }, "homeserver connection loop failed");
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { url, log } = this.o;
    const retry = this.o.retry ?? DEFAULT_RETRY;
    let delay = retry.initialMs;
    let told: ConnectionState | undefined;
    while (!this.abort.signal.aborted) {
      const result = await probeHomeserver({
        url,
        asToken: this.o.asToken,
        botUserId: this.o.botUserId,
        signal: this.abort.signal,
      });
      if (this.abort.signal.aborted) return;
      this.state = result.kind;
      if (result.kind === "connected") break;
      this.o.metrics.homeserverUp.set(0);
      const wait = `retrying in ${Math.round(delay / 1000)} s`;
      if (result.kind === "unreachable") {
        log.warn(
          { homeserver: url, detail: result.detail },
          `cannot reach the homeserver at ${url}, ${wait}`,
        );
      } else if (result.kind === "unknown_appservice") {
        // The whole instruction once; a short reminder on later attempts.
        if (told !== result.kind) {
          log.error(
            { homeserver: url, errcode: result.errcode, registration: this.o.registrationPath },
            `the homeserver at ${url} does not know this appservice (whoami as ${this.o.botUserId}: ` +
              `${result.errcode}). Add the registration to the homeserver's homeserver.yaml: ` +
              `app_service_config_files: [${JSON.stringify(this.o.registrationPath)}] ` +
              `then restart the homeserver; ${wait}`,
          );
        } else {
          log.warn({ homeserver: url }, `the homeserver still does not know this appservice, ${wait}`);
        }
      } else {
        log.error(
          { homeserver: url, expected: this.o.botUserId, got: result.userId },
          `the homeserver says the appservice's bot is ${result.userId}, not ${this.o.botUserId}: ` +
            `check homeserver.domain (${this.o.domain}) and appservice.bot_username against registration.yaml; ${wait}`,
        );
      }
      told = result.kind;
      await this.sleep(delay);
      delay = Math.min(delay * 2, retry.maxMs);
    }
    if (this.abort.signal.aborted) return;
    try {
      await this.o.onConnected();
    } catch (err) {
      log.warn({ err }, "connected, but setting up the bot failed (will go on without it)");
    }
    this.o.metrics.homeserverUp.set(1);
    log.info({ homeserver: url, bot: this.o.botUserId }, "connected to the homeserver");
    this.resolveReady();
    await this.watch(retry.recheckMs ?? DEFAULT_RETRY.recheckMs);
  }

  private recovered(reason: RecoveryReason): void {
    try {
      this.o.onRecovered?.(reason);
    } catch (err) {
      this.o.log.warn({ err }, "reacting to the homeserver's recovery failed");
    }
  }

  /** Keeps `state` (and the metric) true while running, logging each change and noticing restarts. */
  private async watch(everyMs: number): Promise<void> {
    const { url, log } = this.o;
    let marker = await homeserverStartMarker(url, this.abort.signal);
    while (!this.abort.signal.aborted) {
      await this.sleep(everyMs);
      if (this.abort.signal.aborted) return;
      const result = await probeHomeserver({
        url,
        asToken: this.o.asToken,
        botUserId: this.o.botUserId,
        signal: this.abort.signal,
      });
      if (this.abort.signal.aborted) return;
      const was = this.state;
      if (result.kind !== was) {
        if (result.kind === "connected") log.info({ homeserver: url }, "the homeserver is back");
        else log.warn({ homeserver: url, problem: result }, `lost the homeserver at ${url}: ${result.kind}`);
      }
      this.state = result.kind;
      this.o.metrics.homeserverUp.set(result.kind === "connected" ? 1 : 0);
      if (result.kind !== "connected") continue;
      const now = await homeserverStartMarker(url, this.abort.signal);
      if (this.abort.signal.aborted) return;
      // Up, but the marker not readable this time: nothing can be concluded (nor made safe).
      if (now === undefined && marker !== undefined && was === "connected") continue;
      const restarted = marker !== undefined && now !== undefined && now !== marker;
      if (now !== undefined) marker = now;
      if (was !== "connected") this.recovered("reconnected");
      else if (restarted) {
        log.info({ homeserver: url }, "the homeserver restarted since the last check");
        this.recovered("restarted");
      } else {
        await this.o.onQuiet?.().catch((err: unknown) => log.warn({ err }, "after a homeserver check"));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.abort.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done);
    });
  }
}
