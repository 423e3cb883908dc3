// HTTPS to People servers: keep-alive, explicit trust anchors (a development
// certificate can be trusted without turning verification off), hard limits on
// response size and time, and remote {"errcode"} answers turned back into
// PeopleErrors so callers handle one error type. The agent and TLS context
// are shared process-wide (tls-pool.ts): a client costs no TLS state of its own.
import { request, type Agent } from "node:https";
import type { ClientRequest, IncomingHttpHeaders } from "node:http";
import type { SecureContext } from "node:tls";
import { ERROR_CODES, PeopleError, type ErrorCode } from "../errors.js";
import { leaseAgent, secureContextFor, type AgentLease } from "./tls-pool.js";
import { TorRoute, unreachableText, type TorOptions } from "./tor-route.js";

export interface HttpsClientOptions {
  /** Extra trusted CA certificates (PEM), added to the system roots. */
  ca?: string[];
  timeoutMs?: number;
  maxResponseBytes?: number;
  maxSockets?: number;
  /** Reach .onion hosts (and, with `all`, every host) through this Tor SOCKS proxy. */
  tor?: TorOptions;
  /** Local source address for direct connections and for the connection to the proxy. */
  localAddress?: string;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Called as bytes go out (request body) or come in (response body): done so far, and the total expected. */
export type ProgressFn = (done: number, total: number) => void;

/** Request bodies are written in pieces this large, so progress can be reported and backpressure respected. */
export const WRITE_CHUNK = 64 * 1024;

export class HttpsClient {
  private readonly lease: AgentLease;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  /** The shared context trusting the system roots plus the extra CAs; undefined: the default one. */
  private readonly secureContext: SecureContext | undefined;
  private readonly localAddress: string | undefined;
  readonly tor: TorRoute;

  constructor(o: HttpsClientOptions = {}) {
    this.secureContext = secureContextFor(o.ca);
    this.localAddress = o.localAddress;
    this.lease = leaseAgent({
      maxSockets: o.maxSockets ?? 64,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    this.tor = new TorRoute(o.tor, o.localAddress ? { localAddress: o.localAddress } : {});
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxResponseBytes = o.maxResponseBytes ?? 64 * 1024 * 1024;
  }

  async send(
    method: string,
    url: string,
    o: {
      headers?: Record<string, string>;
      body?: Buffer | string;
      /** Bytes of the request body written. */
      onUpload?: ProgressFn;
      /** Bytes of the response body received (total from Content-Length, else 0 until the end). */
      onDownload?: ProgressFn;
      /** This request's idle timeout instead of the client's (through Tor, never below Tor's). */
      timeoutMs?: number;
    } = {},
  ): Promise<HttpsResponse> {
    const target = new URL(url);
    if (target.protocol !== "https:") throw new PeopleError("PEOPLE_BAD_REQUEST", "only https URLs");
    const host = target.hostname;
    const viaTor = this.tor.agentFor(host);
    const unreachable = viaTor ? unreachableText(host) : `cannot reach ${target.host}`;
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const req = request(
        target,
        viaTor
          ? {
              method,
              agent: viaTor,
              headers: o.headers,
              timeout: Math.max(timeoutMs, this.tor.timeoutMs),
              ...(this.secureContext ? { secureContext: this.secureContext } : {}),
              ...this.tor.tlsFor(host),
            }
          : { method, agent: this.lease.agent, headers: o.headers, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const declared = Number(res.headers["content-length"]);
          const total = Number.isSafeInteger(declared) && declared >= 0 ? declared : 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxResponseBytes) {
              req.destroy(new PeopleError("PEOPLE_TOO_LARGE", "response too large"));
              return;
            }
            chunks.push(chunk);
            o.onDownload?.(size, Math.max(total, size));
          });
          res.on("end", () => {
            o.onDownload?.(size, size);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(
          new PeopleError(
            "PEOPLE_UNAVAILABLE",
            viaTor ? `${unreachable} (timeout)` : `timeout talking to ${target.host}`,
          ),
        ),
      );
      req.on("error", (err) => {
        // A fresh circuit for the next try: one built while the network was thin can hang.
        if (viaTor) this.tor.renew(host);
        reject(
          err instanceof PeopleError
            ? err
            : new PeopleError("PEOPLE_UNAVAILABLE", unreachable, { cause: err, publicText: unreachable }),
        );
      });
      if (o.onUpload && o.body !== undefined) writeBody(req, Buffer.from(o.body), o.onUpload);
      else req.end(o.body);
    });
  }

  /** A JSON request whose non-2xx answer becomes the remote PeopleError. */
  async json<T = unknown>(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.send(method, url, {
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return parseJsonResponse<T>(res, url);
  }

  /** The agent and TLS options for a WebSocket to `host` (direct, or through Tor). */
  wsOptions(host: string): {
    agent?: Agent;
    secureContext?: SecureContext;
    rejectUnauthorized?: boolean;
    localAddress?: string;
  } {
    const viaTor = this.tor.agentFor(host);
    const tls = this.secureContext ? { secureContext: this.secureContext } : {};
    if (viaTor) return { agent: viaTor as unknown as Agent, ...tls, ...this.tor.tlsFor(host) };
    return { ...tls, ...(this.localAddress ? { localAddress: this.localAddress } : {}) };
  }

  close(): void {
    this.lease.release();
    this.tor.close();
  }
}

/** Write `body` in WRITE_CHUNK pieces, waiting for "drain" when the socket is full, reporting bytes written. */
function writeBody(req: ClientRequest, body: Buffer, onProgress: ProgressFn): void {
  let offset = 0;
  const next = (): void => {
    while (offset < body.length) {
      if (req.destroyed) return;
      const piece = body.subarray(offset, offset + WRITE_CHUNK);
      offset += piece.length;
      const more = req.write(piece);
      onProgress(offset, body.length);
      if (!more) {
        req.once("drain", next);
        return;
      }
    }
    req.end();
  };
  onProgress(0, body.length);
  next();
}

export function parseJsonResponse<T>(res: HttpsResponse, url: string): T {
  let json: unknown;
  try {
    json = res.body.length > 0 ? JSON.parse(res.body.toString("utf8")) : {};
  } catch {
    throw new PeopleError("PEOPLE_UNAVAILABLE", `non-JSON answer (${res.status}) from ${new URL(url).host}`);
  }
  if (res.status >= 200 && res.status < 300) return json as T;
  throw remoteError(res.status, json);
}

/** The PeopleError a server answered with, keeping its public text. */
export function remoteError(status: number, json: unknown): PeopleError {
  const body = json as { errcode?: unknown; error?: unknown; notice?: unknown } | null;
  const code =
    typeof body?.errcode === "string" && body.errcode in ERROR_CODES
      ? (body.errcode as ErrorCode)
      : undefined;
  const text = typeof body?.error === "string" ? body.error.slice(0, 500) : `HTTP ${status}`;
  return new PeopleError(
    code ?? (status >= 500 ? "PEOPLE_UNAVAILABLE" : "PEOPLE_BAD_REQUEST"),
    `remote: ${text}`,
    {
      publicText: text,
      // Unchecked here: the move notice is parsed and verified by whoever follows it (move-notice.ts).
      ...(code === "PEOPLE_MOVED" && body?.notice !== undefined ? { extra: { notice: body.notice } } : {}),
    },
  );
}
