// The published room directory: listing with search, room types and
// pagination, and publishing a room through /directory/list/room. Every spec
// file of a run shares one database, so each query here is narrowed by a
// marker only this file's rooms carry.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

interface Chunk {
  room_id: string;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  avatar_url?: string;
  join_rule?: string;
  room_type?: string;
}
interface DirectoryPage {
  chunk: Chunk[];
  next_batch?: string;
  prev_batch?: string;
  total_room_count_estimate?: number;
}

describe("public room directory (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  const marker = `zq${Date.now().toString(36)}`;
  let lounge: string; // public, 1 member, alias, avatar, world-readable
  let busy: string; // public, 3 members
  let space: string; // public space
  let hidden: string; // private: never listed
  let invitedOnly: string; // published but invite-only: not listed

  const search = (body: Record<string, unknown>, user: TestUser = alice) =>
    api.post<DirectoryPage>(`${V3}/publicRooms`, { ...body, filter: { generic_search_term: marker, ...(body.filter as object | undefined) } }, { token: user.access_token });

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    lounge = await createRoom(api, alice, { visibility: "public", name: `Lounge ${marker}`, topic: "cats and dogs", room_alias_name: `lounge-${marker}` });
    busy = await createRoom(api, alice, { visibility: "public", name: `Busy ${marker}` });
    await join(api, bob, busy);
    await join(api, carol, busy);
    space = await createRoom(api, alice, { visibility: "public", name: `Space ${marker}`, creation_content: { type: "m.space" } });
    hidden = await createRoom(api, alice, { visibility: "private", preset: "public_chat", name: `Hidden ${marker}` });
    invitedOnly = await createRoom(api, alice, { visibility: "public", preset: "private_chat", name: `Invite ${marker}` });
    for (const [type, content] of [
      ["m.room.avatar", { url: "mxc://localhost/avatar" }],
      ["m.room.history_visibility", { history_visibility: "world_readable" }],
      ["m.room.guest_access", { guest_access: "can_join" }],
    ] as const) {
      const res = await api.put(`${room(lounge)}/state/${type}/`, content, { token: alice.access_token });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
  });
  after(async () => {
    await server?.stop();
  });

  describe("GET and POST /publicRooms", () => {
    it("lists published rooms open to join, largest first, with their summary fields", async () => {
      const res = await search({});
      expect(res.status).to.equal(200);
      expect(res.body.chunk.map((c) => c.room_id)).to.deep.equal([busy, ...[lounge, space].sort()]);
      const byId = new Map(res.body.chunk.map((c) => [c.room_id, c]));
      expect(byId.get(lounge)).to.deep.equal({
        room_id: lounge,
        name: `Lounge ${marker}`,
        topic: "cats and dogs",
        canonical_alias: `#lounge-${marker}:localhost`,
        num_joined_members: 1,
        world_readable: true,
        guest_can_join: true,
        avatar_url: "mxc://localhost/avatar",
        join_rule: "public",
      });
      expect(byId.get(busy)).to.include({ num_joined_members: 3, world_readable: false, guest_can_join: false, join_rule: "public" });
      expect(byId.get(space)).to.include({ room_type: "m.space" });
      expect(res.body.total_room_count_estimate).to.equal(3);
    });

    it("leaves out private rooms and published rooms that are invite-only", async () => {
      const ids = (await search({})).body.chunk.map((c) => c.room_id);
      expect(ids).not.to.include(hidden);
      expect(ids).not.to.include(invitedOnly);
    });

    it("serves the same list without authentication on GET, page by page", async () => {
      const seen: string[] = [];
      let since: string | undefined;
      do {
        const res = await api.get<DirectoryPage>(`${V3}/publicRooms?limit=50${since ? `&since=${since}` : ""}`);
        expect(res.status).to.equal(200);
        seen.push(...res.body.chunk.map((c) => c.room_id));
        since = res.body.next_batch;
      } while (since);
      expect(seen).to.include.members([lounge, busy, space]);
      expect(seen).not.to.include(hidden);
      expect(new Set(seen).size).to.equal(seen.length);
    });

    it("searches name, topic and canonical alias case-insensitively", async () => {
      const byTopic = await api.post<DirectoryPage>(`${V3}/publicRooms`, { filter: { generic_search_term: "CATS AND" } }, { token: bob.access_token });
      expect(byTopic.body.chunk.map((c) => c.room_id)).to.include(lounge);
      const byAlias = await api.post<DirectoryPage>(`${V3}/publicRooms`, { filter: { generic_search_term: `lounge-${marker.toUpperCase()}` } }, { token: bob.access_token });
      expect(byAlias.body.chunk.map((c) => c.room_id)).to.deep.equal([lounge]);
      const wildcard = await api.post<DirectoryPage>(`${V3}/publicRooms`, { filter: { generic_search_term: `${marker}%` } }, { token: bob.access_token });
      expect(wildcard.body.chunk).to.deep.equal([]);
    });

    it("filters by room type, with null for rooms without one", async () => {
      expect((await search({ filter: { room_types: ["m.space"] } })).body.chunk.map((c) => c.room_id)).to.deep.equal([space]);
      expect((await search({ filter: { room_types: [null] } })).body.chunk.map((c) => c.room_id)).to.deep.equal([busy, lounge]);
      expect((await search({ filter: { room_types: [null, "m.space"] } })).body.chunk).to.have.length(3);
    });

    it("pages with next_batch and prev_batch tokens", async () => {
      const first = await search({ limit: 2 });
      expect(first.body.chunk).to.have.length(2);
      expect(first.body).not.to.have.property("prev_batch");
      const second = await search({ limit: 2, since: first.body.next_batch });
      expect(second.body.chunk).to.have.length(1);
      expect(second.body).not.to.have.property("next_batch");
      const back = await search({ limit: 2, since: second.body.prev_batch });
      expect(back.body.chunk.map((c) => c.room_id)).to.deep.equal(first.body.chunk.map((c) => c.room_id));
      expect([...first.body.chunk, ...second.body.chunk].map((c) => c.room_id).sort()).to.deep.equal([busy, lounge, space].sort());
    });

    it("drops a room nobody is joined to any more", async () => {
      const lonely = await createRoom(api, carol, { visibility: "public", name: `Lonely ${marker}` });
      expect((await search({})).body.chunk.map((c) => c.room_id)).to.include(lonely);
      expect((await api.post(`${room(lonely)}/leave`, {}, { token: carol.access_token })).status).to.equal(200);
      expect((await search({})).body.chunk.map((c) => c.room_id)).not.to.include(lonely);
    });

    it("answers the spec's errors for bad parameters, unreachable remote servers and missing auth", async () => {
      const cases: Array<[Promise<{ status: number; body: unknown }>, number, string]> = [
        [api.get(`${V3}/publicRooms?since=bogus`), 400, "M_INVALID_PARAM"],
        [api.get(`${V3}/publicRooms?limit=-1`), 400, "M_INVALID_PARAM"],
        [api.post(`${V3}/publicRooms`, { limit: "ten" }, { token: alice.access_token }), 400, "M_BAD_JSON"],
        [api.post(`${V3}/publicRooms`, { filter: { room_types: [5] } }, { token: alice.access_token }), 400, "M_BAD_JSON"],
        [api.post(`${V3}/publicRooms`, { filter: "x" }, { token: alice.access_token }), 400, "M_BAD_JSON"],
        [api.get(`${V3}/publicRooms?server=bad%20server`), 400, "M_INVALID_PARAM"],
        // A remote directory is asked over federation; a server that cannot be reached is 502.
        [api.get(`${V3}/publicRooms?server=elsewhere.invalid`), 502, "M_UNKNOWN"],
        [api.post(`${V3}/publicRooms?server=elsewhere.invalid`, {}, { token: alice.access_token }), 502, "M_UNKNOWN"],
        [api.post(`${V3}/publicRooms`, {}), 401, "M_MISSING_TOKEN"],
      ];
      for (const [pending, status, errcode] of cases) {
        const res = await pending;
        expect(res.status, JSON.stringify(res.body)).to.equal(status);
        expect(res.body).to.include({ errcode });
      }
      const local = await api.get<DirectoryPage>(`${V3}/publicRooms?server=localhost&limit=1`);
      expect(local.status).to.equal(200);
    });
  });

  describe("/directory/list/room/{roomId}", () => {
    const list = (roomId: string) => `${V3}/directory/list/room/${encodeURIComponent(roomId)}`;

    it("reports visibility without authentication", async () => {
      expect((await api.get(list(lounge))).body).to.deep.equal({ visibility: "public" });
      expect((await api.get(list(hidden))).body).to.deep.equal({ visibility: "private" });
    });

    it("lets a member with power over the canonical alias publish and unpublish", async () => {
      expect((await api.put(list(hidden), { visibility: "public" }, { token: alice.access_token })).status).to.equal(200);
      expect((await api.get(list(hidden))).body).to.deep.equal({ visibility: "public" });
      expect((await search({})).body.chunk.map((c) => c.room_id)).to.include(hidden);
      expect((await api.put(list(hidden), { visibility: "private" }, { token: alice.access_token })).status).to.equal(200);
      expect((await search({})).body.chunk.map((c) => c.room_id)).not.to.include(hidden);
      // visibility defaults to public.
      expect((await api.put(list(hidden), {}, { token: alice.access_token })).status).to.equal(200);
      expect((await api.get(list(hidden))).body).to.deep.equal({ visibility: "public" });
      expect((await api.put(list(hidden), { visibility: "private" }, { token: alice.access_token })).status).to.equal(200);
    });

    it("refuses members without that power and non-members with 403", async () => {
      for (const user of [bob, carol]) {
        const res = await api.put(list(lounge), { visibility: "private" }, { token: user.access_token });
        expect(res.status).to.equal(403);
        expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
      }
      // bob is a plain member of busy: joined, but below the canonical alias level.
      const member = await api.put(list(busy), { visibility: "private" }, { token: bob.access_token });
      expect(member.status).to.equal(403);
      expect((await api.get(list(busy))).body).to.deep.equal({ visibility: "public" });
    });

    it("answers 404 for unknown rooms and 400 for a bad visibility", async () => {
      const unknown = "!nosuchroom:localhost";
      const get = await api.get(list(unknown));
      expect(get.status).to.equal(404);
      expect(get.body).to.include({ errcode: "M_NOT_FOUND" });
      const put = await api.put(list(unknown), { visibility: "public" }, { token: alice.access_token });
      expect(put.status).to.equal(404);
      expect(put.body).to.include({ errcode: "M_NOT_FOUND" });
      const bad = await api.put(list(lounge), { visibility: "secret" }, { token: alice.access_token });
      expect(bad.status).to.equal(400);
      expect(bad.body).to.include({ errcode: "M_INVALID_PARAM" });
      const badId = await api.get(list("not-a-room"));
      expect(badId.status).to.equal(400);
    });
  });
});
