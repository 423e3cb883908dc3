// Writes test/vectors/envelope-v1.json. Run only when the wire format changes
// on purpose (and bump the version): the committed file is what other
// implementations check themselves against.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildEnvelopeVectors } from "../test/helpers/envelope-vectors.js";

const path = join(__dirname, "..", "test", "vectors", "envelope-v1.json");
writeFileSync(path, JSON.stringify(buildEnvelopeVectors(), null, 2) + "\n");
console.log(`wrote ${path}`);
