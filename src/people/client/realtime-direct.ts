// The direct transport of a realtime session: a WebSocket the callee listens
// on and the caller connects to. Plain ws:// is acceptable ONLY because every
// frame is already sealed end to end with the session keys: the connection
// itself carries no authority (see realtime.ts).
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { PeopleError } from "../errors.js";
import { MAX_WIRE_FRAME } from "../protocol/frame-cipher.js";

const DIRECT_CONNECT_MS = 3_000;
/** A direct listener holds at most this many connections that have not said hello, each for this long. */
export const MAX_UNBOUND = 8;
export const UNBOUND_MS = 5_000;

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Listen on host:port (port 0: any); the URL is the listening address as ws://host:port. */
export async function listenDirect(
  host: string,
  port: number,
): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: MAX_WIRE_FRAME });
  try {
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
  } catch (e) {
    wss.close();
    throw e;
  }
  wss.on("error", () => undefined);
  const bound = (wss.address() as AddressInfo).port;
  return { wss, url: `ws://${host.includes(":") ? `[${host}]` : host}:${bound}` };
}

export function connectDirect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: MAX_WIRE_FRAME,
      handshakeTimeout: DIRECT_CONNECT_MS,
      followRedirects: false,
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("close", () => reject(new PeopleError("PEOPLE_UNAVAILABLE", "direct connection closed")));
  });
}
