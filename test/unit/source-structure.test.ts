// The shape of src/, checked from the files themselves: no file over 400 lines,
// and no import cycle between sibling folders (e.g. src/bridge/adapters/appservice and
// src/bridge/adapters/crypto), so each dependency between folders goes one way.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, posix, relative, resolve, sep } from "node:path";

const ROOT = resolve(__dirname, "../..");
const SRC = join(ROOT, "src");
const MAX_LINES = 400;

/**
 * Files allowed over MAX_LINES for now. This list only shrinks: an entry whose
 * file is back under the limit (or gone) fails the test until it is removed.
 */
const OVER_LIMIT_ALLOWED: Record<string, string> = {};

/** Every .ts file under src/, as a posix path relative to the repository. */
function sourceFiles(dir = SRC): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(relative(ROOT, path).split(sep).join("/"));
  }
  return out.sort();
}

function lineCount(file: string): number {
  const text = readFileSync(join(ROOT, file), "utf8");
  return text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
}

/** Relative module specifiers a file imports or re-exports (static and dynamic), resolved to repository paths. */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) out.push(posix.normalize(posix.join(posix.dirname(file), m[1]!)));
  return out;
}

/** The folder edges between siblings: for a.ts in p/x/… importing p/y/…, the edge p/x → p/y. */
function siblingEdges(files: { file: string; text: string }[]): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const { file, text } of files) {
    for (const target of importsOf(file, text)) {
      const from = file.split("/");
      const to = target.split("/");
      // The first folder where the two paths part; both sides must be folders there, not files.
      let i = 0;
      while (i < from.length - 1 && i < to.length - 1 && from[i] === to[i]) i++;
      if (i >= from.length - 1 || i >= to.length - 1) continue;
      const a = from.slice(0, i + 1).join("/");
      const b = to.slice(0, i + 1).join("/");
      if (!edges.has(a)) edges.set(a, new Set());
      edges.get(a)!.add(b);
    }
  }
  return edges;
}

/** Each cycle found in the folder graph, as the folders on it (first folder repeated at the end). */
function folderCycles(edges: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (v: string): void => {
    if (onPath.has(v)) {
      cycles.push([...path.slice(path.indexOf(v)), v]);
      return;
    }
    if (done.has(v)) return;
    path.push(v);
    onPath.add(v);
    for (const w of [...(edges.get(v) ?? [])].sort()) visit(w);
    path.pop();
    onPath.delete(v);
    done.add(v);
  };
  for (const v of [...edges.keys()].sort()) visit(v);
  return cycles;
}

describe("source structure", () => {
  const files = sourceFiles();

  it("finds the sources", () => {
    assert.ok(files.length > 100, `only ${files.length} files under src/`);
    assert.ok(files.includes("src/bridge/bridge.ts"));
  });

  it(`has no file under src/ over ${MAX_LINES} lines, but for the allow-list, which only shrinks`, () => {
    const over = files.filter((f) => lineCount(f) > MAX_LINES);
    const unexpected = over.filter((f) => !(f in OVER_LIMIT_ALLOWED)).map((f) => `${f} (${lineCount(f)})`);
    assert.deepEqual(unexpected, [], `files over ${MAX_LINES} lines: split them by responsibility`);
    const stale = Object.keys(OVER_LIMIT_ALLOWED).filter((f) => !over.includes(f));
    assert.deepEqual(
      stale,
      [],
      "allowed files that are now small enough (or gone): remove them from the list",
    );
  });

  it("has no import cycle between sibling folders", () => {
    const sources = files.map((file) => ({ file, text: readFileSync(join(ROOT, file), "utf8") }));
    const edges = siblingEdges(sources);
    // The check sees the dependencies it is about (guards against a pattern that matches nothing).
    assert.ok(
      edges.get("src/bridge/adapters/appservice")?.has("src/bridge/adapters/crypto"),
      "appservice → crypto not seen",
    );
    assert.ok(edges.get("src/people/client")?.has("src/people/protocol"), "client → protocol not seen");
    assert.deepEqual(
      folderCycles(edges).map((c) => c.join(" → ")),
      [],
      "folders that import each other: move the shared piece so the dependency goes one way",
    );
  });

  it("the cycle check finds a cycle between two folders and ignores a folder's own files", () => {
    const edges = siblingEdges([
      { file: "src/bridge/appservice/a.ts", text: 'import { b } from "../crypto/b.js";' },
      { file: "src/bridge/crypto/b.ts", text: 'import type { A } from "../appservice/a.js";\n' },
      { file: "src/bridge/crypto/c.ts", text: 'export * from "./b.js";\nimport("../config.js");' },
      { file: "src/bridge/config.ts", text: 'import { c } from "./crypto/c.js";' },
    ]);
    assert.deepEqual(folderCycles(edges), [
      ["src/bridge/appservice", "src/bridge/crypto", "src/bridge/appservice"],
    ]);
  });
});
