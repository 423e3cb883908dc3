// Answers to upgrade requests the live hub does not take: a plain HTTP error
// in the API's JSON shape, then the connection is dropped.
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { ERROR_CODES, type ErrorCode } from "../errors.js";

export function ignoreSocketError(): void {
  // Errors on a socket being upgraded (a reset, a TLS failure) only end it.
}

/** Answer an upgrade request with a plain HTTP error and drop the connection. */
export function rejectUpgrade(socket: Duplex, code: ErrorCode, extraHeaders = ""): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, text } = ERROR_CODES[code];
  const body = JSON.stringify({ errcode: code, error: text });
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
      "Connection: close\r\n" +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      extraHeaders +
      "\r\n" +
      body,
  );
}

export function pathOf(url: string | undefined): string {
  if (!url) return "";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}
