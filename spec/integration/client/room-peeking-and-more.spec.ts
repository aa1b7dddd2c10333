// The smaller client-server endpoints against a real server process:
// peeking (room initialSync, /events), mutual rooms with pagination, user
// reports, the support and policy-server well-knowns, phone-number requests
// without an SMS provider, and third-party lookups without bridges.
import { expect } from "chai";
import pg from "pg";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { expectSpecResponse } from "../../support/openapi.ts";
import { createRoom, join, room, sendText, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";

const V1 = "/_matrix/client/v1";
const SUPPORT = {
  contacts: [
    { matrix_id: "@admin:localhost", role: "m.role.admin" },
    { email_address: "security@example.org", role: "m.role.security" },
  ],
  support_page: "https://example.org/support",
};
const POLICY = { public_keys: { ed25519: "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ" } };

interface Chunked {
  start: string;
  end: string;
  chunk: Array<Record<string, any>>;
}

describe("peeking, mutual rooms, user reports, well-knowns, msisdn and third-party lookups", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    server = await startServer({ config: { well_known: { support: SUPPORT, policy_server: POLICY }, limits: { mutual_rooms_batch: 2 } } });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  describe("GET /rooms/{roomId}/initialSync", () => {
    it("gives a member the room's state, latest messages, membership and room account data", async () => {
      const alice = await registerUser(api);
      const roomId = await createRoom(api, alice, { name: "initial" });
      for (let i = 0; i < 4; i += 1) await sendText(api, alice, roomId, `m${i}`);
      await api.put(`${V3}/user/${encodeURIComponent(alice.user_id)}/rooms/${encodeURIComponent(roomId)}/tags/u.work`, {}, { token: alice.access_token });
      const res = await api.get<Record<string, any>>(`${room(roomId)}/initialSync?limit=3`, { token: alice.access_token });
      expect(res.status).to.equal(200);
      expect(res.body.room_id).to.equal(roomId);
      expect(res.body.membership).to.equal("join");
      expect(res.body.visibility).to.equal("private");
      expect(res.body.messages.chunk.map((e: { content: { body?: string } }) => e.content.body)).to.deep.equal(["m1", "m2", "m3"]);
      expect(res.body.state.map((e: { type: string }) => e.type)).to.include.members(["m.room.create", "m.room.name", "m.room.member"]);
      expect(res.body.account_data.map((a: { type: string }) => a.type)).to.include("m.tag");
      // The start token pages on through /messages.
      const older = await api.get<Chunked>(`${room(roomId)}/messages?dir=b&limit=1&from=${res.body.messages.start}`, { token: alice.access_token });
      expect(older.body.chunk[0]!.content.body).to.equal("m0");
    });

    it("lets anyone peek into a world-readable room, and refuses other rooms with 403", async () => {
      const alice = await registerUser(api);
      const peeker = await registerUser(api);
      const open = await createRoom(api, alice, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } }] });
      await sendText(api, alice, open, "visible to all");
      const res = await api.get<Record<string, any>>(`${room(open)}/initialSync`, { token: peeker.access_token });
      expect(res.status).to.equal(200);
      expect(res.body).to.not.have.property("membership");
      expect(res.body.messages.chunk.at(-1).content.body).to.equal("visible to all");

      const closed = await createRoom(api, alice);
      const refused = await api.get(`${room(closed)}/initialSync`, { token: peeker.access_token });
      expect(refused.status).to.equal(403);
      expect(refused.body.errcode).to.equal("M_FORBIDDEN");
    });
  });

  describe("GET /events", () => {
    it("streams new events of a world-readable room to a peeker, waking when one arrives", async () => {
      const alice = await registerUser(api);
      const peeker = await registerUser(api);
      const open = await createRoom(api, alice, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } }] });
      const first = await api.get<Chunked>(`${V3}/events?room_id=${encodeURIComponent(open)}&timeout=0`, { token: peeker.access_token });
      expect(first.status).to.equal(200);
      expect(first.body.chunk).to.deep.equal([]);
      const waiting = api.get<Chunked>(`${V3}/events?room_id=${encodeURIComponent(open)}&timeout=10000&from=${first.body.end}`, { token: peeker.access_token });
      await new Promise((done) => setTimeout(done, 300));
      const sent = await sendText(api, alice, open, "live");
      const res = await waiting;
      expect(res.status).to.equal(200);
      expect(res.body.chunk.map((e) => e.event_id)).to.deep.equal([sent]);
      expect(res.body.chunk[0]!.room_id).to.equal(open);
      expect(res.body.start).to.equal(first.body.end);
      expect(res.body.end).to.not.equal(first.body.end);
    });

    it("returns the user's joined rooms' events without room_id, and refuses a bad token or a private room", async () => {
      const alice = await registerUser(api);
      const roomId = await createRoom(api, alice);
      const start = await api.get<Chunked>(`${V3}/events?timeout=0`, { token: alice.access_token });
      const sent = await sendText(api, alice, roomId, "mine");
      const res = await api.get<Chunked>(`${V3}/events?timeout=5000&from=${start.body.end}`, { token: alice.access_token });
      expect(res.body.chunk.map((e) => e.event_id)).to.deep.equal([sent]);

      const bad = await api.get(`${V3}/events?from=nonsense`, { token: alice.access_token });
      expect(bad.status).to.equal(400);
      const stranger = await registerUser(api);
      expect((await api.get(`${V3}/events?room_id=${encodeURIComponent(roomId)}&timeout=0`, { token: stranger.access_token })).status).to.equal(403);
    });
  });

  describe("GET /v1/mutual_rooms", () => {
    it("lists shared joined rooms in batches with next_batch and the total count", async () => {
      const alice = await registerUser(api);
      const bob = await registerUser(api);
      const shared: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const roomId = await createRoom(api, alice, { preset: "public_chat" });
        await join(api, bob, roomId);
        shared.push(roomId);
      }
      await createRoom(api, alice); // not shared
      const seen: string[] = [];
      let from: string | undefined;
      for (let page = 0; page < 5; page += 1) {
        const res = await api.get<{ joined: string[]; count: number; next_batch?: string }>(
          `${V1}/mutual_rooms?user_id=${encodeURIComponent(bob.user_id)}${from ? `&from=${encodeURIComponent(from)}` : ""}`,
          { token: alice.access_token },
        );
        expect(res.status).to.equal(200);
        expect(res.body.count).to.equal(5);
        expect(res.body.joined.length).to.be.at.most(2);
        seen.push(...res.body.joined);
        from = res.body.next_batch;
        if (!from) break;
      }
      expect(seen).to.deep.equal([...shared].sort());
    });

    it("answers an empty list for an unknown user and 400 for oneself, a bad ID, a missing ID or a bad token", async () => {
      const alice = await registerUser(api);
      const unknown = await api.get<{ joined: string[]; count: number }>(`${V1}/mutual_rooms?user_id=${encodeURIComponent("@nobody:localhost")}`, { token: alice.access_token });
      expect(unknown.body).to.deep.equal({ joined: [], count: 0 });
      for (const query of [`user_id=${encodeURIComponent(alice.user_id)}`, "user_id=not-a-user", "", `user_id=${encodeURIComponent("@nobody:localhost")}&from=%21%21`]) {
        const res = await api.get(`${V1}/mutual_rooms?${query}`, { token: alice.access_token });
        expect(res.status, query).to.equal(400);
      }
    });
  });

  describe("POST /users/{userId}/report", () => {
    it("stores a report of a local user for the admins, and 404s unknown users", async () => {
      const alice = await registerUser(api);
      const bob = await registerUser(api);
      const res = await api.post(`${V3}/users/${encodeURIComponent(bob.user_id)}/report`, { reason: "spam" }, { token: alice.access_token });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({});
      const client = new pg.Client({ connectionString: testDatabaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT reporter, reason FROM user_reports WHERE target_user_id = $1`, [bob.user_id]);
        expect(rows).to.deep.equal([{ reporter: alice.user_id, reason: "spam" }]);
      } finally {
        await client.end();
      }
      const unknown = await api.post(`${V3}/users/${encodeURIComponent("@nobody:localhost")}/report`, { reason: "?" }, { token: alice.access_token });
      expect(unknown.status).to.equal(404);
      expect(unknown.body.errcode).to.equal("M_NOT_FOUND");
      const noReason = await api.post(`${V3}/users/${encodeURIComponent(bob.user_id)}/report`, {}, { token: alice.access_token });
      expect(noReason.status).to.equal(400);
    });
  });

  describe("well-known documents", () => {
    it("serves the configured support contacts and policy-server key", async () => {
      for (const [path, expected] of [
        ["/.well-known/matrix/support", SUPPORT],
        ["/.well-known/matrix/policy_server", POLICY],
      ] as const) {
        const res = await api.get(path);
        expect(res.status, path).to.equal(200);
        expect(res.body).to.deep.equal(expected);
        expectSpecResponse("GET", path, res.status, res.body);
      }
    });

    it("answers 404 when they are not configured", async () => {
      const bare = await startServer();
      try {
        const plain = new TestClient(bare.baseUrl);
        for (const path of ["/.well-known/matrix/support", "/.well-known/matrix/policy_server"]) {
          const res = await plain.get(path);
          expect(res.status, path).to.equal(404);
          expect(res.body.errcode).to.equal("M_NOT_FOUND");
        }
      } finally {
        await bare.stop();
      }
    });
  });

  describe("phone numbers without an SMS provider", () => {
    it("checks the request, then answers 400 M_THREEPID_MEDIUM_NOT_SUPPORTED on all three requestToken endpoints", async () => {
      for (const path of ["register", "account/password", "account/3pid"]) {
        const ok = await api.post(`${V3}/${path}/msisdn/requestToken`, { client_secret: "secret", country: "GB", phone_number: "07700900001", send_attempt: 1 });
        expect(ok.status, path).to.equal(400);
        expect(ok.body.errcode, path).to.equal("M_THREEPID_MEDIUM_NOT_SUPPORTED");
        const bad = await api.post(`${V3}/${path}/msisdn/requestToken`, { client_secret: "not valid!", country: "GB", phone_number: "1", send_attempt: 1 });
        expect(bad.body.errcode, path).to.equal("M_INVALID_PARAM");
      }
    });
  });

  describe("third-party lookups without bridges", () => {
    it("lists no protocols and finds nothing", async () => {
      const user: TestUser = await registerUser(api);
      const token = { token: user.access_token };
      expect((await api.get(`${V3}/thirdparty/protocols`, token)).body).to.deep.equal({});
      expect((await api.get(`${V3}/thirdparty/protocol/irc`, token)).status).to.equal(404);
      expect((await api.get(`${V3}/thirdparty/location/irc`, token)).status).to.equal(404);
      expect((await api.get(`${V3}/thirdparty/user/irc`, token)).status).to.equal(404);
      expect((await api.get(`${V3}/thirdparty/location?alias=${encodeURIComponent("#a:b")}`, token)).body).to.deep.equal([]);
      expect((await api.get(`${V3}/thirdparty/user?userid=${encodeURIComponent("@a:b")}`, token)).body).to.deep.equal([]);
      expect((await api.get(`${V3}/thirdparty/user`, token)).body.errcode).to.equal("M_MISSING_PARAM");
    });
  });
});
