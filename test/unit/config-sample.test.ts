// config.sample.yaml cannot drift from the bridge's config schema (which embeds
// the People server's `people:` section): every key of the schema is in the
// sample with the schema's default, and the sample has no key the schema does
// not know. A key added to the schema fails here until the sample has it.
import assert from "node:assert/strict";
import { resolve } from "node:path";
import type { z } from "zod";
import { bridgeConfigSchema, parseBridgeConfig } from "../../src/bridge/config.js";
import { readYamlFile } from "../../src/people/server/config.js";

const SAMPLE = resolve(__dirname, "..", "..", "config.sample.yaml");

/**
 * Keys where the sample shows an example instead of the default, each for its
 * reason. Keep this list short: everything else must be the default.
 */
const EXAMPLES_NOT_DEFAULTS: Record<string, string> = {
  // The default ({}) lets nobody use the bridge; the sample shows the two forms of an entry.
  "bridge.permissions": "an example, the default lets nobody in",
};

type Schema = z.core.$ZodType;

interface Leaf {
  path: string;
  /** The schema gives a value when the key is absent. */
  hasDefault: boolean;
  /** The key may be absent (optional, without a default). */
  optional: boolean;
}

function defOf(s: Schema): { type: string; innerType?: Schema; shape?: Record<string, Schema> } {
  return (
    s as unknown as { _zod: { def: { type: string; innerType?: Schema; shape?: Record<string, Schema> } } }
  )._zod.def;
}

/** The schema's keys down to the non-object values, with whether each has a default. */
function leaves(schema: Schema, prefix = "", inherited = { hasDefault: false, optional: false }): Leaf[] {
  let s = schema;
  let hasDefault = inherited.hasDefault;
  let optional = inherited.optional;
  for (;;) {
    const def = defOf(s);
    if (def.type === "default") hasDefault = true;
    else if (def.type === "optional") optional = true;
    else if (def.type !== "prefault") break;
    s = def.innerType!;
  }
  const def = defOf(s);
  if (def.type !== "object") return [{ path: prefix, hasDefault, optional: optional && !hasDefault }];
  // A section with prefault({}) is optional as a whole, but its own keys say whether they have defaults.
  return Object.entries(def.shape!).flatMap(([key, child]) =>
    leaves(child, prefix ? `${prefix}.${key}` : key, { hasDefault: false, optional: false }),
  );
}

function at(value: unknown, path: string): { found: boolean; value: unknown } {
  let node = value;
  for (const key of path.split(".")) {
    if (!node || typeof node !== "object" || !(key in node)) return { found: false, value: undefined };
    node = (node as Record<string, unknown>)[key];
  }
  return { found: true, value: node };
}

function setAt(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[keys.at(-1)!] = value;
}

/** Every key path of the sample down to the schema's leaves (a leaf's own contents, e.g. a record, not included). */
function samplePaths(value: unknown, leafPaths: Set<string>, prefix = ""): string[] {
  if (prefix && leafPaths.has(prefix)) return [prefix];
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    // An empty section (`tls:` with its keys commented out) is a section the schema knows.
    const isSection = value == null && [...leafPaths].some((p) => p.startsWith(`${prefix}.`));
    return isSection ? [] : [prefix];
  }
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    samplePaths(v, leafPaths, prefix ? `${prefix}.${k}` : k),
  );
}

describe("config.sample.yaml against the config schema", () => {
  const raw = readYamlFile(SAMPLE);
  const all = leaves(bridgeConfigSchema);
  const leafPaths = new Set(all.map((l) => l.path));

  it("walks the schema, the people: section included", () => {
    for (const path of ["homeserver.url", "bridge.groups.max_ghosts", "people.limits.request_timeout"])
      assert.ok(leafPaths.has(path), `${path} not found in the schema`);
    assert.ok(all.length > 50, `only ${all.length} keys found`);
  });

  it("loads through the schema", () => {
    assert.doesNotThrow(() => parseBridgeConfig(raw));
  });

  it("has every key of the schema (optional keys without a default may be left out)", () => {
    const missing = all.filter((l) => !l.optional && !at(raw, l.path).found).map((l) => l.path);
    assert.deepEqual(missing, [], "keys of the schema missing from config.sample.yaml");
  });

  it("has no key the schema does not know", () => {
    const unknown = samplePaths(raw, leafPaths).filter((p) => !leafPaths.has(p));
    assert.deepEqual(unknown, [], "keys of config.sample.yaml the schema does not know");
  });

  it("gives every key with a default that default, as the schema reads both", () => {
    // Durations and the like are compared after parsing: "1d" in the sample equals 86400000 in the schema.
    const sample = parseBridgeConfig(raw);
    // Only the keys that have no default, with the sample's values: the schema fills in the rest.
    const required: Record<string, unknown> = {};
    for (const l of all.filter((x) => !x.hasDefault && !x.optional))
      setAt(required, l.path, at(raw, l.path).value);
    const defaults = parseBridgeConfig(required);
    const differing = all
      .filter((l) => l.hasDefault && !(l.path in EXAMPLES_NOT_DEFAULTS))
      .filter((l) => {
        try {
          assert.deepEqual(at(sample, l.path).value, at(defaults, l.path).value);
          return false;
        } catch {
          return true;
        }
      })
      .map(
        (l) =>
          `${l.path}: sample ${JSON.stringify(at(sample, l.path).value)}, default ${JSON.stringify(at(defaults, l.path).value)}`,
      );
    assert.deepEqual(differing, [], "keys whose sample value is not the schema's default");
  });

  it("keeps the list of example values to keys that exist", () => {
    for (const path of Object.keys(EXAMPLES_NOT_DEFAULTS))
      assert.ok(leafPaths.has(path), `${path} is not a key`);
  });
});
