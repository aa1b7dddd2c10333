// server/protocol must stay free of I/O so the client API, federation and the
// tests share it without services. eslint enforces the same rule; this test
// also catches dynamic imports and `require` that a lint rule could miss.
import { expect } from "chai";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../support/spec-data.ts";

const FORBIDDEN = /^(pg|express|ws|bullmq|ioredis|node-pg-migrate|@elastic\/elasticsearch|(node:)?(net|http|https|http2|fs|fs\/promises|child_process|dgram|dns|tls|worker_threads|cluster))$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("server/protocol purity", () => {
  it("imports no I/O module, statically or dynamically", () => {
    const offenders: string[] = [];
    const all = files(join(repoRoot, "server/protocol"));
    expect(all.length).to.be.greaterThan(10);
    for (const file of all) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)["']([^"']+)["']/g)) {
        if (FORBIDDEN.test(m[1]!)) offenders.push(`${file}: ${m[1]}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });
});
