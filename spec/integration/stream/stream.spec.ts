// The org.myelin.stream WebSocket: same data as /sync, resume without gaps or
// duplicates, requests over the socket, logout, shutdown, and bad input.
import { expect } from "chai";
import { WebSocket } from "ws";
import { StreamClient } from "../../../server/sync/stream/client.ts";
import { CloseCode, STREAM_PATH } from "../../../server/sync/stream/protocol.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type SyncFrame = Record<string, any> & { next_batch: string };

function timelineIds(frames: SyncFrame[], roomId: string): string[] {
  return frames.flatMap((f) => (f.rooms?.join?.[roomId]?.timeline?.events ?? []).map((e: any) => e.event_id as string));
}

async function until(check: () => boolean, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw socket, for the cases the client library would never produce. */
function rawSocket(baseUrl: string, headers: Record<string, string> = {}, protocols = ["m.json"]): WebSocket {
  return new WebSocket(baseUrl.replace(/^http/, "ws") + STREAM_PATH, protocols, { headers });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

function nextFrame(ws: WebSocket): Promise<Record<string, any>> {
  return new Promise((resolve) => ws.once("message", (data) => resolve(JSON.parse(data.toString()))));
}

describe("org.myelin.stream (real server process)", function () {
  this.timeout(120_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;
  const clients: StreamClient[] = [];

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await server?.stop();
    if (process.env.DEBUG_STREAM) console.log(server.stderr.join("\n"), server.logs().filter((l) => (l.level as number) >= 50));
  });

  function streamFor(user: TestUser, frames: SyncFrame[], extra: Partial<ConstructorParameters<typeof StreamClient>[0]> = {}): StreamClient {
    const client = new StreamClient({ baseUrls: [server.baseUrl], accessToken: user.access_token, onSync: (f) => void frames.push(f), minBackoffMs: 50, ...extra });
    clients.push(client);
    return client;
  }

  it("is advertised in /versions", async () => {
    const res = await api.get<{ unstable_features: Record<string, boolean> }>("/_matrix/client/versions");
    expect(res.body.unstable_features["org.myelin.stream"]).to.equal(true);
  });

  it("delivers what /sync delivers for the same token, event by event", async () => {
    const base = await sync(api, bob);
    const frames: SyncFrame[] = [];
    const client = streamFor(bob, frames, { since: base.next_batch });
    await client.connect();
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push(await sendText(api, alice, roomId, `compare ${i}`));
    await until(() => timelineIds(frames, roomId).length >= 20, 15_000, "20 events on the stream");
    const viaSync = await sync(api, bob, `?since=${base.next_batch}&filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 100 } } }))}`);
    const syncEvents = viaSync.rooms.join[roomId]!.timeline.events;
    const streamEvents = frames.flatMap((f) => f.rooms?.join?.[roomId]?.timeline?.events ?? []);
    expect(streamEvents.map((e: any) => e.event_id)).to.deep.equal(sent);
    expect(syncEvents.map((e) => e.event_id)).to.deep.equal(sent);
    for (let i = 0; i < sent.length; i++) {
      const { unsigned: _a, ...viaStream } = streamEvents[i];
      const { unsigned: _b, ...viaPoll } = syncEvents[i]!;
      expect(viaStream).to.deep.equal(viaPoll);
    }
  });

  it("resumes after a drop mid-burst of 1,000 messages with every message exactly once, in order", async () => {
    const base = await sync(api, bob);
    const frames: SyncFrame[] = [];
    const client = streamFor(bob, frames, { since: base.next_batch, filter: { room: { timeline: { limit: 1000 } } } });
    await client.connect();
    const sent: string[] = [];
    let dropped = false;
    for (let i = 0; i < 1000; i++) {
      sent.push(await sendText(api, alice, roomId, `burst ${i}`));
      if (i === 400) {
        client.drop();
        dropped = true;
      }
    }
    expect(dropped).to.equal(true);
    await until(() => timelineIds(frames, roomId).length >= 1000, 60_000, "1000 events after resume");
    expect(timelineIds(frames, roomId)).to.deep.equal(sent);
  });

  it("answers requests over the socket with the same semantics as HTTP", async () => {
    const frames: SyncFrame[] = [];
    const client = streamFor(alice, frames);
    await client.connect();
    expect(await client.request("ping")).to.deep.equal({});
    const txn = `ws-${Date.now()}`;
    const sent = (await client.request("send", { room_id: roomId, event_type: "m.room.message", txn_id: txn, content: { msgtype: "m.text", body: "over ws" } })) as { event_id: string };
    // The same transaction over HTTP is the same event (txn IDs are per device, not per transport).
    const viaHttp = await api.put<{ event_id: string }>(`${room(roomId)}/send/m.room.message/${txn}`, { msgtype: "m.text", body: "over ws" }, { token: alice.access_token });
    expect(viaHttp.body.event_id).to.equal(sent.event_id);
    await client.request("typing", { room_id: roomId, typing: true, timeout: 5000 });
    await client.request("receipt", { room_id: roomId, receipt_type: "m.read", event_id: sent.event_id });
    await client.request("read_markers", { room_id: roomId, "m.fully_read": sent.event_id });
    const bobView = await sync(api, bob);
    const ephemeral = (bobView.rooms.join[roomId] as any).ephemeral.events;
    expect(ephemeral.find((e: any) => e.type === "m.typing").content.user_ids).to.include(alice.user_id);
    expect(ephemeral.find((e: any) => e.type === "m.receipt").content[sent.event_id]["m.read"]).to.have.property(alice.user_id);
    try {
      await client.request("send", { room_id: "!nowhere:localhost", event_type: "m.room.message", txn_id: "x1", content: {} });
      expect.fail("should have failed");
    } catch (err) {
      expect((err as { body?: { errcode: string; status: number } }).body).to.include({ errcode: "M_FORBIDDEN", status: 403 });
    }
    try {
      await client.request("fly_to_the_moon", {});
      expect.fail("should have failed");
    } catch (err) {
      expect((err as { body?: { errcode: string } }).body?.errcode).to.equal("M_UNRECOGNIZED");
    }
  });

  it("authenticates with a first frame (browsers) as well as with the header", async () => {
    const frames: SyncFrame[] = [];
    const client = streamFor(bob, frames, { authInFrame: true });
    await client.connect();
    await until(() => frames.length > 0, 10_000, "initial sync frame");
    expect(frames[0]!.rooms.join).to.have.property(roomId);
  });

  it("closes that device's sockets on logout, in any process, and keeps the others", async () => {
    const second = await api.post<{ access_token: string }>(`${V3}/login`, { type: "m.login.password", user: bob.user_id, password: bob.password });
    const doomed = streamFor({ ...bob, access_token: second.body.access_token }, []);
    const survivor = streamFor(bob, []);
    await Promise.all([doomed.connect(), survivor.connect()]);
    await api.post(`${V3}/logout`, {}, { token: second.body.access_token });
    await until(() => doomed.lastClose !== undefined, 10_000, "logout close");
    expect(doomed.lastClose!.code).to.equal(CloseCode.sessionRevoked);
    expect(await survivor.request("ping")).to.deep.equal({});
  });

  describe("bad input", () => {
    it("rejects the upgrade with 401 for a bad token in the header", async () => {
      const ws = rawSocket(server.baseUrl, { Authorization: "Bearer myat_nope" });
      const status = await new Promise<number>((resolve) => ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
      expect(status).to.equal(401);
    });

    it("rejects the upgrade without the m.json sub-protocol", async () => {
      const ws = rawSocket(server.baseUrl, { Authorization: `Bearer ${alice.access_token}` }, []);
      const status = await new Promise<number>((resolve) => ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
      expect(status).to.equal(400);
    });

    it("closes with 4001 for a bad token frame, a non-auth first frame, or no auth in time", async () => {
      const bad = rawSocket(server.baseUrl);
      bad.on("open", () => bad.send(JSON.stringify({ type: "auth", access_token: "myat_nope" })));
      expect((await closed(bad)).code).to.equal(CloseCode.authFailed);
      const wrongFirst = rawSocket(server.baseUrl);
      wrongFirst.on("open", () => wrongFirst.send(JSON.stringify({ type: "sync" })));
      expect((await closed(wrongFirst)).code).to.equal(CloseCode.authFailed);
      const silent = rawSocket(server.baseUrl);
      const started = Date.now();
      expect((await closed(silent)).code).to.equal(CloseCode.authFailed);
      expect(Date.now() - started).to.be.within(4000, 9000);
    });

    it("closes with 4000 for malformed frames and 1009 for oversized ones", async () => {
      const malformed = rawSocket(server.baseUrl, { Authorization: `Bearer ${alice.access_token}` });
      await nextFrame(malformed);
      malformed.send("{not json");
      expect((await closed(malformed)).code).to.equal(CloseCode.protocolError);
      const big = rawSocket(server.baseUrl, { Authorization: `Bearer ${alice.access_token}` });
      await nextFrame(big);
      big.send(JSON.stringify({ type: "request", id: "big", method: "ping", params: { pad: "x".repeat(70_000) } }));
      expect((await closed(big)).code).to.equal(CloseCode.frameTooLarge);
    });

    it("rate-limits a flooding socket, then cuts it off, while serving others", async () => {
      const flood = rawSocket(server.baseUrl, { Authorization: `Bearer ${alice.access_token}` });
      await nextFrame(flood);
      const errors: string[] = [];
      flood.on("message", (data) => {
        const frame = JSON.parse(data.toString());
        if (frame.type === "response" && frame.error) errors.push(frame.error.errcode);
      });
      const done = closed(flood);
      for (let i = 0; i < 200 && flood.readyState === flood.OPEN; i++) flood.send(JSON.stringify({ type: "request", id: `f${i}`, method: "ping" }));
      expect((await done).code).to.equal(CloseCode.rateLimited);
      expect(errors).to.include("M_LIMIT_EXCEEDED");
      const other = streamFor(bob, []);
      await other.connect();
      expect(await other.request("ping")).to.deep.equal({});
    });
  });
});

describe("org.myelin.stream across processes", function () {
  this.timeout(120_000);

  it("fans out from any of three processes, and clients of a killed process resume elsewhere without loss", async () => {
    const servers = await Promise.all([startServer(), startServer(), startServer()]);
    const streams: StreamClient[] = [];
    try {
      const apis = servers.map((s) => new TestClient(s.baseUrl));
      const users = await Promise.all(apis.map((a) => registerUser(a)));
      const roomId = await createRoom(apis[0]!, users[0]!, { preset: "public_chat" });
      for (const [i, user] of users.entries()) if (i > 0) await join(apis[i]!, user, roomId);
      const received: SyncFrame[][] = users.map(() => []);
      for (const [i, user] of users.entries()) {
        const base = await sync(apis[i]!, user);
        // Each client prefers its own process and falls back to the next one.
        const urls = [servers[i]!.baseUrl, servers[(i + 1) % 3]!.baseUrl];
        const client = new StreamClient({ baseUrls: urls, accessToken: user.access_token, since: base.next_batch, onSync: (f) => void received[i]!.push(f), minBackoffMs: 50, maxBackoffMs: 500 });
        streams.push(client);
        await client.connect();
      }
      const sent: string[] = [];
      for (let i = 0; i < 30; i++) sent.push(await sendText(apis[i % 3]!, users[i % 3]!, roomId, `fan ${i}`));
      // Kill process 2: its client moves to process 0 and resumes from its token.
      servers[2]!.child.kill("SIGKILL");
      for (let i = 30; i < 60; i++) sent.push(await sendText(apis[i % 2]!, users[i % 2]!, roomId, `fan ${i}`));
      for (const [i] of users.entries()) {
        await until(() => timelineIds(received[i]!, roomId).length >= 60, 30_000, `client ${i} to see 60 events`);
        expect(timelineIds(received[i]!, roomId), `client ${i}`).to.deep.equal(sent);
      }
    } finally {
      for (const s of streams) s.close();
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it("tells clients to reconnect when the server shuts down", async () => {
    const server = await startServer();
    const api = new TestClient(server.baseUrl);
    const user = await registerUser(api);
    const frames: Array<Record<string, unknown>> = [];
    const ws = rawSocket(server.baseUrl, { Authorization: `Bearer ${user.access_token}` });
    ws.on("message", (data) => frames.push(JSON.parse(data.toString())));
    await until(() => frames.length > 0, 10_000, "hello");
    const done = closed(ws);
    server.child.kill("SIGTERM");
    const close = await done;
    expect(close.code).to.equal(CloseCode.serviceRestart);
    expect(frames.find((f) => f.type === "reconnect")).to.include({ reason: "server shutting down" });
    expect((await server.exited).code).to.equal(0);
  });
});
