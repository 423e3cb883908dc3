// Runs one of the project's programs (bin/people, bin/people-server) as a user's shell would:
// the project's Node.js first on PATH and no PEOPLE_* variables unless the test sets them.
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";

export const ROOT = resolve(__dirname, "..", "..");

export interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ProgramOptions {
  env?: Record<string, string>;
  stdin?: string | Buffer;
  /** A safety net only (default 120 s): one start can take seconds on a loaded 2-core machine. */
  timeoutMs?: number;
}

export function programEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("PEOPLE_")) delete env[name];
  env.PATH = `${join(ROOT, "node_modules", ".bin")}:${env.PATH ?? ""}`;
  return { ...env, ...extra };
}

export function runProgram(bin: string, args: string[], o: ProgramOptions = {}): Promise<ProgramResult> {
  const child = spawn(bin, args, { env: programEnv(o.env), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  child.stdin.end(o.stdin ?? "");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${bin} ${args.join(" ")} did not finish; stderr: ${stderr}`));
    }, o.timeoutMs ?? 120_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
