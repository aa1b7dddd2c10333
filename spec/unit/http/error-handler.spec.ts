// The error handler on a real express app over real HTTP: Matrix errors pass
// through untouched; anything else is logged once with its stack and hidden.
import { expect } from "chai";
import express from "express";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { MatrixError } from "../../../server/errors/matrix-error.ts";
import { errorHandler, requestLogging } from "../../../server/http/middleware.ts";
import { createLogger } from "../../../server/observability/logger.ts";
import { createMetrics } from "../../../server/observability/metrics.ts";

describe("errorHandler", () => {
  it("answers an unexpected exception 500 M_UNKNOWN without internals and logs it once with its stack", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    });
    const log = createLogger({ level: "info", format: "json", destination: sink });
    const app = express();
    app.use(requestLogging(log, createMetrics(() => undefined)));
    app.get("/boom", () => {
      throw new Error("secret internal detail at /srv/db.ts");
    });
    app.get("/matrix", () => {
      throw new MatrixError(403, "M_FORBIDDEN", "not yours");
    });
    app.use(errorHandler());
    const server = app.listen(0);
    await new Promise((r) => server.once("listening", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const res = await fetch(`${base}/boom`);
      expect(res.status).to.equal(500);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.errcode).to.equal("M_UNKNOWN");
      expect(JSON.stringify(body)).not.to.contain("secret internal detail");

      const forbidden = await fetch(`${base}/matrix`);
      expect(forbidden.status).to.equal(403);
      expect(await forbidden.json()).to.deep.equal({ errcode: "M_FORBIDDEN", error: "not yours" });

      await new Promise((r) => setTimeout(r, 50));
      const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { stack?: string } }).filter((l) => l.level >= 50);
      expect(errors).to.have.length(1);
      expect(errors[0]!.msg).to.equal("unhandled error");
      expect(errors[0]!.err?.stack).to.contain("secret internal detail");
    } finally {
      server.close();
    }
  });
});
