// Spaces: GET /hierarchy (depth-first walk over m.space.child, visibility per
// requester, suggested_only, max_depth, pagination) and the room summary
// (GET /room_summary/{roomIdOrAlias}), for local rooms.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const V1 = "/_matrix/client/v1";

interface HierarchyRoom {
  room_id: string;
  name?: string;
  room_type?: string;
  num_joined_members: number;
  children_state: Array<{ type: string; state_key: string; content: Record<string, unknown>; sender: string; origin_server_ts: number }>;
  [key: string]: unknown;
}
interface HierarchyPage {
  rooms: HierarchyRoom[];
  next_batch?: string;
}

describe("spaces hierarchy and room summary (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser; // builds everything
  let bob: TestUser; // member of the space
  let carol: TestUser; // stranger
  let rootSpace: string;
  let lobby: string; // public, order "a"
  let subSpace: string; // public space, order "b", child: deep
  let deep: string; // public, its child points back at the root (a loop)
  let members: string; // restricted to members of the root space, order "c"
  let knockable: string; // knock, order "d"
  let secret: string; // invite-only, order "e"
  let removed: string; // child event emptied, order "f"

  const hierarchy = (roomId: string, user: TestUser, query = "") =>
    api.get<HierarchyPage>(`${V1}/rooms/${encodeURIComponent(roomId)}/hierarchy${query}`, { token: user.access_token });
  const ids = (page: HierarchyPage) => page.rooms.map((r) => r.room_id);

  async function addChild(space: string, child: string, content: Record<string, unknown>): Promise<void> {
    const res = await api.put(`${room(space)}/state/m.space.child/${encodeURIComponent(child)}`, content, { token: alice.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  }

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const spaceRoom = (name: string) => createRoom(api, alice, { preset: "public_chat", name, creation_content: { type: "m.space" } });
    rootSpace = await spaceRoom("Root");
    subSpace = await spaceRoom("Sub");
    lobby = await createRoom(api, alice, { preset: "public_chat", name: "Lobby", topic: "Say hi" });
    deep = await createRoom(api, alice, { preset: "public_chat", name: "Deep" });
    members = await createRoom(api, alice, {
      name: "Members",
      initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: rootSpace }] } }],
    });
    knockable = await createRoom(api, alice, { name: "Knock", initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] });
    secret = await createRoom(api, alice, { preset: "private_chat", name: "Secret" });
    removed = await createRoom(api, alice, { preset: "public_chat", name: "Removed" });

    await addChild(rootSpace, lobby, { via: ["localhost"], order: "a", suggested: true });
    await addChild(rootSpace, subSpace, { via: ["localhost"], order: "b" });
    await addChild(rootSpace, members, { via: ["localhost"], order: "c" });
    await addChild(rootSpace, knockable, { via: ["localhost"], order: "d" });
    await addChild(rootSpace, secret, { via: ["localhost"], order: "e" });
    await addChild(rootSpace, removed, {});
    await addChild(rootSpace, "!unknown:elsewhere.example", { via: ["elsewhere.example"], order: "g" });
    await addChild(subSpace, deep, { via: ["localhost"] });
    await addChild(deep, rootSpace, { via: ["localhost"] });
    await join(api, bob, rootSpace);
  });
  after(async () => {
    await server?.stop();
  });

  describe("GET /rooms/{roomId}/hierarchy", () => {
    it("walks depth first in the spec's child order, showing each user only the rooms they may see", async () => {
      expect(ids((await hierarchy(rootSpace, alice)).body)).to.deep.equal([rootSpace, lobby, subSpace, deep, members, knockable, secret]);
      // bob is in the root space, which the restricted room allows; the invite-only room stays hidden.
      expect(ids((await hierarchy(rootSpace, bob)).body)).to.deep.equal([rootSpace, lobby, subSpace, deep, members, knockable]);
      expect(ids((await hierarchy(rootSpace, carol)).body)).to.deep.equal([rootSpace, lobby, subSpace, deep, knockable]);
    });

    it("describes each room, with the space's child events as stripped state", async () => {
      const page = (await hierarchy(rootSpace, bob)).body;
      const root = page.rooms[0]!;
      expect(root).to.include({ room_id: rootSpace, name: "Root", room_type: "m.space", num_joined_members: 2, join_rule: "public", room_version: "12" });
      // Every valid child is listed, seen or not; the emptied one is not.
      expect(root.children_state.map((c) => c.state_key)).to.deep.equal([lobby, subSpace, members, knockable, secret, "!unknown:elsewhere.example"]);
      expect(root.children_state[0]).to.include({ type: "m.space.child", state_key: lobby, sender: alice.user_id });
      expect(root.children_state[0]!.content).to.deep.equal({ via: ["localhost"], order: "a", suggested: true });
      expect(root.children_state[0]!.origin_server_ts).to.be.a("number");
      const lobbyEntry = page.rooms.find((r) => r.room_id === lobby)!;
      expect(lobbyEntry).to.include({ name: "Lobby", topic: "Say hi", world_readable: false, guest_can_join: false });
      expect(lobbyEntry.children_state).to.deep.equal([]);
      expect(page.rooms.find((r) => r.room_id === members)).to.deep.include({ join_rule: "restricted", allowed_room_ids: [rootSpace] });
    });

    it("orders children without an order key by timestamp, after those with one", async () => {
      const space = await createRoom(api, alice, { preset: "public_chat", creation_content: { type: "m.space" } });
      const [first, second, ordered] = [await createRoom(api, alice, { preset: "public_chat" }), await createRoom(api, alice, { preset: "public_chat" }), await createRoom(api, alice, { preset: "public_chat" })];
      await addChild(space, first, { via: ["localhost"] });
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct timestamps
      await addChild(space, second, { via: ["localhost"], order: "\u00e9 not ascii" });
      await addChild(space, ordered, { via: ["localhost"], order: "~" });
      expect(ids((await hierarchy(space, alice)).body)).to.deep.equal([space, ordered, first, second]);
    });

    it("keeps to suggested children with suggested_only, and stops at max_depth", async () => {
      expect(ids((await hierarchy(rootSpace, bob, "?suggested_only=true")).body)).to.deep.equal([rootSpace, lobby]);
      expect(ids((await hierarchy(rootSpace, bob, "?max_depth=1")).body)).to.deep.equal([rootSpace, lobby, subSpace, members, knockable]);
      expect(ids((await hierarchy(rootSpace, bob, "?max_depth=0")).body)).to.deep.equal([rootSpace]);
    });

    it("paginates with next_batch, refusing changed parameters and unknown tokens", async () => {
      const seen: string[] = [];
      let from: string | undefined;
      let pages = 0;
      do {
        const res = await hierarchy(rootSpace, bob, `?limit=2${from ? `&from=${encodeURIComponent(from)}` : ""}`);
        expect(res.status).to.equal(200);
        expect(res.body.rooms.length).to.be.at.most(2);
        seen.push(...ids(res.body));
        from = res.body.next_batch;
        pages += 1;
      } while (from && pages < 10);
      expect(seen).to.deep.equal([rootSpace, lobby, subSpace, deep, members, knockable]);

      const first = await hierarchy(rootSpace, bob, "?limit=1");
      const token = encodeURIComponent(first.body.next_batch!);
      for (const query of [`?from=${token}&max_depth=1`, `?from=${token}&suggested_only=true`, "?from=nonsense"]) {
        const res = await hierarchy(rootSpace, bob, query);
        expect(res.status, query).to.equal(400);
        expect(res.body, query).to.include({ errcode: "M_INVALID_PARAM" });
      }
      const otherUser = await hierarchy(rootSpace, carol, `?from=${token}`);
      expect(otherUser.status).to.equal(400);
    });

    it("answers 403 for rooms the user cannot see or that do not exist, and 400 for bad parameters", async () => {
      for (const roomId of [secret, "!nosuchroom:localhost"]) {
        const res = await hierarchy(roomId, carol);
        expect(res.status, roomId).to.equal(403);
        expect(res.body, roomId).to.include({ errcode: "M_FORBIDDEN" });
      }
      for (const query of ["?limit=0", "?limit=x", "?max_depth=-1", "?suggested_only=maybe"]) {
        const res = await hierarchy(rootSpace, bob, query);
        expect(res.status, query).to.equal(400);
        expect(res.body, query).to.include({ errcode: "M_INVALID_PARAM" });
      }
      const anonymous = await api.get(`${V1}/rooms/${encodeURIComponent(rootSpace)}/hierarchy`);
      expect(anonymous.status).to.equal(401);
    });
  });

  describe("GET /room_summary/{roomIdOrAlias}", () => {
    const summary = (target: string, user?: TestUser) =>
      api.get<Record<string, unknown>>(`${V1}/room_summary/${encodeURIComponent(target)}`, user ? { token: user.access_token } : {});

    it("summarises a public room, by ID or alias, with the requester's membership", async () => {
      const alias = `#summary-${Date.now().toString(36)}:localhost`;
      const roomId = await createRoom(api, alice, { preset: "public_chat", name: "Summary", topic: "About", room_alias_name: alias.slice(1, alias.indexOf(":")) });
      const res = await summary(roomId, alice);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({
        room_id: roomId,
        name: "Summary",
        topic: "About",
        canonical_alias: alias,
        num_joined_members: 1,
        world_readable: false,
        guest_can_join: false,
        join_rule: "public",
        room_version: "12",
        membership: "join",
      });
      expect((await summary(alias, carol)).body).to.include({ room_id: roomId, membership: "leave" });
      const anonymous = await summary(roomId);
      expect(anonymous.status).to.equal(200);
      expect(anonymous.body).not.to.have.property("membership");
    });

    it("shows an invite-only room to invitees only, as 404 to everyone else", async () => {
      const roomId = await createRoom(api, alice, { preset: "private_chat", name: "Private" });
      for (const user of [carol, undefined]) {
        const res = await summary(roomId, user);
        expect(res.status).to.equal(404);
        expect(res.body).to.include({ errcode: "M_NOT_FOUND" });
      }
      expect((await api.post(`${room(roomId)}/invite`, { user_id: carol.user_id }, { token: alice.access_token })).status).to.equal(200);
      expect((await summary(roomId, carol)).body).to.include({ room_id: roomId, membership: "invite", join_rule: "invite", guest_can_join: true });
    });

    it("shows world-readable rooms to anyone, and encryption when enabled", async () => {
      const roomId = await createRoom(api, alice, {
        preset: "private_chat",
        initial_state: [
          { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } },
          { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
      });
      const res = await summary(roomId);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ world_readable: true, encryption: "m.megolm.v1.aes-sha2" });
    });

    it("shows a restricted room to members of the allowed rooms", async () => {
      expect((await summary(members, bob)).body).to.deep.include({ allowed_room_ids: [rootSpace], membership: "leave" });
      expect((await summary(members, carol)).status).to.equal(404);
    });

    it("hides a room from a banned user", async () => {
      const roomId = await createRoom(api, alice, { preset: "public_chat" });
      expect((await api.post(`${room(roomId)}/ban`, { user_id: carol.user_id }, { token: alice.access_token })).status).to.equal(200);
      expect((await summary(roomId, carol)).status).to.equal(404);
      expect((await hierarchy(roomId, carol)).status).to.equal(403);
    });

    it("answers 404 for unknown rooms and aliases, 400 for malformed ones, 401 for a bad token", async () => {
      for (const target of ["!nosuchroom:localhost", "#nosuchalias:localhost", "#remote:elsewhere.example"]) {
        const res = await summary(target, alice);
        expect(res.status, target).to.equal(404);
        expect(res.body, target).to.include({ errcode: "M_NOT_FOUND" });
      }
      const bad = await summary("not-a-room", alice);
      expect(bad.status).to.equal(400);
      expect(bad.body).to.include({ errcode: "M_INVALID_PARAM" });
      const badToken = await api.get(`${V1}/room_summary/${encodeURIComponent(lobby)}`, { token: "nonsense" });
      expect(badToken.status).to.equal(401);
      expect(badToken.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
    });
  });
});
