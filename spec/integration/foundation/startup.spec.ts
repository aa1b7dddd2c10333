// Start-up behaviour as an operator sees it: `npm start` on first run, and
// several processes racing to migrate an empty database.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { TestClient } from "../../support/http-client.ts";
import { repoRoot } from "../../support/spec-data.ts";
import { startServer } from "../../support/server-process.ts";
import { dropDatabase } from "../../support/admin-db.ts";
import { databaseUrl } from "../../support/test-env.ts";

describe("start-up (real server processes)", function () {
  this.timeout(120_000);

  it("`npm start` generates config, signing key and TLS pair on first run and serves /versions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "myelin-first-run-"));
    const configPath = join(dir, "homeserver.yaml");
    const name = `myelin_first_run_${process.pid}`;
    const child = spawn("npm", ["start", "--silent", "--", "--config", configPath], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl(name),
        MYELIN__listeners__client__port: "0",
        MYELIN__listeners__federation__port: "0",
        MYELIN__listeners__federation__bind_addresses: "[127.0.0.1]",
        MYELIN__logging__format: "json",
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: npm does not pass signals on to the server it starts.
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on("data", (c: Buffer) => {
          stdout += c.toString();
          const m = /"listener":"client","host":"[^"]+","port":(\d+)/.exec(stdout);
          if (m) resolve(Number(m[1]));
        });
        child.once("exit", (code) => reject(new Error(`npm start exited ${code}: ${stderr}`)));
      });
      const res = await new TestClient(`http://127.0.0.1:${port}`).get<{ versions: string[] }>("/_matrix/client/versions");
      expect(res.status).to.equal(200);
      expect(stderr).to.contain("generated");
      const config = readFileSync(configPath, "utf8");
      expect(config).to.match(/server_name: localhost/);
      expect(config).to.match(/registration_shared_secret: \S{32,}/);
      const key = readFileSync(join(dir, "localhost.signing.key"), "utf8");
      expect(key).to.match(/^ed25519 [A-Za-z0-9_]+ [A-Za-z0-9+/]{43}\n?$/);
      expect(existsSync(join(dir, "localhost.tls.crt"))).to.equal(true);
    } finally {
      process.kill(-child.pid!, "SIGTERM");
      await new Promise((r) => child.once("exit", r));
      await dropDatabase(name);
    }
  });

  it("two processes started together on an empty database both come up, migrations applied once", async () => {
    const name = `myelin_race_${process.pid}_${Date.now()}`;
    const url = databaseUrl(name);
    try {
      const [a, b] = await Promise.all([startServer({ env: { DATABASE_URL: url } }), startServer({ env: { DATABASE_URL: url } })]);
      try {
        for (const s of [a, b]) expect((await new TestClient(s.baseUrl).get("/_matrix/client/versions")).status).to.equal(200);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { rows } = await client.query<{ name: string; n: string }>("SELECT name, count(*) AS n FROM schema_migrations GROUP BY name");
        await client.end();
        expect(rows.length).to.be.greaterThan(0);
        for (const row of rows) expect(Number(row.n), row.name).to.equal(1);
        const appliedBy = [a, b].filter((s) => s.logs().some((l) => l.msg === "database migrations applied"));
        expect(appliedBy).to.have.length(1);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    } finally {
      await dropDatabase(name);
    }
  });
});
