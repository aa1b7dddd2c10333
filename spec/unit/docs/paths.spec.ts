// Every file path the living documents name must exist, so the docs cannot
// silently drift from the code (Zulip's and Dendrite's docs did).
import { expect } from "chai";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../support/spec-data.ts";

const ROOTS = ["server", "federation", "workers", "admin-cli", "migrations", "spec", "bench", "scripts", "documentation-living", ".ci"];
const PATH = new RegExp(`(?:^|[\\s\`(])((?:${ROOTS.map((r) => r.replace(".", "\\.")).join("|")})/[A-Za-z0-9_./-]*[A-Za-z0-9_/])`, "g");

describe("living documentation", () => {
  it("names only paths that exist", () => {
    const docs = readdirSync(join(repoRoot, "documentation-living")).filter((f) => f.endsWith(".md"));
    expect(docs.length).to.be.greaterThan(4);
    const missing: string[] = [];
    let checked = 0;
    for (const doc of [...docs.map((d) => `documentation-living/${d}`), "README.md"]) {
      const text = readFileSync(join(repoRoot, doc), "utf8");
      for (const m of text.matchAll(PATH)) {
        const path = m[1]!.replace(/\/$/, "");
        if (path.includes("*") || path.includes("<")) continue;
        checked += 1;
        if (!existsSync(join(repoRoot, path))) missing.push(`${doc}: ${path}`);
      }
    }
    expect(checked).to.be.greaterThan(50);
    expect(missing).to.deep.equal([]);
  });
});
