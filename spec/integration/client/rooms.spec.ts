// Rooms through the public API: creation, membership, messages with
// transaction IDs, state, redaction, pagination, history visibility and the
// errors a client can cause.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, nextTxnId, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("rooms (real server process)", function () {
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

  describe("POST /createRoom", () => {
    it("creates a version-12 room whose ID is derived from its create event, with preset state, name and topic", async () => {
      const roomId = await createRoom(api, alice, { name: "Lobby", topic: "Say hi", preset: "public_chat" });
      expect(roomId).to.match(/^![A-Za-z0-9_-]{43}$/);
      const state = await api.get<Array<Record<string, any>>>(`${room(roomId)}/state`, { token: alice.access_token });
      const byType = new Map(state.body.map((e) => [`${e.type}|${e.state_key}`, e]));
      const create = byType.get("m.room.create|")!;
      expect(create.content.room_version).to.equal("12");
      expect(create.event_id).to.equal(`$${roomId.slice(1)}`);
      expect(create.content).not.to.have.property("creator");
      expect(byType.get("m.room.join_rules|")!.content.join_rule).to.equal("public");
      expect(byType.get("m.room.history_visibility|")!.content.history_visibility).to.equal("shared");
      expect(byType.get("m.room.name|")!.content.name).to.equal("Lobby");
      expect(byType.get("m.room.topic|")!.content.topic).to.equal("Say hi");
      expect(byType.get(`m.room.member|${alice.user_id}`)!.content.membership).to.equal("join");
      // v12: the creator has infinite power and must not be listed in users.
      expect(byType.get("m.room.power_levels|")!.content.users).to.deep.equal({});
    });

    it("creates rooms of older versions with the creator in power levels", async () => {
      for (const version of ["1", "5", "10", "11"]) {
        const roomId = await createRoom(api, alice, { room_version: version });
        expect(roomId, version).to.match(/^![^:]+:localhost$/);
        const pl = await api.get<Record<string, any>>(`${room(roomId)}/state/m.room.power_levels/`, { token: alice.access_token });
        expect(pl.body.users[alice.user_id], version).to.equal(100);
        await sendText(api, alice, roomId, `hello v${version}`);
      }
    });

    it("refuses an unknown room version with M_UNSUPPORTED_ROOM_VERSION", async () => {
      const res = await api.post(`${V3}/createRoom`, { room_version: "999" }, { token: alice.access_token });
      expect(res.status).to.equal(400);
      expect(res.body).to.include({ errcode: "M_UNSUPPORTED_ROOM_VERSION" });
    });

    it("claims room_alias_name, and refuses a taken one with M_ROOM_IN_USE", async () => {
      const aliasName = `alias${Date.now()}`;
      const roomId = await createRoom(api, alice, { room_alias_name: aliasName });
      const resolved = await api.get<{ room_id: string }>(`${V3}/directory/room/${encodeURIComponent(`#${aliasName}:localhost`)}`);
      expect(resolved.body.room_id).to.equal(roomId);
      const again = await api.post(`${V3}/createRoom`, { room_alias_name: aliasName }, { token: bob.access_token });
      expect(again.status).to.equal(400);
      expect(again.body).to.include({ errcode: "M_ROOM_IN_USE" });
    });

    it("invites the users in `invite`, who see the room in their sync invites", async () => {
      const roomId = await createRoom(api, alice, { invite: [carol.user_id], is_direct: true, name: "DM" });
      const s = await sync(api, carol);
      const invite = s.rooms.invite[roomId];
      expect(invite, "invite section").to.not.equal(undefined);
      const types = invite!.invite_state.events.map((e) => e.type);
      expect(types).to.include.members(["m.room.create", "m.room.join_rules", "m.room.name", "m.room.member"]);
    });

    it("rejects a wrongly typed field with M_BAD_JSON", async () => {
      const res = await api.post(`${V3}/createRoom`, { invite: "not-a-list" }, { token: alice.access_token });
      expect(res.status).to.equal(400);
      expect(res.body).to.include({ errcode: "M_BAD_JSON" });
    });
  });

  describe("messages", () => {
    it("is idempotent per device and transaction ID", async () => {
      const roomId = await createRoom(api, alice);
      const txnId = nextTxnId();
      const first = await sendText(api, alice, roomId, "once", txnId);
      const retry = await sendText(api, alice, roomId, "once", txnId);
      expect(retry).to.equal(first);
      const page = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=50`, { token: alice.access_token });
      expect(page.body.chunk.filter((e) => e.content.body === "once")).to.have.length(1);
      // Another device of the same user may reuse the transaction ID.
      const login = await api.post<{ access_token: string }>(`${V3}/login`, { type: "m.login.password", user: alice.user_id, password: alice.password });
      const other = await api.put<{ event_id: string }>(`${room(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body: "once" }, { token: login.body.access_token });
      expect(other.body.event_id).not.to.equal(first);
    });

    it("scopes transaction IDs per endpoint and path: the same ID in two rooms, or for two event types, is two requests", async () => {
      const [first, second] = [await createRoom(api, alice), await createRoom(api, alice)];
      const txnId = nextTxnId();
      const inFirst = await sendText(api, alice, first, "to the first room", txnId);
      const inSecond = await sendText(api, alice, second, "to the second room", txnId);
      expect(inSecond).not.to.equal(inFirst);
      const otherType = await api.put<{ event_id: string }>(`${room(first)}/send/org.example.custom/${txnId}`, { body: "another type" }, { token: alice.access_token });
      expect(otherType.status).to.equal(200);
      expect(otherType.body.event_id).not.to.equal(inFirst);
      // A retry of each request still answers its own first event.
      expect(await sendText(api, alice, second, "to the second room", txnId)).to.equal(inSecond);
      expect(await sendText(api, alice, first, "to the first room", txnId)).to.equal(inFirst);
      for (const [roomId, body] of [
        [first, "to the first room"],
        [second, "to the second room"],
      ] as const) {
        const page = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=50`, { token: alice.access_token });
        expect(page.body.chunk.filter((e) => e.type === "m.room.message").map((e) => e.content.body)).to.deep.equal([body]);
      }
    });

    it("scopes redaction transaction IDs per target event", async () => {
      const roomId = await createRoom(api, alice);
      const [a, b] = [await sendText(api, alice, roomId, "a"), await sendText(api, alice, roomId, "b")];
      const txnId = nextTxnId();
      const first = await api.put<{ event_id: string }>(`${room(roomId)}/redact/${encodeURIComponent(a)}/${txnId}`, {}, { token: alice.access_token });
      const second = await api.put<{ event_id: string }>(`${room(roomId)}/redact/${encodeURIComponent(b)}/${txnId}`, {}, { token: alice.access_token });
      expect(second.body.event_id).not.to.equal(first.body.event_id);
      const retry = await api.put<{ event_id: string }>(`${room(roomId)}/redact/${encodeURIComponent(b)}/${txnId}`, {}, { token: alice.access_token });
      expect(retry.body.event_id).to.equal(second.body.event_id);
      for (const target of [a, b]) {
        const fetched = await api.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(target)}`, { token: alice.access_token });
        expect(fetched.body.content, target).to.deep.equal({});
      }
    });

    it("shows the transaction ID only to the sending device", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const txnId = nextTxnId();
      const eventId = await sendText(api, alice, roomId, "echo", txnId);
      const mine = await api.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: alice.access_token });
      expect(mine.body.unsigned.transaction_id).to.equal(txnId);
      const theirs = await api.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: bob.access_token });
      expect(theirs.body.unsigned).not.to.have.property("transaction_id");
    });

    it("paginates back through full history in order and forward again", async () => {
      const roomId = await createRoom(api, alice);
      const sent: string[] = [];
      for (let i = 0; i < 25; i++) sent.push(await sendText(api, alice, roomId, `m${i}`));
      const seen: string[] = [];
      let from: string | undefined;
      for (;;) {
        const res = await api.get<{ chunk: Array<Record<string, any>>; end?: string; start: string }>(
          `${room(roomId)}/messages?dir=b&limit=7${from ? `&from=${from}` : ""}&filter=${encodeURIComponent(JSON.stringify({ types: ["m.room.message"] }))}`,
          { token: alice.access_token },
        );
        expect(res.status).to.equal(200);
        seen.push(...res.body.chunk.map((e) => e.event_id as string));
        if (!res.body.end) break;
        from = res.body.end;
      }
      expect(seen).to.deep.equal([...sent].reverse());
      const forward = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=f&limit=100&filter=${encodeURIComponent(JSON.stringify({ types: ["m.room.message"] }))}`, {
        token: alice.access_token,
      });
      expect(forward.body.chunk.map((e) => e.event_id)).to.deep.equal(sent);
    });

    it("redacts a message: content stripped, redacted_because present", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const eventId = await sendText(api, bob, roomId, "oops");
      const redaction = await api.put<{ event_id: string }>(`${room(roomId)}/redact/${encodeURIComponent(eventId)}/${nextTxnId()}`, { reason: "typo" }, { token: bob.access_token });
      expect(redaction.status).to.equal(200);
      const fetched = await api.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: alice.access_token });
      expect(fetched.body.content).to.deep.equal({});
      expect(fetched.body.unsigned.redacted_because.event_id).to.equal(redaction.body.event_id);
      expect(fetched.body.unsigned.redacted_because.content.reason).to.equal("typo");
    });

    it("serves redaction events with `redacts` both at the top level and in content, in every room version", async () => {
      for (const version of ["10", "12"]) {
        const roomId = await createRoom(api, alice, { room_version: version });
        const target = await sendText(api, alice, roomId, "gone");
        const redaction = await api.put<{ event_id: string }>(`${room(roomId)}/redact/${encodeURIComponent(target)}/${nextTxnId()}`, {}, { token: alice.access_token });
        const event = await api.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(redaction.body.event_id)}`, { token: alice.access_token });
        expect(event.body.redacts, version).to.equal(target);
        expect(event.body.content.redacts, version).to.equal(target);
      }
    });

    it("does not let a member redact someone else's message without the redact level", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const eventId = await sendText(api, alice, roomId, "mine");
      const denied = await api.put(`${room(roomId)}/redact/${encodeURIComponent(eventId)}/${nextTxnId()}`, {}, { token: bob.access_token });
      expect(denied.status).to.equal(403);
      expect(denied.body).to.include({ errcode: "M_FORBIDDEN" });
      const unknown = await api.put(`${room(roomId)}/redact/${encodeURIComponent(`$${"A".repeat(43)}`)}/${nextTxnId()}`, {}, { token: bob.access_token });
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.include({ errcode: "M_NOT_FOUND" });
      // Nothing was stored for the refused redactions.
      const page = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=50`, { token: alice.access_token });
      expect(page.body.chunk.filter((e) => e.type === "m.room.redaction")).to.deep.equal([]);
      const fetched = await api.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: alice.access_token });
      expect(fetched.body.content.body).to.equal("mine");
    });

    it("answers bad input with the spec's errors", async () => {
      const roomId = await createRoom(api, alice);
      const notMember = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { body: "x" }, { token: bob.access_token });
      expect(notMember.status).to.equal(403);
      expect(notMember.body).to.include({ errcode: "M_FORBIDDEN" });
      const unknownRoom = await api.put(`${room("!doesnotexist:localhost")}/send/m.room.message/${nextTxnId()}`, { body: "x" }, { token: alice.access_token });
      expect(unknownRoom.status).to.equal(403);
      const badId = await api.put(`${V3}/rooms/not-a-room/send/m.room.message/${nextTxnId()}`, { body: "x" }, { token: alice.access_token });
      expect(badId.status).to.equal(400);
      expect(badId.body).to.include({ errcode: "M_INVALID_PARAM" });
      const notObject = await api.request("PUT", `${room(roomId)}/send/m.room.message/${nextTxnId()}`, { raw: "[1]", token: alice.access_token });
      expect(notObject.status).to.equal(400);
      expect(notObject.body).to.include({ errcode: "M_BAD_JSON" });
      const huge = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { body: "x".repeat(70_000) }, { token: alice.access_token });
      expect(huge.status).to.equal(413);
      expect(huge.body).to.include({ errcode: "M_TOO_LARGE" });
      // Under the request-body limit, but the signed PDU exceeds 65,536 bytes.
      const nearLimit = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { body: "x".repeat(65_300) }, { token: alice.access_token });
      expect(nearLimit.status).to.equal(413);
      expect(nearLimit.body).to.include({ errcode: "M_TOO_LARGE" });
      const noToken = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { body: "x" });
      expect(noToken.status).to.equal(401);
    });
  });

  describe("state", () => {
    it("enforces power levels on state changes", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const denied = await api.put(`${room(roomId)}/state/m.room.name/`, { name: "bob's room" }, { token: bob.access_token });
      expect(denied.status).to.equal(403);
      expect(denied.body).to.include({ errcode: "M_FORBIDDEN" });
      const allowed = await api.put<{ event_id: string }>(`${room(roomId)}/state/m.room.name/`, { name: "Renamed" }, { token: alice.access_token });
      expect(allowed.status).to.equal(200);
      const name = await api.get<{ name: string }>(`${room(roomId)}/state/m.room.name/`, { token: bob.access_token });
      expect(name.body.name).to.equal("Renamed");
      const full = await api.get<Record<string, any>>(`${room(roomId)}/state/m.room.name/?format=event`, { token: bob.access_token });
      expect(full.body.event_id).to.equal(allowed.body.event_id);
      expect(full.body.unsigned.prev_content).to.equal(undefined);
      const missing = await api.get(`${room(roomId)}/state/m.room.avatar/`, { token: bob.access_token });
      expect(missing.status).to.equal(404);
      expect(missing.body).to.include({ errcode: "M_NOT_FOUND" });
    });

    it("carries prev_content on a replaced state event", async () => {
      const roomId = await createRoom(api, alice, { topic: "first" });
      await api.put(`${room(roomId)}/state/m.room.topic/`, { topic: "second" }, { token: alice.access_token });
      const event = await api.get<Record<string, any>>(`${room(roomId)}/state/m.room.topic/?format=event`, { token: alice.access_token });
      expect(event.body.content.topic).to.equal("second");
      expect(event.body.unsigned.prev_content).to.deep.equal({ topic: "first" });
    });

    it("lists members and joined members", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      await api.post(`${room(roomId)}/invite`, { user_id: carol.user_id }, { token: alice.access_token });
      const members = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/members`, { token: bob.access_token });
      expect(members.body.chunk.map((e) => [e.state_key, e.content.membership]).sort()).to.deep.equal(
        [[alice.user_id, "join"], [bob.user_id, "join"], [carol.user_id, "invite"]].sort(),
      );
      const invited = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/members?membership=invite`, { token: bob.access_token });
      expect(invited.body.chunk.map((e) => e.state_key)).to.deep.equal([carol.user_id]);
      const joined = await api.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: bob.access_token });
      expect(Object.keys(joined.body.joined).sort()).to.deep.equal([alice.user_id, bob.user_id].sort());
      // `at`: the membership as of an earlier sync token.
      const before = await sync(api, bob);
      await api.post(`${room(roomId)}/kick`, { user_id: carol.user_id }, { token: alice.access_token });
      const atToken = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/members?at=${before.next_batch}`, { token: bob.access_token });
      expect(atToken.body.chunk.find((e) => e.state_key === carol.user_id)!.content.membership).to.equal("invite");
      const now = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/members`, { token: bob.access_token });
      expect(now.body.chunk.find((e) => e.state_key === carol.user_id)!.content.membership).to.equal("leave");
      const outsider = await registerUser(api);
      const denied = await api.get(`${room(roomId)}/members`, { token: outsider.access_token });
      expect(denied.status).to.equal(403);
    });
  });

  describe("membership", () => {
    it("invite, join, leave, kick, ban; a banned user cannot rejoin; unban lets them", async () => {
      const roomId = await createRoom(api, alice);
      const dave = await registerUser(api);
      const uninvited = await api.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: dave.access_token });
      expect(uninvited.status).to.equal(403);
      expect((await api.post(`${room(roomId)}/invite`, { user_id: dave.user_id }, { token: alice.access_token })).status).to.equal(200);
      await join(api, dave, roomId);
      const joinedRooms = await api.get<{ joined_rooms: string[] }>(`${V3}/joined_rooms`, { token: dave.access_token });
      expect(joinedRooms.body.joined_rooms).to.include(roomId);
      expect((await api.post(`${room(roomId)}/kick`, { user_id: dave.user_id, reason: "bye" }, { token: alice.access_token })).status).to.equal(200);
      const kickedRejoin = await api.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: dave.access_token });
      expect(kickedRejoin.status).to.equal(403);
      await api.post(`${room(roomId)}/invite`, { user_id: dave.user_id }, { token: alice.access_token });
      await join(api, dave, roomId);
      expect((await api.post(`${room(roomId)}/ban`, { user_id: dave.user_id, reason: "spam" }, { token: alice.access_token })).status).to.equal(200);
      const bannedRejoin = await api.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: dave.access_token });
      expect(bannedRejoin.status).to.equal(403);
      const bannedInvite = await api.post(`${room(roomId)}/invite`, { user_id: dave.user_id }, { token: alice.access_token });
      expect(bannedInvite.status).to.equal(403);
      const member = await api.get<Record<string, any>>(`${room(roomId)}/state/m.room.member/${encodeURIComponent(dave.user_id)}`, { token: alice.access_token });
      expect(member.body).to.include({ membership: "ban", reason: "spam" });
      const notBanned = await api.post(`${room(roomId)}/unban`, { user_id: carol.user_id }, { token: alice.access_token });
      expect(notBanned.status).to.equal(400);
      expect((await api.post(`${room(roomId)}/unban`, { user_id: dave.user_id }, { token: alice.access_token })).status).to.equal(200);
      await api.post(`${room(roomId)}/invite`, { user_id: dave.user_id }, { token: alice.access_token });
      await join(api, dave, roomId);
    });

    it("stops a member without the kick level from kicking", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      await join(api, carol, roomId);
      const res = await api.post(`${room(roomId)}/kick`, { user_id: carol.user_id }, { token: bob.access_token });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
    });

    it("joins by alias and forgets a left room", async () => {
      const aliasName = `joinme${Date.now()}`;
      const roomId = await createRoom(api, alice, { preset: "public_chat", room_alias_name: aliasName });
      const res = await api.post<{ room_id: string }>(`${V3}/join/${encodeURIComponent(`#${aliasName}:localhost`)}`, {}, { token: bob.access_token });
      expect(res.body.room_id).to.equal(roomId);
      const stillIn = await api.post(`${room(roomId)}/forget`, {}, { token: bob.access_token });
      expect(stillIn.status).to.equal(400);
      expect((await api.post(`${room(roomId)}/leave`, {}, { token: bob.access_token })).status).to.equal(200);
      expect((await api.post(`${room(roomId)}/forget`, {}, { token: bob.access_token })).status).to.equal(200);
      const unknownAlias = await api.post(`${V3}/join/${encodeURIComponent("#nope-nope:localhost")}`, {}, { token: bob.access_token });
      expect(unknownAlias.status).to.equal(404);
    });

    it("deactivating an account leaves every room it was in", async () => {
      const erin = await registerUser(api);
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, erin, roomId);
      const start = await api.post<{ session: string }>(`${V3}/account/deactivate`, {}, { token: erin.access_token });
      const done = await api.post(
        `${V3}/account/deactivate`,
        { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: erin.user_id }, password: erin.password, session: start.body.session } },
        { token: erin.access_token },
      );
      expect(done.status).to.equal(200);
      const member = await api.get<Record<string, any>>(`${room(roomId)}/state/m.room.member/${encodeURIComponent(erin.user_id)}`, { token: alice.access_token });
      expect(member.body.membership).to.equal("leave");
    });

    it("knocks on a knock room (v7+)", async () => {
      const roomId = await createRoom(api, alice, { initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] });
      const res = await api.post(`${V3}/knock/${encodeURIComponent(roomId)}`, { reason: "let me in" }, { token: bob.access_token });
      expect(res.status).to.equal(200);
      const member = await api.get<Record<string, any>>(`${room(roomId)}/state/m.room.member/${encodeURIComponent(bob.user_id)}`, { token: alice.access_token });
      expect(member.body.membership).to.equal("knock");
    });
  });

  describe("history visibility", () => {
    it("hides events from before a join in a `joined` room, and everything from outsiders", async () => {
      const roomId = await createRoom(api, alice, {
        preset: "public_chat",
        initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }],
      });
      const secret = await sendText(api, alice, roomId, "before bob");
      const outsider = await api.get(`${room(roomId)}/messages?dir=b`, { token: bob.access_token });
      expect(outsider.status).to.equal(403);
      await join(api, bob, roomId);
      const after = await sendText(api, alice, roomId, "after bob");
      const page = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=50`, { token: bob.access_token });
      const ids = page.body.chunk.map((e) => e.event_id);
      expect(ids).to.include(after);
      expect(ids).not.to.include(secret);
      const direct = await api.get(`${room(roomId)}/event/${encodeURIComponent(secret)}`, { token: bob.access_token });
      expect(direct.status).to.equal(404);
    });

    it("shows a former member history only up to their departure", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, roomId);
      const before = await sendText(api, alice, roomId, "while bob is here");
      await api.post(`${room(roomId)}/leave`, {}, { token: bob.access_token });
      const later = await sendText(api, alice, roomId, "after bob left");
      const page = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=50`, { token: bob.access_token });
      const ids = page.body.chunk.map((e) => e.event_id);
      expect(ids).to.include(before);
      expect(ids).not.to.include(later);
      await api.put(`${room(roomId)}/state/m.room.topic/`, { topic: "new" }, { token: alice.access_token });
      const state = await api.get<Array<Record<string, any>>>(`${room(roomId)}/state`, { token: bob.access_token });
      expect(state.body.find((e) => e.type === "m.room.topic")).to.equal(undefined);
    });
  });
});
