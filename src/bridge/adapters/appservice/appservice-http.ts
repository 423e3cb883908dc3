// Client-server requests as one of the appservice's users and devices: the
// appservice token with ?user_id= (and &device_id=, MSC3202/MSC4190 device
// masquerading), JSON in and out. The crypto machines' requests go through
// here, and so do the bot's profile check and catch-up's history reads;
// errors carry the status and errcode, never the token.
import type { As, MatrixRequests } from "../crypto/matrix-requests.js";
import type { Json } from "../crypto/transaction-extensions.js";
import { BridgeError } from "../../core/error-kinds.js";

const TIMEOUT_MS = 60_000;

/** The homeserver answered with an error: a `matrix_http` BridgeError with its status and errcode. */
export function matrixHttpError(status: number, errcode: string | undefined, message: string): BridgeError {
  return new BridgeError("matrix_http", message, { status, ...(errcode !== undefined && { errcode }) });
}

export class AppserviceHttp implements MatrixRequests {
  private readonly base: string;

  constructor(
    homeserverUrl: string,
    private readonly asToken: string,
  ) {
    this.base = homeserverUrl.replace(/\/+$/, "");
  }

  /** A request whose answer must be a JSON object. */
  async request(method: "GET" | "POST" | "PUT", path: string, as: As, body?: unknown): Promise<Json> {
    const json = await this.requestJson(method, path, as, body);
    if (!json || typeof json !== "object" || Array.isArray(json)) {
      throw matrixHttpError(200, undefined, `${method} ${path}: the answer is not a JSON object`);
    }
    return json as Json;
  }

  /** A request answered with any JSON value. */
  async requestJson(method: "GET" | "POST" | "PUT", path: string, as: As, body?: unknown): Promise<unknown> {
    const url = new URL(this.base + path);
    url.searchParams.set("user_id", as.userId);
    if (as.deviceId) url.searchParams.set("device_id", as.deviceId);
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${this.asToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const errcode =
        json && typeof json === "object" && typeof (json as Json).errcode === "string"
          ? ((json as Json).errcode as string)
          : undefined;
      throw matrixHttpError(
        res.status,
        errcode,
        `${method} ${path} failed: HTTP ${res.status} ${errcode ?? ""}`,
      );
    }
    if (json === undefined) throw matrixHttpError(res.status, undefined, `${method} ${path}: not JSON`);
    return json;
  }
}
