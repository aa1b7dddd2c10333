// Event context, timestamp lookups and content reports through the public
// API: tokens that continue in /messages, history visibility on each, and the
// errors a client can cause.
import { expect } from "chai";
import pg from "pg";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sendText, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";

type Event = Record<string, any>;
interface Context {
  start: string;
  end: string;
  event: Event;
  events_before: Event[];
  events_after: Event[];
  state: Event[];
}
const room1 = (roomId: string) => `/_matrix/client/v1/rooms/${encodeURIComponent(roomId)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const JOINED_ONLY = [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }];

describe("context, timestamp lookup and reports (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  const ids = (events: Event[]) => events.map((e) => e.event_id as string);
  const context = (user: TestUser, roomId: string, eventId: string, query = "") =>
    api.get<Context>(`${room(roomId)}/context/${encodeURIComponent(eventId)}${query}`, { token: user.access_token });
  const messagesFilter = `&filter=${encodeURIComponent(JSON.stringify({ types: ["m.room.message"] }))}`;

  describe("GET /context", () => {
    let roomId: string;
    let sent: string[];

    before(async () => {
      roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      await join(api, carol, roomId);
      sent = [];
      for (let i = 0; i < 9; i++) sent.push(await sendText(api, i % 2 === 0 ? alice : bob, roomId, `m${i}`));
    });

    it("returns the events either side of an event, and the state after the last one", async () => {
      const res = await context(carol, roomId, sent[4]!, "?limit=4");
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.event.event_id).to.equal(sent[4]);
      expect(res.body.event.content.body).to.equal("m4");
      expect(ids(res.body.events_before)).to.deep.equal([sent[3], sent[2]]);
      expect(ids(res.body.events_after)).to.deep.equal([sent[5], sent[6]]);
      const types = res.body.state.map((e) => `${e.type}|${e.state_key}`);
      expect(types).to.include.members(["m.room.create|", "m.room.power_levels|", `m.room.member|${carol.user_id}`, `m.room.member|${alice.user_id}`]);
      // An odd limit puts the extra event after; limit=0 returns the event alone.
      const odd = await context(carol, roomId, sent[4]!, "?limit=3");
      expect([odd.body.events_before.length, odd.body.events_after.length]).to.deep.equal([1, 2]);
      const none = await context(carol, roomId, sent[4]!, "?limit=0");
      expect(none.body.event.event_id).to.equal(sent[4]);
      expect(none.body.events_before).to.deep.equal([]);
      expect(none.body.events_after).to.deep.equal([]);
    });

    it("gives start and end tokens that continue in /messages", async () => {
      const res = await context(carol, roomId, sent[4]!, "?limit=4");
      const back = await api.get<{ chunk: Event[] }>(`${room(roomId)}/messages?dir=b&limit=2&from=${res.body.start}${messagesFilter}`, { token: carol.access_token });
      expect(ids(back.body.chunk)).to.deep.equal([sent[1], sent[0]]);
      const forward = await api.get<{ chunk: Event[] }>(`${room(roomId)}/messages?dir=f&limit=5&from=${res.body.end}${messagesFilter}`, { token: carol.access_token });
      expect(ids(forward.body.chunk)).to.deep.equal([sent[7], sent[8]]);
    });

    it("applies the filter to the surrounding events and lazy-loads members", async () => {
      const bobOnly = encodeURIComponent(JSON.stringify({ senders: [bob.user_id] }));
      const res = await context(carol, roomId, sent[4]!, `?limit=4&filter=${bobOnly}`);
      expect(res.status).to.equal(200);
      // The event itself is alice's and is returned anyway; neighbours are bob's only.
      expect(res.body.event.sender).to.equal(alice.user_id);
      expect(ids(res.body.events_before)).to.deep.equal([sent[3], sent[1]]);
      expect(ids(res.body.events_after)).to.deep.equal([sent[5], sent[7]]);
      // The filter applies to the state as well (spec), so only state bob sent remains.
      expect(res.body.state.map((e) => e.sender)).to.have.members([bob.user_id]);

      const lazy = encodeURIComponent(JSON.stringify({ lazy_load_members: true }));
      const lazyRes = await context(carol, roomId, sent[4]!, `?limit=4&filter=${lazy}`);
      const members = lazyRes.body.state.filter((e) => e.type === "m.room.member").map((e) => e.state_key);
      // Carol joined but sent none of the returned events.
      expect(members).to.have.members([alice.user_id, bob.user_id]);
      expect(lazyRes.body.state.map((e) => e.type)).to.include.members(["m.room.create", "m.room.join_rules"]);
    });

    it("respects history visibility: 404 for hidden or unknown events, 403 outside the room", async () => {
      const dave = await registerUser(api);
      const outsider = await context(dave, roomId, sent[0]!);
      expect(outsider.status).to.equal(403);
      const hiddenRoom = await createRoom(api, alice, { preset: "public_chat", initial_state: JOINED_ONLY });
      const secret = await sendText(api, alice, hiddenRoom, "before dave");
      await join(api, dave, hiddenRoom);
      const visible = await sendText(api, alice, hiddenRoom, "after dave");
      const hidden = await context(dave, hiddenRoom, secret);
      expect(hidden.status).to.equal(404);
      expect(hidden.body).to.include({ errcode: "M_NOT_FOUND" });
      const ok = await context(dave, hiddenRoom, visible, "?limit=20");
      expect(ok.status).to.equal(200);
      expect(ids(ok.body.events_before)).not.to.include(secret);
      expect(ids(ok.body.events_before)[0]).to.equal(ok.body.events_before.find((e) => e.type === "m.room.member" && e.state_key === dave.user_id)!.event_id);
      const unknown = await context(dave, hiddenRoom, "$unknown");
      expect(unknown.status).to.equal(404);
      // A former member sees nothing after leaving.
      await api.post(`${room(hiddenRoom)}/leave`, {}, { token: dave.access_token });
      const later = await sendText(api, alice, hiddenRoom, "after dave left");
      expect((await context(dave, hiddenRoom, later)).status).to.equal(404);
      const upToLeave = await context(dave, hiddenRoom, visible, "?limit=20");
      expect(ids(upToLeave.body.events_after)).not.to.include(later);
      expect(upToLeave.body.events_after.at(-1)!.content.membership).to.equal("leave");
      const bad = await context(carol, roomId, sent[0]!, "?filter=notjson");
      expect(bad.status).to.equal(400);
    });
  });

  describe("GET /timestamp_to_event", () => {
    it("finds the closest readable event in either direction", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const events: Array<{ id: string; ts: number }> = [];
      for (let i = 0; i < 3; i++) {
        await sleep(15);
        const id = await sendText(api, alice, roomId, `t${i}`);
        const ev = await api.get<Event>(`${room(roomId)}/event/${encodeURIComponent(id)}`, { token: bob.access_token });
        events.push({ id, ts: ev.body.origin_server_ts });
      }
      const lookup = (ts: number, dir: string, user = bob) => api.get<{ event_id: string; origin_server_ts: number }>(`${room1(roomId)}/timestamp_to_event?ts=${ts}&dir=${dir}`, { token: user.access_token });
      const exact = await lookup(events[1]!.ts, "f");
      expect(exact.status).to.equal(200);
      expect(exact.body).to.deep.equal({ event_id: events[1]!.id, origin_server_ts: events[1]!.ts });
      expect((await lookup(events[1]!.ts + 1, "f")).body.event_id).to.equal(events[2]!.id);
      expect((await lookup(events[1]!.ts - 1, "b")).body.event_id).to.equal(events[0]!.id);
      expect((await lookup(events[2]!.ts + 60_000, "b")).body.event_id).to.equal(events[2]!.id);
      const future = await lookup(events[2]!.ts + 60_000, "f");
      expect(future.status).to.equal(404);
      expect(future.body).to.include({ errcode: "M_NOT_FOUND" });
      expect((await lookup(0, "b")).status).to.equal(404);
    });

    it("skips events the user may not see and refuses bad parameters", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat", initial_state: JOINED_ONLY });
      const secret = await sendText(api, alice, roomId, "before carol");
      const secretTs = (await api.get<Event>(`${room(roomId)}/event/${encodeURIComponent(secret)}`, { token: alice.access_token })).body.origin_server_ts as number;
      await sleep(15);
      await join(api, carol, roomId);
      const lookup = (query: string, user = carol) => api.get<{ event_id: string }>(`${room1(roomId)}/timestamp_to_event?${query}`, { token: user.access_token });
      // Backwards, the hidden message is skipped; what remains are room-creation events from
      // before history_visibility was set, which the default (shared) lets members see.
      const backward = await lookup(`ts=${secretTs}&dir=b`);
      expect(backward.status).to.equal(200);
      expect(backward.body.event_id).not.to.equal(secret);
      const forward = await lookup(`ts=${secretTs}&dir=f`);
      expect(forward.status).to.equal(200);
      expect(forward.body.event_id).not.to.equal(secret);
      expect((await lookup(`ts=${secretTs}&dir=b`, alice)).body.event_id).to.equal(secret);

      const cases: Array<[string, string]> = [
        ["dir=f", "M_MISSING_PARAM"],
        ["ts=1", "M_MISSING_PARAM"],
        ["ts=abc&dir=f", "M_INVALID_PARAM"],
        ["ts=1&dir=x", "M_INVALID_PARAM"],
      ];
      for (const [query, errcode] of cases) {
        const res = await lookup(query);
        expect(res.status, query).to.equal(400);
        expect(res.body, query).to.include({ errcode });
      }
      const outsider = await registerUser(api);
      expect((await lookup(`ts=${secretTs}&dir=f`, outsider)).status).to.equal(403);
    });
  });

  describe("reports", () => {
    const reportsOf = async (reporter: string) => {
      const client = new pg.Client({ connectionString: testDatabaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT room_id, event_id, reason, score FROM reports WHERE reporter = $1 ORDER BY report_id`, [reporter]);
        return rows as Array<{ room_id: string; event_id: string | null; reason: string | null; score: number | null }>;
      } finally {
        await client.end();
      }
    };

    it("stores an event report from a member who can see the event", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const eventId = await sendText(api, alice, roomId, "offensive");
      const res = await api.post(`${room(roomId)}/report/${encodeURIComponent(eventId)}`, { reason: "rude", score: -50 }, { token: bob.access_token });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({});
      const noReason = await api.post(`${room(roomId)}/report/${encodeURIComponent(eventId)}`, {}, { token: bob.access_token });
      expect(noReason.status).to.equal(200);
      expect(await reportsOf(bob.user_id)).to.deep.equal([
        { room_id: roomId, event_id: eventId, reason: "rude", score: -50 },
        { room_id: roomId, event_id: eventId, reason: null, score: null },
      ]);
    });

    it("answers 404 when the reporter is not joined or cannot see the event, and 400 for a bad body", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat", initial_state: JOINED_ONLY });
      const secret = await sendText(api, alice, roomId, "before carol");
      const dave = await registerUser(api);
      const report = (user: TestUser, eventId: string, body: unknown = { reason: "x" }) =>
        api.post(`${room(roomId)}/report/${encodeURIComponent(eventId)}`, body, { token: user.access_token });
      expect((await report(dave, secret)).status).to.equal(404);
      await join(api, carol, roomId);
      const hidden = await report(carol, secret);
      expect(hidden.status).to.equal(404);
      expect(hidden.body).to.include({ errcode: "M_NOT_FOUND" });
      expect((await report(carol, "$missing")).status).to.equal(404);
      const visible = await sendText(api, alice, roomId, "after carol");
      expect((await report(carol, visible)).status).to.equal(200);
      // A former member may no longer report (spec: joined).
      await api.post(`${room(roomId)}/leave`, {}, { token: carol.access_token });
      expect((await report(carol, visible)).status).to.equal(404);

      await join(api, dave, roomId);
      for (const body of [{ reason: 5 }, { score: "bad" }, { score: 1.5 }, []]) {
        const res = await report(dave, visible, body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.body, JSON.stringify(body)).to.include({ errcode: "M_BAD_JSON" });
      }
      const range = await report(dave, visible, { score: -101 });
      expect(range.status).to.equal(400);
      expect(range.body).to.include({ errcode: "M_INVALID_PARAM" });
      expect(await reportsOf(dave.user_id)).to.deep.equal([]);
    });

    it("stores a room report from anyone, and answers 404 for an unknown room", async () => {
      const roomId = await createRoom(api, alice, { preset: "private_chat" });
      const erin = await registerUser(api);
      const res = await api.post(`${room(roomId)}/report`, { reason: "spam room" }, { token: erin.access_token });
      expect(res.status).to.equal(200);
      expect(await reportsOf(erin.user_id)).to.deep.equal([{ room_id: roomId, event_id: null, reason: "spam room", score: null }]);
      const unknown = await api.post(`${V3}/rooms/${encodeURIComponent("!nope:localhost")}/report`, { reason: "?" }, { token: erin.access_token });
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.include({ errcode: "M_NOT_FOUND" });
      const missing = await api.post(`${room(roomId)}/report`, {}, { token: erin.access_token });
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ errcode: "M_BAD_JSON" });
    });
  });
});
