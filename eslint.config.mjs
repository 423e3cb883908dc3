import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".cache/", "data/", "vendor/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": "off",
    },
  },
  {
    // The bridge's core (registry, ports, errors) imports no library; which of the bridge's own
    // folders it may import is checked by test/unit/bridge-layers.test.ts.
    files: ["src/bridge/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "^[^.]", message: "src/bridge/core imports no library (node built-ins included)" },
          ],
        },
      ],
    },
  },
  {
    // The protocol and the People server never depend on the bridge.
    files: ["src/people/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/bridge/**", "**/bridge"], message: "src/people never imports src/bridge" },
          ],
        },
      ],
    },
  },
  {
    // Shared helpers sit below everything: they import no other part of src (node built-ins only).
    files: ["src/shared/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/bridge/**", "**/bridge"], message: "src/shared never imports src/bridge" },
            { group: ["**/people/**", "**/people"], message: "src/shared never imports src/people" },
            { group: ["**/store/**", "**/store"], message: "src/shared never imports src/store" },
          ],
        },
      ],
    },
  },
  {
    // The protocol and the network layer are shared by the client and the server, so they import neither.
    files: ["src/people/protocol/**/*.ts", "src/people/net/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/bridge/**", "**/bridge"], message: "src/people never imports src/bridge" },
            {
              group: ["**/client/**", "**/server/**", "**/cli/**"],
              message: "the protocol and net layers never import the People client, server or CLI",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: {
        require: "readonly",
        module: "writable",
        process: "readonly",
        console: "readonly",
        __dirname: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
