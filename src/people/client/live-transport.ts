// How a device's live connection (live-socket.ts) reaches its server: over a
// WebSocket (any device), or, for a device in the same process as its server
// (the bridge's accounts on its embedded server), over an in-process link with
// no socket and no TLS. Both carry the same frames under the same rules.
import { WebSocket, type RawData } from "ws";
import { isPeopleError } from "../errors.js";
import { wirePair, type ServerWireEnd } from "../net/in-process-wire.js";

const MAX_FRAME = 4 * 1024 * 1024;

/** What the live socket uses of its connection (a ws WebSocket has it all). */
export interface LiveChannel {
  readonly readyState: number;
  send(text: string): void;
  close(code?: number): void;
  terminate(): void;
  on(event: "unexpected-response", listener: (req: unknown, res: { statusCode?: number }) => void): unknown;
  on(event: "open" | "ping", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "message", listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: "close", listener: (code: number) => void): unknown;
}

export interface LiveTransport {
  /** A connection to the live endpoint `url`, authenticated with `token`; `tls`: agent and TLS options. */
  open(o: { url: string; token: string; tls: object }): LiveChannel;
}

export const webSocketTransport: LiveTransport = {
  open: ({ url, token, tls }) =>
    new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      ...tls,
      maxPayload: MAX_FRAME,
      perMessageDeflate: false,
    }),
};

/** The server's in-process attach point (LiveHub.attachInProcess). */
export interface InProcessLive {
  attachInProcess(authorization: string, wire: ServerWireEnd): Promise<void>;
}

/** Links to a server in this process: the URL and TLS options are not used. */
export function inProcessTransport(server: InProcessLive): LiveTransport {
  return {
    open({ token }) {
      const { client, server: end } = wirePair();
      server.attachInProcess(`Bearer ${token}`, end).then(
        () => client.open(),
        // As over a socket: a bad token is a 401 (the session takes a new one), anything else a retry.
        (err: unknown) => client.refuse(isPeopleError(err, "PEOPLE_UNAUTHORIZED") ? 401 : 503),
      );
      return client;
    },
  };
}
