// SIGTERM lets an in-flight request finish, then the process exits 0 in time.
import { expect } from "chai";
import { request } from "node:http";
import { startServer } from "../../support/server-process.ts";

describe("graceful shutdown (real server process)", function () {
  this.timeout(60_000);

  it("completes a slow in-flight request after SIGTERM and exits 0 within 10 s", async () => {
    const server = await startServer();
    const url = new URL(`${server.baseUrl}/_matrix/client/v3/login`);
    const body = JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "nobody" }, password: "x".repeat(40) });
    // The body trickles in over ~1.5 s, so the request is in flight when SIGTERM arrives.
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      const chunks = body.match(/.{1,10}/g) ?? [];
      let i = 0;
      const tick = setInterval(() => {
        const chunk = chunks[i++];
        if (chunk === undefined) {
          clearInterval(tick);
          req.end();
        } else req.write(chunk);
      }, 1500 / chunks.length);
    });
    await new Promise((r) => setTimeout(r, 300));
    const signalled = Date.now();
    server.child.kill("SIGTERM");
    const answer = await response;
    expect(answer.status).to.equal(403);
    expect(JSON.parse(answer.body)).to.include({ errcode: "M_FORBIDDEN" });
    const exit = await server.exited;
    expect(exit.code).to.equal(0);
    expect(Date.now() - signalled).to.be.below(10_000);
    expect(server.logs().some((l) => l.msg === "shutdown complete")).to.equal(true);
  });
});
