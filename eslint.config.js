// Lint rules. The protocol layer must stay pure: it is shared by the client API
// and federation and is tested against the spec's vectors without any service.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const ioModules = ["pg", "express", "ws", "bullmq", "ioredis", "node-pg-migrate", "@elastic/elasticsearch",
  "node:net", "node:http", "node:https", "node:fs", "node:fs/promises", "node:child_process", "node:dgram",
  "node:dns", "node:tls", "net", "http", "https", "fs", "child_process", "dns", "tls"];

export default tseslint.config(
  { ignores: ["node_modules/**", "data/**", ".venv/**", ".venv-synapse/**", ".venv-moto/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable", process: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", Buffer: "readonly", URL: "readonly", TextEncoder: "readonly", TextDecoder: "readonly", AbortController: "readonly", fetch: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "error",
    },
  },
  {
    // Only server/storage talks to PostgreSQL directly.
    files: ["server/**/*.ts", "federation/**/*.ts", "workers/**/*.ts", "admin-cli/**/*.ts"],
    ignores: ["server/storage/**"],
    rules: {
      "no-restricted-imports": ["error", { paths: [{ name: "pg", message: "Only server/storage imports pg." }] }],
    },
  },
  {
    files: ["server/protocol/**/*.ts", "server/push/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: ioModules.map((name) => ({ name, message: "server/protocol and server/push are pure: no I/O imports." })) }],
    },
  },
  {
    files: ["spec/**/*.ts", "scripts/**/*.ts", "bench/**/*.ts", "admin-cli/**/*.ts"],
    rules: { "no-console": "off" },
  },
  {
    // Tests and benchmarks walk arbitrary JSON response bodies.
    files: ["spec/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
