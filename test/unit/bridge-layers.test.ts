// The bridge's layers, checked from its imports (docs/ARCHITECTURE.md, "The bridge's folders"):
// - the core (core/, model/), its ports (core/ports/) and the features (portals/, feeds/,
//   calls/, spaces/, trust/, profiles/) import no npm library and no node: module but for
//   the exceptions below, never an adapter (adapters/) and never the composition root
//   (the files at src/bridge/ itself), and from src/people only the People vocabulary;
// - the ports import only the core, model and that vocabulary;
// - only the composition root wires adapters into the core: an adapter imports the core,
//   its ports and the types a feature declares for it (SpaceMatrix, ProfileReader), not
//   a feature's code (one exception below, with its reason).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, posix, relative, resolve, sep } from "node:path";
import ts from "typescript";

const ROOT = resolve(__dirname, "../..");
const BRIDGE = "src/bridge";
const FEATURES = ["portals", "feeds", "calls", "spaces", "trust", "profiles"];

/** Libraries the core may use, and why. Anything else is an adapter's job. */
const CORE_LIBRARIES: Record<string, string> = {
  // The project's one parsing vocabulary: content is validated into typed values where it is read.
  zod: "parsing",
};
/** Per-file exceptions, and why. */
const FILE_LIBRARIES: Record<string, Record<string, string>> = {
  // A pure HTML sanitizer (no IO): Matrix formatted bodies are cleaned where they are converted.
  "src/bridge/model/html.ts": { "sanitize-html": "sanitizing" },
  // Hashes for deterministic room and member ids (pure, no IO).
  "src/bridge/model/participant-set.ts": { "node:crypto": "createHash" },
  "src/bridge/model/bridge-info.ts": { "node:crypto": "createHash" },
};
/** Modules outside src/bridge that the core and features may import for values (types may come from any of src/people). */
const PEOPLE_VOCABULARY = [
  "src/people/protocol/",
  "src/people/errors.ts",
  "src/people/transient.ts",
  "src/shared/keyed-lock.ts",
  "src/shared/deferred.ts",
  "src/shared/sleep.ts",
  // isOnionHost only; tor-route's SOCKS agent is never built from the core (doubtful: belongs in protocol/address).
  "src/people/net/tor-route.ts",
];
/** Adapters that import a feature's functions, and why (types a feature declares for its adapters are fine). */
const ADAPTER_USES_FEATURE: Record<string, string> = {
  // A driving adapter: the provisioning HTTP API runs the portals' own group creation and admission checks.
  "src/bridge/adapters/provisioning/backend.ts": "createGroupPortal, unresolvable",
};
/** Composition-root files the core may import types from: the typed config is plain data. */
const ROOT_TYPES = ["src/bridge/config.ts"];

type Layer = "ports" | "core" | "feature" | "adapter" | "root" | "outside";

export function layerOf(file: string): Layer {
  if (!file.startsWith(`${BRIDGE}/`)) return "outside";
  const rest = file.slice(BRIDGE.length + 1);
  const top = rest.split("/")[0]!;
  if (rest.startsWith("core/ports/")) return "ports";
  if (top === "core" || top === "model") return "core";
  if (FEATURES.includes(top)) return "feature";
  if (top === "adapters") return "adapter";
  return rest.includes("/") ? "outside" : "root";
}

export interface Import {
  specifier: string;
  /** The repository path it names (relative specifiers), or undefined for a library. */
  target?: string;
  typeOnly: boolean;
}

export function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith(".")
      ? posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, ".ts")
      : undefined;
    out.push({ specifier, target, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!named &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, allTypes);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const lit = node.argument.literal;
      if (ts.isStringLiteral(lit)) add(lit.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** What is wrong with one import of `file`, or undefined if the layers allow it. */
export function violation(file: string, imp: Import): string | undefined {
  const from = layerOf(file);
  if (from === "outside" || from === "root") return undefined;
  const where = `${file} imports "${imp.specifier}"`;
  if (!imp.target) {
    if (from === "adapter") return undefined;
    const lib = imp.specifier.startsWith("node:") ? imp.specifier : imp.specifier.split("/")[0]!;
    if (lib in CORE_LIBRARIES || lib in (FILE_LIBRARIES[file] ?? {})) return undefined;
    return `${where}: the ${from === "ports" ? "ports" : from} import no library nor node: module (put it in an adapter behind a port)`;
  }
  const to = layerOf(imp.target);
  if (from === "adapter") {
    if (to !== "feature" || imp.typeOnly || file in ADAPTER_USES_FEATURE) return undefined;
    return `${where}: an adapter imports only the types a feature declares (the composition root wires them)`;
  }
  if (to === "adapter") return `${where}: the ${from} never imports an adapter (use its port in core/ports)`;
  if (to === "root" && !(imp.typeOnly && ROOT_TYPES.includes(imp.target)))
    return `${where}: the ${from} never imports the composition root (src/bridge/*.ts); use a port`;
  if (to === "outside" && !imp.typeOnly && !PEOPLE_VOCABULARY.some((p) => imp.target!.startsWith(p)))
    return `${where}: outside the bridge the ${from} imports only the People vocabulary`;
  if (from === "ports" && to === "feature")
    return `${where}: a port imports only core, model and People types`;
  return undefined;
}

function bridgeFiles(dir = join(ROOT, BRIDGE)): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...bridgeFiles(p));
    else if (e.name.endsWith(".ts")) out.push(relative(ROOT, p).split(sep).join("/"));
  }
  return out.sort();
}

describe("bridge layers", () => {
  const files = bridgeFiles();

  it("sees every layer", () => {
    const layers = new Set(files.map(layerOf));
    for (const l of ["ports", "core", "feature", "adapter", "root"] as const)
      assert.ok(layers.has(l), `no ${l} file`);
    assert.equal(layerOf("src/bridge/core/ports/matrix-side.ts"), "ports");
    assert.equal(layerOf("src/bridge/adapters/store/portal-store.ts"), "adapter");
  });

  it("puts every folder of src/bridge in a layer (a new one must be classed here: feature, or under adapters/)", () => {
    const folders = readdirSync(join(ROOT, BRIDGE), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    const unknown = folders.filter((f) => !["core", "model", "adapters", ...FEATURES].includes(f));
    assert.deepEqual(unknown, [], "folders of src/bridge in no layer");
  });

  it("core, ports and features import no library, adapter or composition-root file", () => {
    const found = files.flatMap((file) =>
      importsOf(file, readFileSync(join(ROOT, file), "utf8")).flatMap((imp) => violation(file, imp) ?? []),
    );
    assert.deepEqual(found, [], `layer violations:\n${found.join("\n")}`);
  });

  it("flags each kind of violation with the offending import", () => {
    const check = (file: string, text: string) =>
      importsOf(file, text).flatMap((i) => violation(file, i) ?? []);
    assert.match(
      check("src/bridge/portals/a.ts", 'import pino from "pino";')[0] ?? "",
      /portals\/a.ts imports "pino"/,
    );
    assert.match(check("src/bridge/core/ports/a.ts", 'import { x } from "node:fs";')[0] ?? "", /no library/);
    assert.match(
      check("src/bridge/feeds/a.ts", 'import { S } from "../adapters/store/s.js";')[0] ?? "",
      /adapter/,
    );
    assert.match(
      check("src/bridge/calls/a.ts", 'const m = await import("../metrics.js");')[0] ?? "",
      /composition root/,
    );
    assert.match(
      check("src/bridge/core/a.ts", 'export { x } from "../logger.js";')[0] ?? "",
      /composition root/,
    );
    assert.match(
      check("src/bridge/adapters/x/a.ts", 'import { P } from "../../portals/p.js";')[0] ?? "",
      /feature/,
    );
    assert.deepEqual(check("src/bridge/adapters/x/a.ts", 'import type { P } from "../../portals/p.js";'), []);
    assert.match(
      check("src/bridge/portals/a.ts", 'import { c } from "../../people/client/people-client.js";')[0] ?? "",
      /People vocabulary/,
    );
    assert.match(
      check("src/bridge/core/ports/a.ts", 'import type { P } from "../../portals/p.js";')[0] ?? "",
      /port imports only/,
    );
    // Allowed: types from config, zod, ports from an adapter, People types.
    assert.deepEqual(
      check(
        "src/bridge/portals/a.ts",
        'import type { BridgeConfig } from "../config.js";\nimport { z } from "zod";\n' +
          'import type { C } from "../../people/client/people-client.js";\nimport { type X } from "../core/ports/store.js";',
      ),
      [],
    );
    assert.deepEqual(
      check(
        "src/bridge/adapters/store/a.ts",
        'import knex from "knex";\nimport type { S } from "../../core/ports/store.js";',
      ),
      [],
    );
  });
});
