// Reaching the homeserver: a probe (is it up, does it know our appservice
// token, as which user) and the connection loop the bridge runs at start, which
// retries with backoff for as long as it takes and tells the admin what to do.
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

export type ConnectionState =
  "connecting" | "unreachable" | "unknown_appservice" | "wrong_user" | "connected";

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  /** Once connected, how often the homeserver is checked again (for /health and the log). */
  recheckMs?: number;
}

export const DEFAULT_RETRY: Required<RetryPolicy> = { initialMs: 1_000, maxMs: 30_000, recheckMs: 60_000 };

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

  /** Keeps `state` (and the metric) true while running, logging each change. */
  private async watch(everyMs: number): Promise<void> {
    const { url, log } = this.o;
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
      if (result.kind !== this.state) {
        if (result.kind === "connected") log.info({ homeserver: url }, "the homeserver is back");
        else log.warn({ homeserver: url, problem: result }, `lost the homeserver at ${url}: ${result.kind}`);
      }
      this.state = result.kind;
      this.o.metrics.homeserverUp.set(result.kind === "connected" ? 1 : 0);
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
