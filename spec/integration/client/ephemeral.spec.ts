// Typing, receipts, read markers, account data and tags, as seen through /sync.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("typing, receipts and account data (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
  });
  after(async () => {
    await server?.stop();
  });

  const ephemeral = (s: Awaited<ReturnType<typeof sync>>, type: string) =>
    ((s.rooms.join[roomId] as any)?.ephemeral?.events ?? []).find((e: any) => e.type === type);

  it("delivers typing to the other member, wakes their long-poll, and clears it on timeout", async () => {
    const base = await sync(api, bob);
    const waiting = sync(api, bob, `?since=${base.next_batch}&timeout=15000`);
    await new Promise((r) => setTimeout(r, 200));
    const res = await api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: true, timeout: 1000 }, { token: alice.access_token });
    expect(res.status).to.equal(200);
    const woke = await waiting;
    expect(ephemeral(woke, "m.typing").content.user_ids).to.deep.equal([alice.user_id]);
    const cleared = await sync(api, bob, `?since=${woke.next_batch}&timeout=5000`);
    expect(ephemeral(cleared, "m.typing").content.user_ids).to.deep.equal([]);
  });

  it("refuses typing for someone else or outside the room", async () => {
    const other = await api.put(`${room(roomId)}/typing/${encodeURIComponent(bob.user_id)}`, { typing: true }, { token: alice.access_token });
    expect(other.status).to.equal(403);
    const outsider = await registerUser(api);
    const notIn = await api.put(`${room(roomId)}/typing/${encodeURIComponent(outsider.user_id)}`, { typing: true }, { token: outsider.access_token });
    expect(notIn.status).to.equal(403);
    const badBody = await api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: "yes" }, { token: alice.access_token });
    expect(badBody.status).to.equal(400);
  });

  it("delivers public receipts to everyone and private ones only to their owner", async () => {
    const eventId = await sendText(api, alice, roomId, "read me");
    const base = await sync(api, alice);
    expect((await api.post(`${room(roomId)}/receipt/m.read/${encodeURIComponent(eventId)}`, {}, { token: bob.access_token })).status).to.equal(200);
    const seen = await sync(api, alice, `?since=${base.next_batch}`);
    expect(ephemeral(seen, "m.receipt").content[eventId]["m.read"][bob.user_id].ts).to.be.a("number");

    const other = await sendText(api, alice, roomId, "private");
    const before = await sync(api, alice);
    await api.post(`${room(roomId)}/receipt/m.read.private/${encodeURIComponent(other)}`, {}, { token: bob.access_token });
    const aliceView = await sync(api, alice, `?since=${before.next_batch}`);
    expect(ephemeral(aliceView, "m.receipt")).to.equal(undefined);
    const bobView = await sync(api, bob);
    expect(ephemeral(bobView, "m.receipt").content[other]["m.read.private"][bob.user_id]).to.have.property("ts");

    const threaded = await api.post(`${room(roomId)}/receipt/m.read/${encodeURIComponent(other)}`, { thread_id: "main" }, { token: bob.access_token });
    expect(threaded.status).to.equal(200);
    const unknown = await api.post(`${room(roomId)}/receipt/m.read/${encodeURIComponent("$nope")}`, {}, { token: bob.access_token });
    expect(unknown.status).to.equal(404);
    const badType = await api.post(`${room(roomId)}/receipt/m.nonsense/${encodeURIComponent(other)}`, {}, { token: bob.access_token });
    expect(badType.status).to.equal(400);
  });

  it("sets read markers: m.fully_read room account data plus a receipt", async () => {
    const eventId = await sendText(api, alice, roomId, "marker");
    const res = await api.post(`${room(roomId)}/read_markers`, { "m.fully_read": eventId, "m.read": eventId }, { token: bob.access_token });
    expect(res.status).to.equal(200);
    const s = await sync(api, bob);
    const accountData = (s.rooms.join[roomId] as any).account_data.events;
    expect(accountData.find((e: any) => e.type === "m.fully_read").content.event_id).to.equal(eventId);
    expect(ephemeral(s, "m.receipt").content[eventId]["m.read"]).to.have.property(bob.user_id);
  });

  it("stores global and room account data and tags, and syncs them", async () => {
    const base = await sync(api, alice);
    const direct = { [bob.user_id]: [roomId] };
    expect((await api.put(`${V3}/user/${encodeURIComponent(alice.user_id)}/account_data/m.direct`, direct, { token: alice.access_token })).status).to.equal(200);
    expect((await api.get(`${V3}/user/${encodeURIComponent(alice.user_id)}/account_data/m.direct`, { token: alice.access_token })).body).to.deep.equal(direct);
    await api.put(`${V3}/user/${encodeURIComponent(alice.user_id)}/rooms/${encodeURIComponent(roomId)}/tags/m.favourite`, { order: 0.5 }, { token: alice.access_token });
    const tags = await api.get<{ tags: Record<string, unknown> }>(`${V3}/user/${encodeURIComponent(alice.user_id)}/rooms/${encodeURIComponent(roomId)}/tags`, { token: alice.access_token });
    expect(tags.body.tags).to.deep.equal({ "m.favourite": { order: 0.5 } });
    const s = await sync(api, alice, `?since=${base.next_batch}`);
    expect((s as any).account_data.events.find((e: any) => e.type === "m.direct").content).to.deep.equal(direct);
    expect((s.rooms.join[roomId] as any).account_data.events.find((e: any) => e.type === "m.tag").content.tags).to.have.property("m.favourite");
    await api.delete(`${V3}/user/${encodeURIComponent(alice.user_id)}/rooms/${encodeURIComponent(roomId)}/tags/m.favourite`, { token: alice.access_token });
    const after = await api.get<{ tags: Record<string, unknown> }>(`${V3}/user/${encodeURIComponent(alice.user_id)}/rooms/${encodeURIComponent(roomId)}/tags`, { token: alice.access_token });
    expect(after.body.tags).to.deep.equal({});
    const missing = await api.get(`${V3}/user/${encodeURIComponent(alice.user_id)}/account_data/org.example.none`, { token: alice.access_token });
    expect(missing.status).to.equal(404);
    const foreign = await api.get(`${V3}/user/${encodeURIComponent(bob.user_id)}/account_data/m.direct`, { token: alice.access_token });
    expect(foreign.status).to.equal(403);
    const managed = await api.put(`${V3}/user/${encodeURIComponent(alice.user_id)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`, { event_id: "$x" }, { token: alice.access_token });
    expect(managed.status).to.equal(405);
  });
});
