// Printing: results on stdout (text for people, JSON with --json), warnings,
// progress and errors on stderr. Text that came from other people (message
// bodies, file names) is cleaned of terminal control characters before it is
// shown, so a message cannot move the cursor, recolour or rewrite the screen.

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

export class Output {
  constructor(
    readonly io: Io,
    readonly json: boolean,
    readonly verbose: boolean,
  ) {}

  /** A line of the result (human mode). */
  line(text = ""): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** The result as JSON: one document (or one line of a stream). */
  data(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** A note for people: on stderr, and not in --json mode. */
  note(text: string): void {
    if (!this.json) this.io.stderr.write(`${text}\n`);
  }

  /** Something the user must see, in either mode. */
  warn(subject: string | undefined, text: string): void {
    this.io.stderr.write(`people: ${subject ? `${subject}: ` : ""}${text}\n`);
  }

  debug(text: string): void {
    if (this.verbose) this.io.stderr.write(`people: debug: ${text}\n`);
  }

  table(headers: string[], rows: string[][], o: { shrink?: number } = {}): void {
    for (const line of formatTable(headers, rows, {
      ...o,
      width: this.io.stdout.isTTY ? this.io.stdout.columns : undefined,
    }))
      this.line(line);
  }

  progress(label: string): Progress {
    return new Progress(this.io.stderr, label, !this.json);
  }
}

/** Columns padded to their widest cell; the `shrink` column is cut to fit `width` (or 60 when not a terminal). */
export function formatTable(
  headers: string[],
  rows: string[][],
  o: { shrink?: number; width?: number | undefined } = {},
): string[] {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => length(r[i] ?? ""))));
  if (o.shrink !== undefined) {
    const others = widths.reduce((sum, w, i) => (i === o.shrink ? sum : sum + w + 2), 0);
    const room = o.width !== undefined ? Math.max(20, o.width - others - 1) : 60;
    widths[o.shrink] = Math.min(widths[o.shrink]!, room);
  }
  return all.map((row) =>
    row
      .map((cell, i) => {
        const w = widths[i]!;
        const text = length(cell) > w ? `${[...cell].slice(0, w - 1).join("")}…` : cell;
        return i === row.length - 1 ? text : text + " ".repeat(w - length(text));
      })
      .join("  ")
      .trimEnd(),
  );
}

function length(s: string): number {
  return [...s].length;
}

// C0 and C1 controls, DEL, and the bidirectional overrides and isolates (which can make text read backwards).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Someone else's text, made safe to print on a terminal; newlines and tabs kept. */
export function clean(text: string): string {
  return text.replace(CONTROL, "\ufffd");
}

/** Someone else's text on one line. */
export function oneLine(text: string): string {
  return clean(text)
    .replace(/\s*[\r\n]+\s*/g, " ⏎ ")
    .replace(/\t/g, " ");
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let n = bytes / 1024;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[unit]}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** Local time, to the minute: 2025-01-31 14:05. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const BAR_WIDTH = 24;

/**
 * One progress line on stderr: on a terminal it turns and counts seconds while
 * the work runs (a bar of bytes done, percent and rate once `bytes` reports a
 * transfer) and is replaced by the outcome; otherwise only the outcome is
 * written, with the bytes moved and the rate. Silent with --json.
 */
export class Progress {
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private finished = false;
  private transfer: { done: number; total: number } | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
    private readonly enabled: boolean,
  ) {
    if (enabled && stream.isTTY) {
      this.draw();
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
  }

  /** Bytes done of `total` so far (an upload's or download's onProgress); drawn on the next tick. */
  readonly bytes = (done: number, total: number): void => {
    this.transfer = { done, total };
  };

  private seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  private elapsed(): string {
    return `${this.seconds().toFixed(1)} s`;
  }

  private rate(done: number): string {
    const s = this.seconds();
    return s > 0 ? `${formatSize(Math.round(done / s))}/s` : "";
  }

  private draw(): void {
    const spin = SPINNER[this.frame++ % SPINNER.length];
    const t = this.transfer;
    if (!t) {
      this.stream.write(`\r\x1b[K${spin} ${this.label} ${this.elapsed()}`);
      return;
    }
    const fraction = t.total > 0 ? Math.min(1, t.done / t.total) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `[${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}]`;
    const line =
      `${spin} ${this.label} ${bar} ${formatSize(t.done)}/${formatSize(t.total)} ` +
      `${Math.floor(fraction * 100)}% ${this.rate(t.done)}`;
    const width = this.stream.columns;
    this.stream.write(
      `\r\x1b[K${width && [...line].length >= width ? [...line].slice(0, width - 1).join("") : line}`,
    );
  }

  /** Replace the line with the outcome (`done` gets the elapsed time, and any bytes moved and rate, appended). */
  done(text: string): void {
    const t = this.transfer;
    this.end(
      t
        ? `${text}: ${t.done} bytes in ${this.elapsed()}${this.seconds() > 0 ? `, ${this.rate(t.done)}` : ""}`
        : `${text} in ${this.elapsed()}`,
    );
  }

  fail(): void {
    this.end(undefined);
  }

  private end(text: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    if (!this.enabled) return;
    if (this.stream.isTTY) this.stream.write("\r\x1b[K");
    if (text !== undefined) this.stream.write(`${text}\n`);
  }
}
