// What the `people` program says when something goes wrong: one line,
// `people: <address or file>: <message>`, and an exit code (1 a failure, 2 a
// usage error). A PeopleError shows its public text, never its detail or a
// stack trace unless --verbose asks for them.
import { ERROR_CODES, PeopleError, type ErrorCode } from "../errors.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    /** The address, file or value the message is about; omitted when there is none. */
    readonly subject: string | undefined,
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** A mistake in how the program was called: exit code 2. */
export class UsageError extends CliError {
  constructor(subject: string | undefined, message: string, options?: { cause?: unknown }) {
    super(subject, message, EXIT_USAGE, options);
    this.name = "UsageError";
  }
}

/** The detail of a PeopleError without its code prefix ("PEOPLE_X: detail" → "detail"). */
function detailOf(e: PeopleError): string {
  return e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : "";
}

/** What to tell the user about a PeopleError: its public text, with a hint where the default text is vague. */
export function publicMessage(e: PeopleError): string {
  // An address the user typed: the detail says what is wrong with it, and only repeats their own input.
  if (e.code === "PEOPLE_BAD_ADDRESS") {
    const detail = detailOf(e);
    return detail ? `not a valid People address (${detail})` : "not a valid People address";
  }
  if (e.publicText !== ERROR_CODES[e.code].text) return e.publicText;
  return PLAINER[e.code] ?? e.publicText;
}

/** Where the protocol's generic text leaves a person guessing. */
const PLAINER: Partial<Record<ErrorCode, string>> = {
  PEOPLE_UNAVAILABLE: "the server could not be reached or did not answer (check the domain, --pin and --ca)",
  PEOPLE_UNKNOWN_RECIPIENT: "no such account on its server (check the spelling)",
  PEOPLE_CHAIN_FORK:
    "the keys changed in a way their account did not sign; compare safety numbers before trusting them (people verify --help)",
};

/** The text shown for a code alone (an undeliverable copy carries only its code). */
export function codeText(code: ErrorCode): string {
  return publicMessage(new PeopleError(code));
}

/** Attach a subject to whatever `fn` throws, unless it already names one. */
export async function about<T>(subject: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw withSubject(e, subject);
  }
}

export function withSubject(e: unknown, subject: string): CliError {
  if (e instanceof CliError)
    return e.subject === undefined ? new CliError(subject, e.message, e.exitCode, { cause: e.cause }) : e;
  if (e instanceof PeopleError) {
    return new CliError(
      subject,
      publicMessage(e),
      e.code === "PEOPLE_BAD_ADDRESS" ? EXIT_USAGE : EXIT_FAILURE,
      { cause: e },
    );
  }
  const errno = e as NodeJS.ErrnoException;
  if (errno && typeof errno.code === "string" && typeof errno.syscall === "string") {
    return new CliError(subject, fileErrorText(errno), EXIT_FAILURE, { cause: e });
  }
  return new CliError(subject, e instanceof Error ? e.message : String(e), EXIT_FAILURE, { cause: e });
}

/** A file system error in words, without the path (the subject names it). */
export function fileErrorText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EEXIST":
      return "already exists";
    case "ENOSPC":
      return "no space left on the device";
    default:
      return e.code ?? "cannot be used";
  }
}

/** The lines to print for an error, and the exit code. */
export function describeError(e: unknown, verbose: boolean): { lines: string[]; exitCode: number } {
  const error =
    e instanceof CliError
      ? e
      : e instanceof PeopleError
        ? withSubject(e, "")
        : new CliError(undefined, `unexpected error: ${e instanceof Error ? e.message : String(e)}`);
  const subject = error.subject ? `${error.subject}: ` : "";
  const lines = [`people: ${subject}${error.message}`];
  if (verbose) {
    for (let cause: unknown = e; cause; cause = (cause as { cause?: unknown }).cause) {
      if (cause instanceof PeopleError) lines.push(`  ${cause.code}: ${detailOf(cause) || "(no detail)"}`);
      if (cause instanceof Error && cause.stack && !(cause instanceof CliError)) lines.push(cause.stack);
      if (!(cause instanceof Error)) break;
    }
  }
  return { lines, exitCode: error.exitCode };
}
