// A small client for tor's control port (control-spec.txt): authenticate,
// send a command, read its reply, and listen to asynchronous events (650).
// Used to publish a People server as an onion service (ADD_ONION) and by the
// test harness to watch its private Tor network. Replies are read line by
// line; a "250+" data block runs until a line holding only ".".
import { connect, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { PeopleError } from "../errors.js";

export interface TorControlOptions {
  host?: string;
  port: number;
  /** HashedControlPassword's password, if tor asks for one. */
  password?: string;
  /** The control_auth_cookie file, for CookieAuthentication. */
  cookieFile?: string;
  timeoutMs?: number;
}

export interface ControlReply {
  status: number;
  lines: string[];
}

type Pending = { resolve: (r: ControlReply) => void; reject: (e: Error) => void };

export class TorControl {
  private buffer = "";
  private current: string[] = [];
  private inData = false;
  private readonly pending: Pending[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("close", () => this.failAll(new PeopleError("PEOPLE_UNAVAILABLE", "tor control port closed")));
    socket.on("error", () => undefined); // "close" follows
  }

  static async open(o: TorControlOptions): Promise<TorControl> {
    const host = o.host ?? "127.0.0.1";
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port: o.port }, () => resolve(s));
      s.once("error", (cause) =>
        reject(
          new PeopleError("PEOPLE_UNAVAILABLE", `cannot reach tor's control port at ${host}:${o.port}`, {
            cause,
          }),
        ),
      );
    });
    const control = new TorControl(socket, o.timeoutMs ?? 30_000);
    try {
      await control.command(`AUTHENTICATE ${authArgument(o)}`);
    } catch (error) {
      control.close();
      throw error;
    }
    return control;
  }

  /** Sends one command; resolves with a 2xx reply, rejects on any other. */
  async command(line: string): Promise<ControlReply> {
    if (this.closed) throw new PeopleError("PEOPLE_UNAVAILABLE", "tor control port closed");
    const reply = await new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new PeopleError("PEOPLE_UNAVAILABLE", "tor control port did not answer")),
        this.timeoutMs,
      );
      this.pending.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.socket.write(`${line}\r\n`);
    });
    if (reply.status < 200 || reply.status > 299) {
      const verb = line.split(" ")[0];
      throw new PeopleError(
        "PEOPLE_UNAVAILABLE",
        `tor refused ${verb}: ${reply.lines.join(" ").slice(0, 200)}`,
      );
    }
    return reply;
  }

  /** GETINFO key → value (single-line or data block). */
  async getInfo(key: string): Promise<string> {
    const reply = await this.command(`GETINFO ${key}`);
    const first = reply.lines.findIndex((l) => l.startsWith(`${key}=`));
    if (first < 0) return "";
    const head = reply.lines[first]!.slice(key.length + 1);
    const rest = reply.lines.slice(first + 1).filter((l) => l !== "OK");
    return [head, ...rest].filter((l) => l !== "").join("\n");
  }

  /** Each asynchronous event line (without the "650 " prefix) until the returned function is called. */
  onEvent(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.socket.end("QUIT\r\n");
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, "");
      this.buffer = this.buffer.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (this.inData) {
      if (line === ".") this.inData = false;
      else this.current.push(line.startsWith("..") ? line.slice(1) : line);
      return;
    }
    const status = Number(line.slice(0, 3));
    const sep = line[3];
    const text = line.slice(4);
    if (status === 650) {
      if (sep === " ") for (const l of this.listeners) l(text);
      return;
    }
    this.current.push(text);
    if (sep === "+") this.inData = true;
    else if (sep === " ") {
      const lines = this.current;
      this.current = [];
      this.pending.shift()?.resolve({ status, lines });
    }
  }

  private failAll(error: Error): void {
    this.closed = true;
    for (const p of this.pending.splice(0)) p.reject(error);
  }
}

function authArgument(o: TorControlOptions): string {
  if (o.password !== undefined) return `"${o.password.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  if (o.cookieFile !== undefined) {
    try {
      return readFileSync(o.cookieFile).toString("hex");
    } catch (cause) {
      throw new PeopleError("PEOPLE_UNAVAILABLE", `cannot read tor's control cookie ${o.cookieFile}`, {
        cause,
      });
    }
  }
  return "";
}
