// The errcode registry and documentation-living/errors.md must list the same
// codes (Fastify's drift test): a code added in one place fails until documented.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERRCODES } from "../../../server/errors/errcodes.ts";
import { MatrixError } from "../../../server/errors/matrix-error.ts";
import { repoRoot } from "../../support/spec-data.ts";

describe("errcode registry", () => {
  it("matches documentation-living/errors.md in both directions", () => {
    const doc = readFileSync(join(repoRoot, "documentation-living/errors.md"), "utf8");
    const documented = new Set([...doc.matchAll(/^\| `(M_[A-Z_]+)` \|/gm)].map((m) => m[1]!));
    expect([...documented].sort()).to.deep.equal([...ERRCODES].sort());
  });

  it("serialises as the spec's error body with extra fields at the top level", () => {
    const err = new MatrixError(429, "M_LIMIT_EXCEEDED", "slow down", { retry_after_ms: 1500 });
    expect(err.toJSON()).to.deep.equal({ errcode: "M_LIMIT_EXCEEDED", error: "slow down", retry_after_ms: 1500 });
  });
});
