// /sync through the public API: initial and incremental syncs, long-polling,
// invites and departures, filters and lazy-loaded members, and wake-ups
// across two server processes sharing PostgreSQL and Redis.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("/sync (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  it("initial sync returns joined rooms with state at the timeline start and a limited timeline", async () => {
    const roomId = await createRoom(api, alice, { name: "Initial", preset: "public_chat" });
    for (let i = 0; i < 5; i++) await sendText(api, alice, roomId, `m${i}`);
    const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 3 } } }));
    const s = await sync(api, alice, `?filter=${filter}`);
    const joined = s.rooms.join[roomId]!;
    expect(joined.timeline.events.map((e) => e.content.body)).to.deep.equal(["m2", "m3", "m4"]);
    expect(joined.timeline.limited).to.equal(true);
    const stateTypes = joined.state.events.map((e) => e.type);
    expect(stateTypes).to.include.members(["m.room.create", "m.room.name", "m.room.power_levels", "m.room.member"]);
    // The state block and the timeline do not overlap.
    const timelineIds = new Set(joined.timeline.events.map((e) => e.event_id));
    expect(joined.state.events.some((e) => timelineIds.has(e.event_id))).to.equal(false);
    // prev_batch continues the history with /messages.
    const older = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=2&from=${joined.timeline.prev_batch}`, { token: alice.access_token });
    expect(older.body.chunk.map((e) => e.content.body)).to.deep.equal(["m1", "m0"]);
    expect(joined.summary).to.deep.include({ "m.joined_member_count": 1 });
  });

  it("incremental sync returns only what is new, in order", async () => {
    const roomId = await createRoom(api, alice);
    const first = await sync(api, alice);
    const a = await sendText(api, alice, roomId, "one");
    const b = await sendText(api, alice, roomId, "two");
    const next = await sync(api, alice, `?since=${first.next_batch}`);
    expect(next.rooms.join[roomId]!.timeline.events.map((e) => e.event_id)).to.deep.equal([a, b]);
    expect(next.rooms.join[roomId]!.timeline.limited).to.equal(false);
    const idle = await sync(api, alice, `?since=${next.next_batch}`);
    expect(idle.rooms.join).to.deep.equal({});
    expect(idle.next_batch).to.equal(next.next_batch);
  });

  it("long-polls until a message arrives, and times out empty when none does", async () => {
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
    const base = await sync(api, bob);
    const started = Date.now();
    const waiting = sync(api, bob, `?since=${base.next_batch}&timeout=20000`);
    await new Promise((r) => setTimeout(r, 300));
    const eventId = await sendText(api, alice, roomId, "wake up");
    const woke = await waiting;
    expect(Date.now() - started).to.be.below(10_000);
    expect(woke.rooms.join[roomId]!.timeline.events.map((e) => e.event_id)).to.deep.equal([eventId]);

    const quietStart = Date.now();
    const quiet = await sync(api, bob, `?since=${woke.next_batch}&timeout=800`);
    expect(Date.now() - quietStart).to.be.at.least(700);
    expect(quiet.rooms.join).to.deep.equal({});
  });

  it("delivers invites, then the joined room in full, then departures", async () => {
    const carol = await registerUser(api);
    const base = await sync(api, carol);
    const roomId = await createRoom(api, alice, { name: "Invite-only" });
    await api.post(`${room(roomId)}/invite`, { user_id: carol.user_id }, { token: alice.access_token });
    const invited = await sync(api, carol, `?since=${base.next_batch}`);
    expect(invited.rooms.invite[roomId]!.invite_state.events.find((e) => e.type === "m.room.name")!.content.name).to.equal("Invite-only");
    await join(api, carol, roomId);
    const joined = await sync(api, carol, `?since=${invited.next_batch}`);
    const section = joined.rooms.join[roomId]!;
    // A room joined since the last sync comes whole: its create event is in state or timeline.
    expect([...section.state.events, ...section.timeline.events].some((e) => e.type === "m.room.create")).to.equal(true);
    expect(section.timeline.events.some((e) => e.type === "m.room.member" && e.state_key === carol.user_id)).to.equal(true);
    await api.post(`${room(roomId)}/kick`, { user_id: carol.user_id }, { token: alice.access_token });
    const left = await sync(api, carol, `?since=${joined.next_batch}`);
    const leave = left.rooms.leave[roomId]!;
    expect(leave.timeline.events.at(-1)).to.deep.include({ type: "m.room.member", state_key: carol.user_id });
    expect(leave.timeline.events.at(-1)!.content.membership).to.equal("leave");
    expect(left.rooms.join[roomId]).to.equal(undefined);
  });

  it("stores filters and applies lazy-loaded members", async () => {
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    const dave = await registerUser(api);
    await join(api, bob, roomId);
    await join(api, dave, roomId);
    await sendText(api, dave, roomId, "only dave speaks");
    const created = await api.post<{ filter_id: string }>(
      `${V3}/user/${encodeURIComponent(alice.user_id)}/filter`,
      { room: { rooms: [roomId], timeline: { limit: 1 }, state: { lazy_load_members: true } } },
      { token: alice.access_token },
    );
    expect(created.status).to.equal(200);
    const fetched = await api.get<Record<string, any>>(`${V3}/user/${encodeURIComponent(alice.user_id)}/filter/${created.body.filter_id}`, { token: alice.access_token });
    expect(fetched.body.room.timeline.limit).to.equal(1);
    const s = await sync(api, alice, `?filter=${created.body.filter_id}`);
    expect(Object.keys(s.rooms.join)).to.deep.equal([roomId]);
    const members = s.rooms.join[roomId]!.state.events.filter((e) => e.type === "m.room.member").map((e) => e.state_key);
    expect(members.sort()).to.deep.equal([alice.user_id, dave.user_id].sort());
    const otherUsers = await api.post(`${V3}/user/${encodeURIComponent(bob.user_id)}/filter`, {}, { token: alice.access_token });
    expect(otherUsers.status).to.equal(403);
    const unknown = await api.get(`${V3}/sync?filter=424242`, { token: alice.access_token });
    expect(unknown.status).to.equal(404);
  });

  it("rejects a malformed since token with M_INVALID_PARAM", async () => {
    const res = await api.get(`${V3}/sync?since=garbage`, { token: alice.access_token });
    expect(res.status).to.equal(400);
    expect(res.body).to.include({ errcode: "M_INVALID_PARAM" });
  });
});

describe("/sync across processes", function () {
  this.timeout(60_000);

  it("a message sent through one process wakes a long-poll waiting on another", async () => {
    const [one, two] = await Promise.all([startServer(), startServer()]);
    try {
      const apiOne = new TestClient(one.baseUrl);
      const apiTwo = new TestClient(two.baseUrl);
      const alice = await registerUser(apiOne);
      const bob = await registerUser(apiTwo);
      const roomId = await createRoom(apiOne, alice, { preset: "public_chat" });
      await join(apiTwo, bob, roomId);
      const base = await sync(apiTwo, bob);
      const started = Date.now();
      const waiting = sync(apiTwo, bob, `?since=${base.next_batch}&timeout=20000`);
      await new Promise((r) => setTimeout(r, 300));
      const eventId = await sendText(apiOne, alice, roomId, "cross-process");
      const woke = await waiting;
      expect(Date.now() - started).to.be.below(10_000);
      expect(woke.rooms.join[roomId]!.timeline.events.map((e) => e.event_id)).to.deep.equal([eventId]);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});
