// What the crypto machines need of the homeserver: client-server requests as
// one of the appservice's users and devices. appservice/appservice-http.ts
// implements it; declaring it here keeps the dependency one way (appservice
// uses crypto, crypto does not import appservice).
import type { Json } from "./transaction-extensions.js";

export interface As {
  userId: string;
  deviceId?: string;
}

export type MatrixMethod = "GET" | "POST" | "PUT";

export interface MatrixRequests {
  /** A request whose answer must be a JSON object. */
  request(method: MatrixMethod, path: string, as: As, body?: unknown): Promise<Json>;
  /** A request answered with any JSON value. */
  requestJson(method: MatrixMethod, path: string, as: As, body?: unknown): Promise<unknown>;
}

export const enc = encodeURIComponent;
