// Bad configuration and unreachable services end the process with one line on
// stderr that names the problem, a distinct exit code and no stack trace.
import { expect } from "chai";
import { startServer, type RunningServer } from "../../support/server-process.ts";

function expectOneLineError(server: RunningServer, pattern: RegExp): void {
  const lines = server.stderr.filter((l) => l.trim() !== "");
  expect(lines, server.stderr.join("\n")).to.have.length(1);
  expect(lines[0]).to.match(/^myelin: /);
  expect(lines[0]).to.match(pattern);
  expect(server.stderr.join("\n")).not.to.match(/\n\s+at /);
  expect(server.stdout.join("\n")).not.to.match(/\s+at .*\.ts:\d+/);
}

describe("configuration errors (real server process)", function () {
  this.timeout(60_000);

  it("rejects YAML that does not parse", async () => {
    const server = await startServer({ rawConfig: "server_name: [unclosed\n", expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /not valid YAML/);
  });

  it("rejects an unknown key, naming it", async () => {
    const server = await startServer({ config: { listeners: { client: { prot: 8008 } } }, expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /unknown key "listeners\.client\.prot"/);
  });

  it("rejects a value of the wrong type, naming the key", async () => {
    const server = await startServer({ config: { listeners: { client: { port: "eighty" } } }, expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /"listeners\.client\.port" must be of type integer/);
  });

  it("rejects a missing required key, naming it", async () => {
    const server = await startServer({ rawConfig: "server_name: localhost\n", expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /missing required key "signing_key_path"/);
  });

  it("rejects a wrong type given through an environment override", async () => {
    const server = await startServer({ env: { MYELIN__limits__max_json_body_bytes: "lots" }, expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /"limits\.max_json_body_bytes" must be of type integer/);
  });

  it("rejects a server_name that is not a Matrix server name", async () => {
    const server = await startServer({ config: { server_name: "bad name:99999999" }, expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /server_name "bad name:99999999" is not a valid Matrix server name/);
  });

  it("rejects a client base URL that is not a URL", async () => {
    const server = await startServer({ config: { well_known: { client_base_url: "https://exa mple.org" } }, expectExit: true });
    expect((await server.exited).code).to.equal(2);
    expectOneLineError(server, /client base URL "https:\/\/exa mple\.org" is not a valid URL/);
  });

  it("reports an unreachable database in one line saying what to fix", async () => {
    const server = await startServer({ env: { DATABASE_URL: "postgres://nobody@127.0.0.1:1/myelin" }, expectExit: true });
    expect((await server.exited).code).to.equal(3);
    expectOneLineError(server, /cannot connect to PostgreSQL at 127\.0\.0\.1:1.*DATABASE_URL/);
  });

  it("reports an unreachable Redis in one line saying how to start it", async () => {
    const server = await startServer({ env: { REDIS_URL: "redis://127.0.0.1:1" }, expectExit: true });
    expect((await server.exited).code).to.equal(3);
    expectOneLineError(server, /cannot reach Redis at 127\.0\.0\.1:1.*redis-server/);
  });

  it("reports a port already in use", async () => {
    const first = await startServer();
    try {
      const port = new URL(first.baseUrl).port;
      const second = await startServer({ env: { MYELIN__listeners__client__port: port }, expectExit: true });
      expect((await second.exited).code).to.equal(2);
      expectOneLineError(second, /cannot listen for client on 127\.0\.0\.1:\d+: another process uses it/);
    } finally {
      await first.stop();
    }
  });
});
