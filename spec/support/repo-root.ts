// The repository's root folder, for support code that runs outside mocha too
// (the benchmarks), where the Matrix spec data spec-data.ts insists on may be absent.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
