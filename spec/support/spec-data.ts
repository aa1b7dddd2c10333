// Locates the Matrix spec's machine-readable data (../shared/matrix-spec beside
// the repository, or MATRIX_SPEC_DIR). Tests read it at run time; nothing from
// it is copied into this repository.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { repoRoot } from "./repo-root.ts";

export { repoRoot };

export const specDataDir = process.env.MATRIX_SPEC_DIR ?? resolve(repoRoot, "../shared/matrix-spec");

if (!existsSync(resolve(specDataDir, "test-vectors.json"))) {
  throw new Error(`Matrix spec data not found at ${specDataDir}; set MATRIX_SPEC_DIR`);
}

export interface TestVector {
  id: string;
  name: string;
  spec_section?: string;
  checks?: string;
  inputs?: unknown;
  expected?: unknown;
  cases?: unknown[];
  [key: string]: unknown;
}

export interface TestVectorsFile {
  common: Record<string, unknown>;
  vectors: TestVector[];
  [key: string]: unknown;
}

export function loadTestVectors(): TestVectorsFile {
  return JSON.parse(readFileSync(resolve(specDataDir, "test-vectors.json"), "utf8")) as TestVectorsFile;
}
