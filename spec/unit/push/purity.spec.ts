// server/push must stay free of I/O: the evaluator runs inside the event
// pipeline and the tests run it without services. This mirrors the
// server/protocol purity check, including dynamic imports and `require`.
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

describe("server/push purity", () => {
  it("imports no I/O module, statically or dynamically, and only pure local modules", () => {
    const offenders: string[] = [];
    const all = files(join(repoRoot, "server/push"));
    expect(all.length).to.be.greaterThanOrEqual(4);
    for (const file of all) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)["']([^"']+)["']/g)) {
        const spec = m[1]!;
        if (FORBIDDEN.test(spec)) offenders.push(`${file}: ${spec}`);
        // Relative imports may only reach this folder, server/protocol and server/errors.
        else if (spec.startsWith(".") && !/^\.\/[\w-]+\.ts$|^\.\.\/(protocol|errors)\/[\w/-]+\.ts$/.test(spec)) offenders.push(`${file}: ${spec}`);
        else if (!spec.startsWith(".")) offenders.push(`${file}: ${spec} (no packages)`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });
});
