// The benchmark's statement counter (bench/lib/pg-counter.ts): a proxy in
// front of the real PostgreSQL that both servers connect through. Its counts
// are only worth quoting if they are exact, so: every statement counted once
// by its tag whichever protocol carried it, rows counted, messages split
// across reads handled, SSL requests refused so sessions stay readable.
import { expect } from "chai";
import { connect, type AddressInfo } from "node:net";
import pg from "pg";
import { createCountingProxy, normalizeStatement, SessionCounter, type DatabaseCounts } from "../../../bench/lib/pg-counter.ts";
import { testDatabaseName, testServerUrl } from "../../support/test-env.ts";

function message(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, "latin1");
  header.writeInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}

function empty(): DatabaseCounts {
  return { statements: 0, byCommand: {}, rows: 0, connections: 0, bytesToServer: 0, bytesFromServer: 0, byStatement: {} };
}

describe("bench: PostgreSQL statement counter", function () {
  this.timeout(20_000);

  it("reads messages split at any byte boundary and gives each round trip its statements and rows", () => {
    const request = message("Q", Buffer.from("SELECT 1; INSERT INTO t VALUES ('x', 42)\0"));
    const answer = Buffer.concat([
      message("T", Buffer.from("rowdescription")),
      message("D", Buffer.from("row one")),
      message("D", Buffer.from("")),
      message("C", Buffer.from("SELECT 2\0")),
      message("C", Buffer.from("INSERT 0 1\0")),
      message("Z", Buffer.from("I")),
    ]);
    for (const step of [1, 2, 3, 7, answer.length]) {
      const counts = empty();
      const session = new SessionCounter(counts);
      for (let at = 0; at < request.length; at += step) session.frontend.feed(request.subarray(at, at + step));
      for (let at = 0; at < answer.length; at += step) session.backend.feed(answer.subarray(at, at + step));
      expect(counts, `chunks of ${step}`).to.deep.include({ statements: 2, byCommand: { SELECT: 1, INSERT: 1 }, rows: 2 });
      expect(counts.byStatement).to.have.all.keys("SELECT ?; INSERT INTO t VALUES (…)");
      expect(counts.byStatement["SELECT ?; INSERT INTO t VALUES (…)"]).to.include({ calls: 1, statements: 2, rows: 2 });
    }
  });

  it("folds literals, so one query shape is one key whichever driver sent it", () => {
    expect(normalizeStatement("SELECT * FROM events WHERE room_id = '!a:b' AND n > 5 AND id IN ('x', 'y''s', 'z')")).to.equal("SELECT * FROM events WHERE room_id = ? AND n > ? AND id IN (…)");
    expect(normalizeStatement("SELECT  *\n FROM e2 WHERE room_id = $1 AND id = ANY($2)")).to.equal("SELECT * FROM e2 WHERE room_id = $1 AND id = ANY($2)");
    expect(normalizeStatement("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL)")).to.equal("INSERT INTO t VALUES (…)");
  });

  describe("through a proxy in front of the real server", () => {
    const { server, counts } = createCountingProxy({ host: new URL(testServerUrl).hostname, port: Number(new URL(testServerUrl).port || 5432) });
    let port = 0;
    before((done) => {
      server.listen(0, "127.0.0.1", () => {
        port = (server.address() as AddressInfo).port;
        done();
      });
    });
    after((done) => {
      server.close(() => done());
    });

    it("counts each statement once by its tag, over the simple and the extended protocol, and the rows sent back", async () => {
      const url = new URL(testServerUrl);
      const client = new pg.Client({ host: "127.0.0.1", port, user: decodeURIComponent(url.username) || undefined, database: testDatabaseName });
      const before = structuredClone(counts[testDatabaseName] ?? empty());
      await client.connect();
      await client.query("SELECT 1"); // simple protocol
      await client.query("SELECT $1::int AS n FROM generate_series(1, 5)", [7]); // extended protocol, 5 rows
      await client.query("BEGIN");
      await client.query("CREATE TEMP TABLE counted (n int)");
      await client.query("INSERT INTO counted VALUES (1), (2)");
      await client.query("COMMIT");
      await client.query("SELECT 1; SELECT 2; SELECT 3"); // one Query message, three statements
      await client.query("SELECT * FROM no_such_table").catch(() => undefined); // an error completes nothing
      await client.query("SELECT pg_sleep($1)", [0.05]);
      await client.query("SELECT pg_sleep($1)", [0.05]);
      await client.end();
      const after = counts[testDatabaseName]!;
      expect(after.statements - before.statements).to.equal(11);
      const delta = (command: string) => (after.byCommand[command] ?? 0) - (before.byCommand[command] ?? 0);
      expect({ SELECT: delta("SELECT"), BEGIN: delta("BEGIN"), CREATE: delta("CREATE"), INSERT: delta("INSERT"), COMMIT: delta("COMMIT") }).to.deep.equal({ SELECT: 7, BEGIN: 1, CREATE: 1, INSERT: 1, COMMIT: 1 });
      expect(after.rows - before.rows).to.equal(1 + 5 + 3 + 2);
      expect(after.connections - before.connections).to.equal(1);
      // Per statement shape: both sleeps under one key, with their time; the failed query a call with no statement.
      const sleep = after.byStatement["SELECT pg_sleep($1)"]!;
      expect(sleep).to.include({ calls: 2, statements: 2, rows: 2 });
      expect(sleep.ms).to.be.within(100, 2000);
      expect(after.byStatement["SELECT * FROM no_such_table"]).to.include({ calls: 1, statements: 0 });
      expect(after.byStatement["SELECT ?; SELECT ?; SELECT ?"]).to.include({ calls: 1, statements: 3, rows: 3 });
    });

    it("answers an SSL request with N itself, so the session that follows stays plain and readable", async () => {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1", () => {
          const request = Buffer.alloc(8);
          request.writeInt32BE(8, 0);
          request.writeInt32BE(80877103, 4);
          socket.write(request);
        });
        socket.once("data", (data) => {
          resolve(data.toString("latin1"));
          socket.destroy();
        });
        socket.once("error", reject);
      });
      expect(answer).to.equal("N");
    });
  });
});
