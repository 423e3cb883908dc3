// The people-rtc-relay sidecar as the bridge runs it: one child process (started on the first
// bridged MatrixRTC call, checked with `hello`), newline-delimited JSON requests with ids on its
// stdin, replies and per-call events on its stdout (parsed in relay-wire.ts), its stderr as log
// lines. A child that dies ends the calls it carried (each is told `lost`) and the next call
// starts a new one; stop() is SIGTERM, then SIGKILL when it lingers.
import { spawn, type ChildProcess } from "node:child_process";
import type { z } from "zod";
import type { Logger } from "../../core/ports/logger.js";
import {
  helloSchema,
  LineSplitter,
  MAX_LINE_BYTES,
  parseRelayLine,
  type RelayEvent,
  type RelayReply,
} from "./relay-wire.js";

/** The relay's log attributes the bridge's log keeps: which call, participant and track, and why. */
const RELAY_LOG_FIELDS = [
  "call",
  "identity",
  "video",
  "codec",
  "carried",
  "e2ee",
  "reason",
  "error",
  "where",
] as const;

/** What a call hears from the relay: its events, and `lost` when the process died under it. */
export type RelayCallEvent = RelayEvent | { event: "lost"; call: string; reason: string };

export interface RelayProcessOptions {
  /** The people-rtc-relay binary (or a stand-in: `args` are given to it). */
  binary: string;
  args?: string[];
  /** Added to the bridge's environment for the child (tests steer a stand-in with it). */
  env?: Record<string, string>;
  log: Logger;
  /** How long one request may take (connect joins a LiveKit room: seconds on a loaded host). */
  requestTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
}

export class RelayError extends Error {}

interface Pending {
  resolve(r: Record<string, unknown>): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  pending: Map<number, Pending>;
  /** Set once the child is gone (or being stopped): requests are refused. */
  gone: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const CODECS = ["opus", "vp8"];

export class RelayProcess {
  private running: Running | undefined;
  private starting: Promise<Running> | undefined;
  private nextId = 1;
  private readonly calls = new Map<string, (e: RelayCallEvent) => void>();
  private stopped = false;
  /** How many processes were started (tests and the bench read it). */
  starts = 0;

  constructor(private readonly o: RelayProcessOptions) {}

  /** The process, started (and its hello checked) when none runs; rejects when it cannot be. */
  async ensure(): Promise<void> {
    await this.process();
  }

  /** The running child's pid (tests kill it). */
  get pid(): number | undefined {
    return this.running && !this.running.gone ? this.running.child.pid : undefined;
  }

  /** Events of one call go to `h` until the call is forgotten. */
  listen(call: string, h: (e: RelayCallEvent) => void): () => void {
    this.calls.set(call, h);
    return () => {
      if (this.calls.get(call) === h) this.calls.delete(call);
    };
  }

  /** One request; resolves with the reply's fields (validated by `schema` when given). */
  async request<S extends z.ZodType>(
    op: string,
    fields: Record<string, unknown>,
    schema: S,
    timeoutMs?: number,
  ): Promise<z.infer<S>>;
  async request(op: string, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  async request(
    op: string,
    fields: Record<string, unknown> = {},
    schema?: z.ZodType,
    timeoutMs = this.o.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
  ): Promise<unknown> {
    const r = await this.process();
    const reply = await this.send(r, op, fields, timeoutMs);
    if (!schema) return reply;
    const parsed = schema.safeParse(reply);
    if (!parsed.success) throw new RelayError(`the relay's ${op} reply is malformed`);
    return parsed.data;
  }

  private send(
    r: Running,
    op: string,
    fields: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    if (r.gone) return Promise.reject(new RelayError("the relay process is gone"));
    const id = this.nextId++;
    const line = `${JSON.stringify({ ...fields, id, op })}\n`;
    if (Buffer.byteLength(line) > MAX_LINE_BYTES)
      return Promise.reject(new RelayError(`a ${op} request over 1 MiB`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        r.pending.delete(id);
        reject(new RelayError(`the relay did not answer ${op} in ${timeoutMs} ms`));
      }, timeoutMs);
      r.pending.set(id, { resolve, reject, timer });
      r.child.stdin?.write(line, (err) => {
        if (!err) return;
        clearTimeout(timer);
        r.pending.delete(id);
        reject(new RelayError(`the relay's stdin refused ${op}`));
      });
    });
  }

  private process(): Promise<Running> {
    if (this.stopped) return Promise.reject(new RelayError("the relay is stopped"));
    if (this.running && !this.running.gone) return Promise.resolve(this.running);
    this.starting ??= this.start().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async start(): Promise<Running> {
    const r = this.spawnChild();
    try {
      const hello = helloSchema.safeParse(await this.send(r, "hello", {}, 15_000));
      if (!hello.success) throw new RelayError("the relay's hello is not version 1");
      const missing = CODECS.filter((c) => !hello.data.codecs.includes(c));
      if (missing.length > 0) throw new RelayError(`the relay lacks ${missing.join(", ")}`);
    } catch (err) {
      this.gone(r, "was refused");
      await this.kill(r);
      throw err instanceof RelayError ? err : new RelayError(String(err));
    }
    this.running = r;
    return r;
  }

  private spawnChild(): Running {
    this.starts++;
    const child = spawn(this.o.binary, this.o.args ?? [], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...this.o.env },
    });
    const r: Running = {
      child,
      pending: new Map(),
      gone: false,
      exited: new Promise((resolve) => child.once("close", () => resolve())),
    };
    let complaints = 0;
    const complain = (why: string): void => {
      // A garbled child is logged (what was wrong, never the line), at most a few times.
      if (complaints++ < 5) this.o.log.warn({ why }, "a line from the rtc relay was dropped");
    };
    child.stdout?.setEncoding("utf8");
    const lines = new LineSplitter(
      (line) => {
        const parsed = parseRelayLine(line);
        if (parsed.kind === "invalid") complain(parsed.why);
        else if (parsed.kind === "reply") this.settle(r, parsed.reply, complain);
        else {
          const e = parsed.event;
          // The first frame each way and kind: a direction that never logs one carried nothing.
          if (e.event === "media")
            this.o.log.debug({ call: e.call, direction: e.direction, kind: e.kind }, "a call's first frame");
          this.calls.get(e.call)?.(e);
        }
      },
      () => complain("a line over 1 MiB"),
    );
    child.stdout?.on("data", (chunk: string) => lines.push(chunk));
    child.stderr?.setEncoding("utf8");
    const logLines = new LineSplitter(
      (line) => this.relayLog(line),
      () => undefined,
    );
    child.stderr?.on("data", (chunk: string) => logLines.push(chunk));
    child.stdin?.on("error", () => undefined); // a dead child's pipe: its exit says the rest
    child.once("error", (err) => {
      this.o.log.error({ err: err.message, binary: this.o.binary }, "the rtc relay could not be run");
      this.gone(r, "could not be run");
    });
    child.once("exit", (code, signal) => {
      if (!r.gone && !this.stopped)
        this.o.log.error({ code, signal, pid: child.pid }, "the rtc relay process died: its calls end");
      this.gone(r, signal ? `killed by ${signal}` : `exited with ${code}`);
    });
    return r;
  }

  /**
   * The relay's own log line: its level, message and the attributes named in RELAY_LOG_FIELDS
   * (strings shortened; the contract keeps secrets out, the list keeps anything new out).
   */
  private relayLog(line: string): void {
    let level = "info";
    let msg = line.slice(0, 500);
    const fields: Record<string, string | number | boolean> = {};
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      if (typeof j.level === "string") level = j.level.toLowerCase();
      if (typeof j.msg === "string") msg = j.msg.slice(0, 500);
      for (const k of RELAY_LOG_FIELDS) {
        const v = j[k];
        if (typeof v === "string") fields[k] = v.slice(0, 300);
        else if (typeof v === "number" || typeof v === "boolean") fields[k] = v;
      }
    } catch {
      // plain text (a Go panic): kept as it is, shortened
    }
    const fn = level === "error" ? "error" : level.startsWith("warn") ? "warn" : "debug";
    this.o.log[fn]({ relay: msg, ...fields }, "rtc relay");
  }

  private settle(r: Running, reply: RelayReply, complain: (why: string) => void): void {
    if (reply.id === null) return complain(`the relay refused a line: ${reply.ok ? "" : reply.error}`);
    const p = r.pending.get(reply.id);
    if (!p) return complain("a reply to no request");
    r.pending.delete(reply.id);
    clearTimeout(p.timer);
    if (reply.ok) {
      const { id: _id, ok: _ok, ...rest } = reply;
      p.resolve(rest);
    } else p.reject(new RelayError(reply.error));
  }

  /** The child is gone: its requests fail and its calls are told. */
  private gone(r: Running, reason: string): void {
    if (r.gone) return;
    r.gone = true;
    for (const p of r.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new RelayError(`the relay process ${reason}`));
    }
    r.pending.clear();
    if (this.running !== r) return;
    this.running = undefined;
    const calls = [...this.calls.entries()];
    this.calls.clear();
    for (const [call, h] of calls) h({ event: "lost", call, reason });
  }

  private async kill(r: Running): Promise<void> {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return r.exited;
    r.child.kill("SIGTERM");
    const t = setTimeout(() => r.child.kill("SIGKILL"), this.o.stopGraceMs ?? 3_000);
    await r.exited;
    clearTimeout(t);
  }

  /** Stops the process (the bridge stops; its calls were ended first). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => undefined);
    const r = this.running;
    if (!r) return;
    this.gone(r, "stopped");
    await this.kill(r);
  }
}
