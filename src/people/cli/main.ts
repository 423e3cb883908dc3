// `people`: the People client for people and scripts (bin/people runs this
// file with the project's Node.js and tsx). `people --help` lists the commands.
import { CommanderError } from "commander";
import { EXIT_OK, EXIT_USAGE, describeError } from "./errors.js";
import type { Io } from "./output.js";
import { buildProgram } from "./program.js";

/** Run the program on `argv` (without the node and script paths); resolves with the exit code. */
export async function main(argv: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const program = buildProgram(io, env);
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end with code 0; every other complaint of the parser is a usage error.
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    const verbose = Boolean(program.opts().verbose) || argv.includes("--verbose") || argv.includes("-v");
    const { lines, exitCode } = describeError(e, verbose);
    for (const line of lines) io.stderr.write(`${line}\n`);
    return exitCode;
  }
}

if (require.main === module) {
  // `npm run people -- …` runs in the package's directory: relative paths mean the caller's directory.
  if (process.env.npm_lifecycle_event === "people" && process.env.INIT_CWD)
    process.chdir(process.env.INIT_CWD);
  const io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  // A reader that went away (`people inbox | head`) is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT_OK);
  });
  void main(process.argv.slice(2), io, process.env).then((code) => {
    process.exitCode = code;
    // Everything is closed by now; a handle a library left open must not keep the program alive.
    setTimeout(() => process.exit(code), 2000).unref();
  });
}
