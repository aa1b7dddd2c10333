// Presence: PUT/GET and who may read it, m.presence in /sync (initial,
// incremental, waking a long-poll, new roommates), set_presence, the presence
// filter, and presence switched off in the config.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type PresenceEvent = { type: string; sender: string; content: { presence: string; status_msg?: string; currently_active?: boolean; last_active_ago?: number } };

const status = (user: TestUser | string) => `${V3}/presence/${encodeURIComponent(typeof user === "string" ? user : user.user_id)}/status`;
const presenceOf = (s: Awaited<ReturnType<typeof sync>>, userId: string): PresenceEvent | undefined =>
  ((s as unknown as { presence: { events: PresenceEvent[] } }).presence.events ?? []).find((e) => e.sender === userId);

describe("presence (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let stranger: TestUser;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, stranger] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const roomId = await createRoom(api, alice, { preset: "private_chat", invite: [bob.user_id] });
    await join(api, bob, roomId);
  });
  after(async () => {
    await server?.stop();
  });

  it("stores presence with PUT and reads it back with GET", async () => {
    expect((await api.get(status(stranger), { token: stranger.access_token })).body).to.deep.equal({ presence: "offline" });
    expect((await api.put(status(alice), { presence: "online", status_msg: "In a meeting" }, { token: alice.access_token })).status).to.equal(200);
    const own = await api.get<PresenceEvent["content"]>(status(alice), { token: alice.access_token });
    expect(own.status).to.equal(200);
    expect(own.body).to.include({ presence: "online", status_msg: "In a meeting", currently_active: true });
    expect(own.body.last_active_ago).to.be.a("number").and.to.be.below(10_000);
    // A missing status message clears it; only online users are currently active.
    await api.put(status(alice), { presence: "unavailable" }, { token: alice.access_token });
    const idle = await api.get<PresenceEvent["content"]>(status(alice), { token: bob.access_token });
    expect(idle.body.presence).to.equal("unavailable");
    expect(idle.body).to.not.have.property("status_msg");
    expect(idle.body).to.not.have.property("currently_active");
  });

  it("lets users read presence only of people they share a room with, and set only their own", async () => {
    const hidden = await api.get(status(alice), { token: stranger.access_token });
    expect(hidden.status).to.equal(403);
    expect(hidden.body.errcode).to.equal("M_FORBIDDEN");
    const foreign = await api.put(status(bob), { presence: "offline" }, { token: alice.access_token });
    expect(foreign.status).to.equal(403);
    expect(foreign.body.errcode).to.equal("M_FORBIDDEN");
    expect((await api.get(status(alice))).status).to.equal(401);
  });

  it("rejects malformed requests", async () => {
    const cases: Array<[unknown, string]> = [
      [{ presence: "busy" }, "M_INVALID_PARAM"],
      [{ status_msg: "hi" }, "M_BAD_JSON"],
      [{ presence: 1 }, "M_BAD_JSON"],
      [{ presence: "online", status_msg: 7 }, "M_BAD_JSON"],
    ];
    for (const [body, errcode] of cases) {
      const res = await api.put(status(alice), body, { token: alice.access_token });
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.errcode, JSON.stringify(body)).to.equal(errcode);
    }
    const badUser = await api.get(status("alice"), { token: alice.access_token });
    expect(badUser.status).to.equal(400);
    const badSetPresence = await api.get(`${V3}/sync?set_presence=away`, { token: alice.access_token });
    expect(badSetPresence.status).to.equal(400);
    expect(badSetPresence.body.errcode).to.equal("M_INVALID_PARAM");
  });

  it("delivers changes to roommates through /sync, waking their long-poll, and nothing to strangers", async () => {
    const base = await sync(api, bob, "?set_presence=offline");
    const started = Date.now();
    const waiting = sync(api, bob, `?since=${base.next_batch}&timeout=15000&set_presence=offline`);
    const strangerBase = await sync(api, stranger, "?set_presence=offline");
    await new Promise((r) => setTimeout(r, 200));
    await api.put(status(alice), { presence: "online", status_msg: "Back" }, { token: alice.access_token });
    const woke = await waiting;
    expect(Date.now() - started, "woken, not timed out").to.be.below(10_000);
    expect(presenceOf(woke, alice.user_id)?.content).to.include({ presence: "online", status_msg: "Back", currently_active: true });
    const strangerView = await sync(api, stranger, `?since=${strangerBase.next_batch}&set_presence=offline`);
    expect(presenceOf(strangerView, alice.user_id)).to.equal(undefined);
    // An initial sync lists roommates who are not offline, and the user themself.
    const initial = await sync(api, bob);
    expect(presenceOf(initial, alice.user_id)?.content.presence).to.equal("online");
    expect(presenceOf(initial, bob.user_id)?.content.presence).to.equal("online");
    // The presence filter can turn the section off.
    const filtered = await sync(api, bob, `?filter=${encodeURIComponent(JSON.stringify({ presence: { not_types: ["*"] } }))}`);
    expect((filtered as unknown as { presence: { events: unknown[] } }).presence.events).to.deep.equal([]);
  });

  it("applies set_presence: online by default, offline leaves presence alone, unavailable does not demote", async () => {
    const carol = await registerUser(api);
    const roomId = await createRoom(api, carol, { preset: "public_chat" });
    await join(api, bob, roomId);
    await sync(api, carol, "?set_presence=offline");
    expect((await api.get(status(carol), { token: carol.access_token })).body).to.deep.equal({ presence: "offline" });

    const before = await sync(api, bob, "?set_presence=offline");
    const first = await sync(api, carol);
    expect(presenceOf(first, carol.user_id)?.content).to.include({ presence: "online", currently_active: true });
    const seen = await sync(api, bob, `?since=${before.next_batch}&set_presence=offline`);
    expect(presenceOf(seen, carol.user_id)?.content.presence).to.equal("online");

    // Syncing on while online is not news: no event, and roommates' long-polls are not woken.
    await sync(api, carol, `?since=${first.next_batch}`);
    await sync(api, carol, `?since=${first.next_batch}&set_presence=unavailable`);
    expect((await api.get<PresenceEvent["content"]>(status(carol), { token: carol.access_token })).body.presence).to.equal("online");
    const quiet = await sync(api, bob, `?since=${seen.next_batch}&set_presence=offline&timeout=300`);
    expect(presenceOf(quiet, carol.user_id)).to.equal(undefined);

    // unavailable does lift an offline user.
    await api.put(status(carol), { presence: "offline" }, { token: carol.access_token });
    await sync(api, carol, "?set_presence=unavailable&timeout=0");
    expect((await api.get<PresenceEvent["content"]>(status(carol), { token: carol.access_token })).body.presence).to.equal("unavailable");
  });

  it("tells members about someone they newly share a room with", async () => {
    const dave = await registerUser(api);
    await api.put(status(dave), { presence: "online", status_msg: "new here" }, { token: dave.access_token });
    const roomId = await createRoom(api, bob, { preset: "public_chat" });
    const before = await sync(api, bob, "?set_presence=offline");
    expect(presenceOf(before, dave.user_id)).to.equal(undefined);
    await join(api, dave, roomId);
    const after = await sync(api, bob, `?since=${before.next_batch}&set_presence=offline`);
    expect(presenceOf(after, dave.user_id)?.content).to.include({ presence: "online", status_msg: "new here" });
    expect((await api.get(status(dave), { token: bob.access_token })).status).to.equal(200);
  });
});

describe("presence disabled in the config (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    server = await startServer({ config: { presence: { enabled: false } } });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  it("accepts PUT but stores and sends nothing; everyone reads as offline", async () => {
    const [alice, bob, stranger] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
    const base = await sync(api, bob);
    expect((await api.put(status(alice), { presence: "online", status_msg: "hello" }, { token: alice.access_token })).status).to.equal(200);
    expect((await api.get(status(alice), { token: alice.access_token })).body).to.deep.equal({ presence: "offline" });
    expect((await api.get(status(alice), { token: stranger.access_token })).body).to.deep.equal({ presence: "offline" });
    const next = await sync(api, bob, `?since=${base.next_batch}&timeout=300`);
    expect((next as unknown as { presence: { events: unknown[] } }).presence.events).to.deep.equal([]);
    const initial = await sync(api, alice);
    expect((initial as unknown as { presence: { events: unknown[] } }).presence.events).to.deep.equal([]);
  });
});
