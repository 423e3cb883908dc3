// The package's name and version, read once from package.json so they never drift.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

function readPackage(): { name: string; version: string } {
  try {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, "..", "..", "package.json"), "utf8")) as {
      name?: string;
      version?: string;
    };
    return { name: pkg.name ?? "matrix-appservice-people", version: pkg.version ?? "unknown" };
  } catch {
    return { name: "matrix-appservice-people", version: "unknown" };
  }
}

export const PACKAGE = readPackage();
