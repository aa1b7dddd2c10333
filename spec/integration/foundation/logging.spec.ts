// Secrets sent by a client never reach the log, while the request itself is logged.
import { expect } from "chai";
import { TestClient } from "../../support/http-client.ts";
import { startServer } from "../../support/server-process.ts";

describe("log redaction (real server process)", function () {
  this.timeout(60_000);

  it("logs the request with its id, route and status but never the password or the token", async () => {
    const server = await startServer();
    const password = "hunter2-correct-horse-battery";
    const token = "syt_c2VjcmV0_TOKENVALUE_0123456789";
    try {
      const api = new TestClient(server.baseUrl);
      await api.post(
        `/_matrix/client/v3/login?access_token=${token}`,
        { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password },
        { token, headers: { "X-Request-Id": "redaction-probe" } },
      );
      await api.get(`/_matrix/client/v3/account/whoami?access_token=${token}`, { token, unspecified: true });
    } finally {
      await server.stop();
    }
    const all = server.stdout.join("\n") + server.stderr.join("\n");
    const line = server.logs().find((l) => l.reqId === "redaction-probe" && l.msg === "request");
    expect(line, "the request was logged").to.not.equal(undefined);
    expect(line).to.include({ method: "POST", route: "/_matrix/client/v3/login" });
    expect(all).not.to.contain(password);
    expect(all).not.to.contain(token);
    expect(all).not.to.contain("TOKENVALUE");
  });
});
