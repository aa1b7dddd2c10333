// Room upgrades: POST /rooms/{roomId}/upgrade creates the replacement room
// (predecessor, copied state, power levels, bans, aliases), tombstones and
// quietens the old room, and refuses what the spec and Synapse refuse.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient, type ApiResponse } from "../../support/http-client.ts";
import { createRoom, join, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type StateEvent = { type: string; state_key: string; sender: string; event_id: string; content: Record<string, any> };

describe("room upgrades (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  const upgrade = (roomId: string, user: TestUser, body: Record<string, unknown>): Promise<ApiResponse<{ replacement_room: string }>> =>
    api.post(`${room(roomId)}/upgrade`, body, { token: user.access_token });

  async function stateOf(roomId: string, user: TestUser): Promise<Map<string, StateEvent>> {
    const res = await api.get<StateEvent[]>(`${room(roomId)}/state`, { token: user.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return new Map(res.body.map((e) => [`${e.type}|${e.state_key}`, e]));
  }

  async function putState(roomId: string, user: TestUser, type: string, content: Record<string, unknown>, stateKey = ""): Promise<void> {
    const res = await api.put(`${room(roomId)}/state/${type}/${encodeURIComponent(stateKey)}`, content, { token: user.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  }

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  describe("a version 12 room upgraded to version 12", () => {
    let oldRoom: string;
    let newRoom: string;
    let alias: string;
    let oldState: Map<string, StateEvent>;
    let newState: Map<string, StateEvent>;

    before(async () => {
      const aliasName = `upg${Date.now().toString(36)}`;
      alias = `#${aliasName}:localhost`;
      oldRoom = await createRoom(api, alice, { preset: "public_chat", visibility: "public", name: "Old name", topic: "Old topic", room_alias_name: aliasName });
      await join(api, bob, oldRoom);
      await join(api, carol, oldRoom);
      await putState(oldRoom, alice, "m.room.avatar", { url: "mxc://localhost/pic" });
      await putState(oldRoom, alice, "m.room.server_acl", { allow: ["*"], deny: ["evil.example"], allow_ip_literals: false });
      await putState(oldRoom, alice, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" });
      await putState(oldRoom, alice, "m.room.canonical_alias", { alias, alt_aliases: [alias, "#elsewhere:remote.example"] });
      await putState(oldRoom, alice, "m.room.power_levels", {
        ...(await stateOf(oldRoom, alice)).get("m.room.power_levels|")!.content,
        users: { [bob.user_id]: 50 },
      });
      expect((await api.post(`${room(oldRoom)}/ban`, { user_id: carol.user_id, reason: "spam" }, { token: alice.access_token })).status).to.equal(200);
      await sendText(api, bob, oldRoom, "before the upgrade");

      const res = await upgrade(oldRoom, alice, { new_version: "12" });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      newRoom = res.body.replacement_room;
      oldState = await stateOf(oldRoom, bob);
      newState = await stateOf(newRoom, alice);
    });

    it("creates the new room with a predecessor naming the old room", () => {
      expect(newRoom).to.match(/^![A-Za-z0-9_-]{43}$/);
      const create = newState.get("m.room.create|")!;
      expect(create.sender).to.equal(alice.user_id);
      expect(create.content).to.deep.equal({ room_version: "12", predecessor: { room_id: oldRoom } });
      expect(newState.get(`m.room.member|${alice.user_id}`)!.content.membership).to.equal("join");
      // Nobody else is moved or invited: members follow the tombstone.
      expect(newState.has(`m.room.member|${bob.user_id}`)).to.equal(false);
    });

    it("tombstones the old room, pointing at the new one", () => {
      const tombstone = oldState.get("m.room.tombstone|")!;
      expect(tombstone.sender).to.equal(alice.user_id);
      expect(tombstone.content).to.deep.equal({ body: "This room has been replaced", replacement_room: newRoom });
    });

    it("copies the transferable state", () => {
      expect(newState.get("m.room.name|")!.content).to.deep.equal({ name: "Old name" });
      expect(newState.get("m.room.topic|")!.content).to.deep.equal({ topic: "Old topic" });
      expect(newState.get("m.room.avatar|")!.content).to.deep.equal({ url: "mxc://localhost/pic" });
      expect(newState.get("m.room.join_rules|")!.content).to.deep.equal({ join_rule: "public" });
      expect(newState.get("m.room.history_visibility|")!.content).to.deep.equal({ history_visibility: "shared" });
      expect(newState.get("m.room.encryption|")!.content).to.deep.equal({ algorithm: "m.megolm.v1.aes-sha2" });
      expect(newState.get("m.room.server_acl|")!.content).to.deep.equal({ allow: ["*"], deny: ["evil.example"], allow_ip_literals: false });
      expect(newState.has("m.room.guest_access|")).to.equal(false);
    });

    it("copies the power levels, leaving the old room's users as they were", () => {
      const oldPl = oldState.get("m.room.power_levels|")!.content;
      const newPl = newState.get("m.room.power_levels|")!.content;
      expect(newPl.users).to.deep.equal({ [bob.user_id]: 50 });
      expect(newPl.events).to.deep.equal(oldPl.events);
      expect(newPl.state_default).to.equal(50);
      expect(newPl.events_default).to.equal(0);
    });

    it("raises invite and events_default in the old room so chat moves on", async () => {
      const oldPl = oldState.get("m.room.power_levels|")!.content;
      expect(oldPl).to.include({ invite: 50, events_default: 50 });
      const res = await api.put(`${room(oldRoom)}/send/m.room.message/late-${Date.now()}`, { msgtype: "m.text", body: "hello?" }, { token: carol.access_token });
      expect(res.status).to.equal(403);
      // bob has 50 and may still speak in the old room.
      await sendText(api, bob, oldRoom, "still here");
    });

    it("carries bans over", () => {
      const ban = newState.get(`m.room.member|${carol.user_id}`)!;
      expect(ban.content).to.deep.equal({ membership: "ban", reason: "spam" });
      expect(ban.sender).to.equal(alice.user_id);
    });

    it("moves local aliases and the canonical alias", async () => {
      const resolved = await api.get<{ room_id: string }>(`${V3}/directory/room/${encodeURIComponent(alias)}`);
      expect(resolved.body.room_id).to.equal(newRoom);
      expect(newState.get("m.room.canonical_alias|")!.content).to.deep.equal({ alias, alt_aliases: [alias] });
      expect(oldState.get("m.room.canonical_alias|")!.content).to.deep.equal({ alt_aliases: ["#elsewhere:remote.example"] });
      const aliases = await api.get<{ aliases: string[] }>(`${room(newRoom)}/aliases`, { token: alice.access_token });
      expect(aliases.body.aliases).to.deep.equal([alias]);
    });

    it("moves the directory listing to the new room", async () => {
      expect((await api.get(`${V3}/directory/list/room/${encodeURIComponent(newRoom)}`)).body).to.deep.equal({ visibility: "public" });
      expect((await api.get(`${V3}/directory/list/room/${encodeURIComponent(oldRoom)}`)).body).to.deep.equal({ visibility: "private" });
    });

    it("shows the tombstone to members through sync, and lets them join the new room", async () => {
      const s = await sync(api, bob);
      const timeline = s.rooms.join[oldRoom]!.timeline.events;
      expect(timeline.some((e) => e.type === "m.room.tombstone" && e.content.replacement_room === newRoom)).to.equal(true);
      await join(api, bob, newRoom);
    });
  });

  describe("power levels across versions", () => {
    it("names the tombstone in the predecessor before v12 and lends the upgrader power only while copying", async () => {
      const oldRoom = await createRoom(api, alice, {
        room_version: "10",
        preset: "public_chat",
        name: "Ten",
        power_level_content_override: { events: { "m.room.tombstone": 50, "m.room.encryption": 100, "m.room.power_levels": 100 } },
      });
      await join(api, bob, oldRoom);
      await putState(oldRoom, alice, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" });
      const pl = (await stateOf(oldRoom, alice)).get("m.room.power_levels|")!.content;
      await putState(oldRoom, alice, "m.room.power_levels", { ...pl, users: { ...pl.users, [bob.user_id]: 50 } });

      // bob has just enough to tombstone the room, not enough to copy the encryption event unaided.
      const res = await upgrade(oldRoom, bob, { new_version: "11" });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const oldState = await stateOf(oldRoom, alice);
      const newState = await stateOf(res.body.replacement_room, bob);
      const tombstone = oldState.get("m.room.tombstone|")!;
      expect(newState.get("m.room.create|")!.content).to.deep.equal({ room_version: "11", predecessor: { room_id: oldRoom, event_id: tombstone.event_id } });
      expect(newState.get("m.room.encryption|")!.content).to.deep.equal({ algorithm: "m.megolm.v1.aes-sha2" });
      expect(newState.get("m.room.name|")!.content).to.deep.equal({ name: "Ten" });
      // After the copy bob is back at his old level.
      expect(newState.get("m.room.power_levels|")!.content.users).to.deep.equal({ [alice.user_id]: 100, [bob.user_id]: 50 });
    });

    it("leaves v12 creators out of the users map and honours additional_creators", async () => {
      const oldRoom = await createRoom(api, alice, { room_version: "11", preset: "public_chat" });
      await join(api, bob, oldRoom);
      const pl = (await stateOf(oldRoom, alice)).get("m.room.power_levels|")!.content;
      await putState(oldRoom, alice, "m.room.power_levels", { ...pl, users: { ...pl.users, [bob.user_id]: 75, [carol.user_id]: 10 } });
      const res = await upgrade(oldRoom, alice, { new_version: "12", additional_creators: [bob.user_id] });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const newState = await stateOf(res.body.replacement_room, alice);
      expect(newState.get("m.room.create|")!.content).to.deep.equal({ room_version: "12", predecessor: { room_id: oldRoom }, additional_creators: [bob.user_id] });
      expect(newState.get("m.room.power_levels|")!.content.users).to.deep.equal({ [carol.user_id]: 10 });
    });

    it("gives a v12 creator moving to an older version the creator's 100, ignoring additional_creators", async () => {
      const oldRoom = await createRoom(api, alice, { preset: "public_chat" });
      const res = await upgrade(oldRoom, alice, { new_version: "11", additional_creators: [bob.user_id] });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const newState = await stateOf(res.body.replacement_room, alice);
      expect(newState.get("m.room.create|")!.content).to.not.have.property("additional_creators");
      expect(newState.get("m.room.power_levels|")!.content.users).to.deep.equal({ [alice.user_id]: 100 });
      await sendText(api, alice, res.body.replacement_room, "still in charge");
    });
  });

  it("keeps a space a space, with its children", async () => {
    const space = await createRoom(api, alice, { preset: "public_chat", creation_content: { type: "m.space" } });
    const child = await createRoom(api, alice, { preset: "public_chat" });
    await putState(space, alice, "m.space.child", { via: ["localhost"], order: "a" }, child);
    await putState(space, alice, "m.space.child", {}, "!gone:localhost");
    const res = await upgrade(space, alice, { new_version: "12" });
    expect(res.status).to.equal(200);
    const newState = await stateOf(res.body.replacement_room, alice);
    expect(newState.get("m.room.create|")!.content.type).to.equal("m.space");
    expect(newState.get(`m.space.child|${child}`)!.content).to.deep.equal({ via: ["localhost"], order: "a" });
    expect(newState.has("m.space.child|!gone:localhost")).to.equal(false);
  });

  describe("refusals", () => {
    let target: string;
    before(async () => {
      target = await createRoom(api, alice, { preset: "public_chat" });
      await join(api, bob, target);
    });

    it("refuses users without the power to send m.room.tombstone, creating nothing", async () => {
      const joinedRooms = async () => (await api.get<{ joined_rooms: string[] }>(`${V3}/joined_rooms`, { token: bob.access_token })).body.joined_rooms.sort();
      const before = await joinedRooms();
      const res = await upgrade(target, bob, { new_version: "12" });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
      expect((await stateOf(target, bob)).has("m.room.tombstone|")).to.equal(false);
      // Had the replacement room been built, bob would be its creator and in it.
      expect(await joinedRooms()).to.deep.equal(before);
    });

    it("refuses non-members with 403", async () => {
      const res = await upgrade(target, carol, { new_version: "12" });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
    });

    it("refuses unknown versions with M_UNSUPPORTED_ROOM_VERSION", async () => {
      for (const version of ["999", "org.example.custom"]) {
        const res = await upgrade(target, alice, { new_version: version });
        expect(res.status, version).to.equal(400);
        expect(res.body, version).to.include({ errcode: "M_UNSUPPORTED_ROOM_VERSION" });
      }
    });

    it("answers 400 for malformed bodies and 404 for unknown rooms", async () => {
      const cases: Array<[string, unknown, number, string]> = [
        [target, {}, 400, "M_MISSING_PARAM"],
        [target, { new_version: 12 }, 400, "M_BAD_JSON"],
        [target, { new_version: "12", additional_creators: "bob" }, 400, "M_BAD_JSON"],
        [target, { new_version: "12", additional_creators: ["not a user"] }, 400, "M_INVALID_PARAM"],
        ["!nosuchroom:localhost", { new_version: "12" }, 404, "M_NOT_FOUND"],
      ];
      for (const [roomId, body, status, errcode] of cases) {
        const res = await api.post(`${room(roomId)}/upgrade`, body, { token: alice.access_token });
        expect(res.status, JSON.stringify(body)).to.equal(status);
        expect(res.body, JSON.stringify(body)).to.include({ errcode });
      }
      expect((await stateOf(target, alice)).has("m.room.tombstone|")).to.equal(false);
    });
  });
});
