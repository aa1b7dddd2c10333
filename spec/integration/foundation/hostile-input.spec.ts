// Hostile and broken input through a real server process: deeply nested and
// malformed JSON, NUL bytes and bad percent-encoding in paths, bodies that
// are too large or never end, slow clients, oversized request lines and
// headers. Each must get the spec's error (never a 500, never a silent reset)
// and none may tie up a connection for long. fetch cannot send most of these,
// so they go over raw sockets (spec/support/raw-http.ts).
import { expect } from "chai";
import { StreamClient } from "../../../server/sync/stream/client.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { RawConnection, type RawResponse } from "../../support/raw-http.ts";
import { createRoom, room, sendText, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const MiB = 1024 * 1024;

/** `depth` nested objects around an empty one: {"a":{"a":...{}...}}. */
function nestedObjects(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;
}

function request(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = Object.entries({ Host: "localhost", ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
}

function expectMatrixError(res: RawResponse | undefined, status: number, errcode: string): RawResponse {
  expect(res, "no response").to.not.equal(undefined);
  expect(res!.status, res!.text).to.equal(status);
  expect(res!.body).to.include({ errcode });
  expect(res!.body!.error).to.be.a("string");
  return res!;
}

/** The refusal arrived with `Connection: close` and the server then closed the connection. */
async function expectRefusedAndClosed(conn: RawConnection, status: number, errcode: string): Promise<RawResponse> {
  const res = expectMatrixError(await conn.waitForResponse(3000), status, errcode);
  expect(res.headers.connection).to.equal("close");
  expect(await conn.waitForClose(5000), "server closed the connection").to.be.a("number");
  conn.close();
  return res;
}

function noServerErrors(server: RunningServer): void {
  const errors = server.logs().filter((l) => (l.level as number) >= 50);
  expect(errors.map((e) => e.err ?? e.msg)).to.deep.equal([]);
}

describe("hostile input: JSON bodies and path parameters (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let roomId: string;
  let accountData: (type: string) => string;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
    roomId = await createRoom(api, alice);
    accountData = (type) => `${V3}/user/${encodeURIComponent(alice.user_id)}/account_data/${type}`;
  });
  after(async () => {
    await server?.stop();
  });

  /** Sends raw bytes as the body of an authenticated request. */
  async function sendBytes(method: string, path: string, bytes: Uint8Array | string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(server.baseUrl + path, {
      method,
      headers: { Authorization: `Bearer ${alice.access_token}`, "Content-Type": "application/json" },
      body: typeof bytes === "string" ? bytes : Buffer.from(bytes),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function stored(type: string): Promise<number> {
    return (await api.get(accountData(type), { token: alice.access_token })).status;
  }

  describe("nesting depth", () => {
    it("answers a filter nested 10,000 deep with 400 M_BAD_JSON, not a stack overflow", async () => {
      const res = await sendBytes("POST", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter`, `{"room":${nestedObjects(10_000)}}`);
      expect(res.status).to.equal(400);
      expect(res.body.errcode).to.equal("M_BAD_JSON");
      noServerErrors(server);
    });

    it("accepts nesting up to 1000 levels and refuses 1001 on every JSON body (account data here)", async () => {
      const ok = await sendBytes("PUT", accountData("org.example.deep"), nestedObjects(1000));
      expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
      const deeper = await sendBytes("PUT", accountData("org.example.deeper"), nestedObjects(1001));
      expect(deeper.status).to.equal(400);
      expect(deeper.body.errcode).to.equal("M_BAD_JSON");
      expect(await stored("org.example.deeper")).to.equal(404);
      const arrays = await sendBytes("PUT", accountData("org.example.arrays"), `{"a":${"[".repeat(5000)}${"]".repeat(5000)}}`);
      expect(arrays.body.errcode).to.equal("M_BAD_JSON");
    });
  });

  describe("U+0000", () => {
    it("refuses a NUL in a path id with 400 M_INVALID_PARAM before it reaches PostgreSQL", async () => {
      for (const path of [`${room(roomId)}/event/$a%00b`, `${room(roomId)}/context/$a%00b`, accountData("x%00y"), `${room(roomId)}/state/m.room.topic/a%00b`]) {
        const res = await api.get(path, { token: alice.access_token, unspecified: true });
        expect(res.status, path).to.equal(400);
        expect(res.body, path).to.include({ errcode: "M_INVALID_PARAM" });
      }
      const query = await api.get(`${room(roomId)}/messages?dir=b&from=t1%00_1`, { token: alice.access_token, unspecified: true });
      expect(query.status).to.equal(400);
      expect(query.body).to.include({ errcode: "M_INVALID_PARAM" });
      noServerErrors(server);
    });

    it("refuses \\u0000 anywhere in a JSON body with 400 M_BAD_JSON (jsonb and text columns cannot hold it)", async () => {
      const cases: Array<[string, string, string]> = [
        ["POST", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter`, '{"room":{"not_types":["a\\u0000b"]}}'],
        ["PUT", accountData("org.example.nul"), '{"a":"a\\u0000b"}'],
        ["PUT", accountData("org.example.nulkey"), '{"k\\u0000":1}'],
        ["PUT", `${V3}/profile/${encodeURIComponent(alice.user_id)}/displayname`, '{"displayname":"a\\u0000b"}'],
        ["PUT", `${room(roomId)}/send/m.room.message/nul1`, '{"msgtype":"m.text","body":"a\\u0000b"}'],
      ];
      for (const [method, path, raw] of cases) {
        const res = await sendBytes(method, path, raw);
        expect(res.status, `${path} ${JSON.stringify(res.body)}`).to.equal(400);
        expect(res.body.errcode, path).to.equal("M_BAD_JSON");
      }
      expect(await stored("org.example.nul")).to.equal(404);
      noServerErrors(server);
    });
  });

  describe("percent-encoding", () => {
    it("answers bad percent-encoding in a path parameter with 400 M_INVALID_PARAM", async () => {
      for (const path of [`${V3}/rooms/%zz/state`, `${V3}/rooms/%c0%af/state`, `${V3}/rooms/%ff/state`, `${V3}/rooms/%e2%82/state`]) {
        const res = await api.get(path, { token: alice.access_token, unspecified: true });
        expect(res.status, path).to.equal(400);
        expect(res.body, path).to.include({ errcode: "M_INVALID_PARAM" });
      }
      noServerErrors(server);
    });

    it("answers bad percent-encoding on a path no route matches with 404 M_UNRECOGNIZED", async () => {
      const res = await api.get(`${V3}/no-such-thing/%zz`, { token: alice.access_token });
      expect(res.status).to.equal(404);
      expect(res.body).to.include({ errcode: "M_UNRECOGNIZED" });
    });
  });

  describe("text of the body", () => {
    it("refuses a body that is not UTF-8 with 400 M_NOT_JSON and stores nothing", async () => {
      const invalid: Array<[string, number[]]> = [
        ["a lone continuation byte", [0x80]],
        ["0xff", [0xff]],
        ["an overlong '/'", [0xc0, 0xaf]],
        ["a truncated sequence", [0xe2, 0x82]],
        ["an encoded surrogate", [0xed, 0xa0, 0x80]],
        ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
      ];
      for (const [what, bytes] of invalid) {
        const body = Buffer.concat([Buffer.from('{"a":"x'), Buffer.from(bytes), Buffer.from('y"}')]);
        const res = await sendBytes("PUT", accountData("org.example.utf8"), body);
        expect(res.status, what).to.equal(400);
        expect(res.body.errcode, what).to.equal("M_NOT_JSON");
      }
      expect(await stored("org.example.utf8")).to.equal(404);
    });

    it("keeps valid multi-byte UTF-8 intact", async () => {
      const text = "héllo ✓ 𝄞 \u2028";
      const res = await sendBytes("PUT", accountData("org.example.unicode"), Buffer.from(JSON.stringify({ text }), "utf8"));
      expect(res.status).to.equal(200);
      const back = await api.get<{ text: string }>(accountData("org.example.unicode"), { token: alice.access_token });
      expect(back.body.text).to.equal(text);
    });

    it("refuses duplicate keys with 400 M_BAD_JSON (canonical JSON cannot represent them), also when spelled differently", async () => {
      for (const raw of ['{"a":1,"a":2}', '{"a":1,"\\u0061":2}', '{"outer":{"b":[],"b":{}}}']) {
        const res = await sendBytes("PUT", accountData("org.example.dup"), raw);
        expect(res.status, raw).to.equal(400);
        expect(res.body.errcode, raw).to.equal("M_BAD_JSON");
      }
      expect(await stored("org.example.dup")).to.equal(404);
      const sameKeyElsewhere = await sendBytes("PUT", accountData("org.example.nodup"), '{"a":{"a":1},"b":[{"a":1},{"a":2}]}');
      expect(sameKeyElsewhere.status).to.equal(200);
    });

    it("refuses escaped lone surrogates with 400 M_BAD_JSON and accepts escaped pairs", async () => {
      for (const raw of ['{"a":"\\ud800"}', '{"a":"\\udc00x"}', '{"\\ud83d":1}']) {
        const res = await sendBytes("PUT", accountData("org.example.surrogate"), raw);
        expect(res.status, raw).to.equal(400);
        expect(res.body.errcode, raw).to.equal("M_BAD_JSON");
      }
      const pair = await sendBytes("PUT", accountData("org.example.pair"), '{"a":"\\ud83d\\ude00"}');
      expect(pair.status).to.equal(200);
      noServerErrors(server);
    });

    it("answers malformed JSON with 400 M_NOT_JSON, whatever the mistake", async () => {
      for (const raw of ["{", '{"a":1,}', "[1 2]", '{"a":01}', '{"a":"\\x"}', '{"a":"tab\there"}', "{} {}", "   ", "nul", '{"a":1.}']) {
        const res = await sendBytes("PUT", accountData("org.example.bad"), raw);
        expect(res.status, raw).to.equal(400);
        expect(res.body.errcode, raw).to.equal("M_NOT_JSON");
      }
    });

    it("reads a chunked body, and treats an empty chunked body as no body", async () => {
      const conn = await RawConnection.open(server.baseUrl);
      const json = '{"msgtype":"m.text","body":"chunked"}';
      await conn.write(request("PUT", `${room(roomId)}/send/m.room.message/chunked1`, { Authorization: `Bearer ${alice.access_token}`, "Transfer-Encoding": "chunked" }));
      await conn.write(`${(10).toString(16)}\r\n${json.slice(0, 10)}\r\n${(json.length - 10).toString(16)}\r\n${json.slice(10)}\r\n0\r\n\r\n`);
      const res = await conn.waitForResponse(5000);
      expect(res?.status, res?.text).to.equal(200);
      conn.close();

      const empty = await RawConnection.open(server.baseUrl);
      await empty.write(request("POST", `${V3}/login`, { "Transfer-Encoding": "chunked" }) + "0\r\n\r\n");
      expectMatrixError(await empty.waitForResponse(5000), 400, "M_NOT_JSON");
      empty.close();
    });

    it("refuses a compressed body with 400 M_NOT_JSON rather than inflating it", async () => {
      const res = await fetch(`${server.baseUrl}${V3}/login`, { method: "POST", headers: { "Content-Encoding": "gzip" }, body: Buffer.from([0x1f, 0x8b, 0x08, 0]) });
      expect(res.status).to.equal(400);
      expect(await res.json()).to.include({ errcode: "M_NOT_JSON" });
    });
  });
});

describe("hostile input: body size (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let roomId: string;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
    roomId = await createRoom(api, alice);
  });
  after(async () => {
    await server?.stop();
  });

  /**
   * Sends `head`, then up to 100 MiB of chunked body (after `prefix`) until the
   * server answers or closes; expects the refusal while still streaming.
   */
  async function refusedWhileStreaming(head: string, prefix: string, status: number, errcode: string): Promise<void> {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(head);
    if (prefix) await conn.write(`${prefix.length.toString(16)}\r\n${prefix}\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    let sent = 0;
    while (sent < 100 * MiB && conn.response === undefined && conn.endedAt === undefined) {
      await conn.write(framed);
      sent += chunk.length;
    }
    if (sent >= 100 * MiB) await conn.write("0\r\n\r\n");
    await expectRefusedAndClosed(conn, status, errcode);
    // The answer came while we were still sending: socket buffers, not the body, bound what got out.
    expect(sent).to.be.below(16 * MiB);
  }

  it("stops reading a 100 MiB chunked body at the limit: 413 M_TOO_LARGE while streaming, then closes", async () => {
    await refusedWhileStreaming(request("POST", `${V3}/login`, { "Transfer-Encoding": "chunked" }), '{"type":"m.login.password","padding":"', 413, "M_TOO_LARGE");
  });

  it("refuses a Content-Length over the limit before reading the body, then closes", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("POST", `${V3}/login`, { "Content-Length": 100 * MiB }));
    await conn.write(Buffer.alloc(1024, 0x20));
    await expectRefusedAndClosed(conn, 413, "M_TOO_LARGE");
  });

  it("closes instead of reading on when a request is refused before its body was read (401 on /send)", async () => {
    await refusedWhileStreaming(request("PUT", `${room(roomId)}/send/m.room.message/big1`, { "Transfer-Encoding": "chunked" }), "", 401, "M_MISSING_TOKEN");
  });

  it("keeps the connection for the next request when a body under the limit is refused", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("POST", `${V3}/login`, { "Content-Length": 1 }) + "{");
    const res = expectMatrixError(await conn.waitForResponse(3000), 400, "M_NOT_JSON");
    expect(res.headers.connection).to.not.equal("close");
    conn.close();
  });

  it("still serves normally afterwards", async () => {
    expect((await api.get("/_matrix/client/versions")).status).to.equal(200);
    await sendText(api, alice, roomId, "still here");
    noServerErrors(server);
  });
});

describe("hostile input: slow clients and timeouts (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  const limits = { headers_timeout_ms: 1000, request_timeout_ms: 2000, keep_alive_timeout_ms: 1000 };

  before(async () => {
    server = await startServer({ config: { limits } });
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
  });
  after(async () => {
    await server?.stop();
  });

  it("answers a Content-Length longer than the body with 408 after request_timeout_ms and closes", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("POST", `${V3}/login`, { "Content-Length": 100 }) + '{"type":');
    const res = expectMatrixError(await conn.waitForResponse(6000), 408, "M_UNKNOWN");
    const closedAt = await conn.waitForClose(5000);
    expect(closedAt).to.be.a("number");
    // Not before the deadline, and within it plus Node's checking interval (a quarter of it).
    expect(closedAt!).to.be.within(limits.request_timeout_ms - 100, limits.request_timeout_ms * 1.25 + 1000);
    expect(res.headers.connection).to.equal("close");
    conn.close();
  });

  it("answers headers trickled byte by byte with 408 after headers_timeout_ms and closes", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write("GET /_matrix/client/versions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    const trickle = setInterval(() => void conn.write("a"), 100);
    try {
      expectMatrixError(await conn.waitForResponse(6000), 408, "M_UNKNOWN");
      const closedAt = await conn.waitForClose(5000);
      expect(closedAt!).to.be.within(limits.headers_timeout_ms - 100, limits.headers_timeout_ms * 1.25 + 1000);
    } finally {
      clearInterval(trickle);
      conn.close();
    }
  });

  it("closes an idle keep-alive connection after keep_alive_timeout_ms", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("GET", "/_matrix/client/versions"));
    expect((await conn.waitForResponse(3000))?.status).to.equal(200);
    const closedAt = await conn.waitForClose(5000);
    expect(closedAt).to.be.a("number");
    expect(closedAt!).to.be.below(limits.keep_alive_timeout_ms + 1500);
    conn.close();
  });

  it("lets a /sync long-poll run longer than request_timeout_ms (the timeout covers receiving the request only)", async () => {
    const first = await api.get<{ next_batch: string }>(`${V3}/sync?timeout=0`, { token: alice.access_token });
    const started = Date.now();
    const res = await api.get(`${V3}/sync?since=${encodeURIComponent(first.body.next_batch)}&timeout=3500`, { token: alice.access_token });
    expect(res.status).to.equal(200);
    expect(Date.now() - started).to.be.at.least(3000);
  });

  it("keeps a WebSocket stream open past request_timeout_ms and delivers on it", async () => {
    const roomId = await createRoom(api, alice);
    const frames: Array<Record<string, any>> = [];
    const client = new StreamClient({ baseUrls: [server.baseUrl], accessToken: alice.access_token, onSync: (f) => void frames.push(f), reconnect: false });
    await client.connect();
    try {
      await new Promise((r) => setTimeout(r, limits.request_timeout_ms * 1.25 + 1000));
      const eventId = await sendText(api, alice, roomId, "after the deadline");
      const deadline = Date.now() + 5000;
      const delivered = () => frames.some((f) => (f.rooms?.join?.[roomId]?.timeline?.events ?? []).some((e: { event_id: string }) => e.event_id === eventId));
      while (!delivered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(delivered(), "event delivered on the stream").to.equal(true);
      expect(client.lastClose).to.equal(undefined);
    } finally {
      client.close();
    }
  });

  it("logged no server error for any of it", () => {
    noServerErrors(server);
    const refused = server.logs().filter((l) => l.msg === "client error").map((l) => l.status);
    expect(refused).to.include(408);
  });

  it("refuses a config whose headers timeout exceeds its request timeout, in one line", async () => {
    const bad = await startServer({ config: { limits: { headers_timeout_ms: 5000, request_timeout_ms: 1000 } }, expectExit: true });
    const exit = await bad.exited;
    expect(exit.code).to.equal(2);
    expect(bad.stderr.join("\n")).to.contain("limits.headers_timeout_ms");
  });
});

describe("hostile input: oversized request lines and headers (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it("answers a 64 KiB path segment with 414 M_TOO_LARGE and closes", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("GET", `${V3}/rooms/${"a".repeat(64 * 1024)}/state`));
    await expectRefusedAndClosed(conn, 414, "M_TOO_LARGE");
  });

  it("answers a 1 MiB header with 431 M_TOO_LARGE and closes", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("GET", "/_matrix/client/versions", { "X-Big": "b".repeat(MiB) }));
    await expectRefusedAndClosed(conn, 431, "M_TOO_LARGE");
  });

  it("answers many headers adding up to more than max_header_bytes with 431", async () => {
    const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`X-H${i}`, "v".repeat(500)]));
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write(request("GET", "/_matrix/client/versions", headers));
    expectMatrixError(await conn.waitForResponse(3000), 431, "M_TOO_LARGE");
    conn.close();
  });

  it("answers a malformed request line with 400", async () => {
    const conn = await RawConnection.open(server.baseUrl);
    await conn.write("NOT HTTP AT ALL\r\n\r\n");
    expectMatrixError(await conn.waitForResponse(3000), 400, "M_UNKNOWN");
    conn.close();
  });

  it("serves a request just under the limit", async () => {
    const res = await fetch(`${server.baseUrl}/_matrix/client/versions`, { headers: { "X-Fill": "f".repeat(12 * 1024) } });
    expect(res.status).to.equal(200);
    noServerErrors(server);
  });
});
