// The room directory, aliases, space hierarchies, timestamp look-ups and
// OpenID across two real server processes: a user of B browses A's public
// rooms through B, B resolves A's alias (with the servers in the room), and
// requests signed as B reach A's hierarchy and timestamp_to_event; a third
// party checks an OpenID token of A's user.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { authorizationHeader } from "../../../federation/transport/federation-client.ts";
import { parseSigningKeyFile, type SigningKey } from "../../../server/protocol/signing.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { federationRequest, startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, room, sendText, V3 } from "../../support/rooms.ts";

describe("directory, hierarchy, timestamps and OpenID across two server processes", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let keyB: SigningKey;
  const marker = `dir${Date.now().toString(36)}`;
  let publicRoom: string;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
    keyB = parseSigningKeyFile(readFileSync(join(b.dir, "signing.key"), "utf8"))[0]!;
    publicRoom = await createRoom(apiA, alice, { visibility: "public", preset: "public_chat", name: `Lobby ${marker}`, room_alias_name: marker });
  });
  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  const signedAsB = async (method: string, path: string) =>
    federationRequest(a.federationUrl!, method, path, { headers: { Authorization: authorizationHeader(b.serverName, a.serverName, keyB, method, path, undefined) } });

  it("lists A's public rooms to a user of B, through B (GET and POST with a filter)", async () => {
    const listed = await apiB.get<{ chunk: Array<Record<string, any>> }>(`${V3}/publicRooms?server=${encodeURIComponent(a.serverName)}`);
    expect(listed.status, JSON.stringify(listed.body)).to.equal(200);
    expect(listed.body.chunk.map((r) => r.room_id)).to.include(publicRoom);
    const searched = await apiB.post<{ chunk: Array<Record<string, any>> }>(
      `${V3}/publicRooms?server=${encodeURIComponent(a.serverName)}`,
      { filter: { generic_search_term: marker } },
      { token: bob.access_token },
    );
    expect(searched.body.chunk.map((r) => r.name)).to.deep.equal([`Lobby ${marker}`]);
    const nothing = await apiB.post<{ chunk: unknown[] }>(`${V3}/publicRooms?server=${encodeURIComponent(a.serverName)}`, { filter: { generic_search_term: `${marker}-none` } }, { token: bob.access_token });
    expect(nothing.body.chunk).to.deep.equal([]);
  });

  it("resolves A's alias on B with the servers in the room, and joins by it", async () => {
    const alias = `#${marker}:${a.serverName}`;
    const resolved = await apiB.get<{ room_id: string; servers: string[] }>(`${V3}/directory/room/${encodeURIComponent(alias)}`);
    expect(resolved.body.room_id).to.equal(publicRoom);
    expect(resolved.body.servers).to.deep.equal([a.serverName]);
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(alias)}`, {}, { token: bob.access_token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    const again = await apiB.get<{ servers: string[] }>(`${V3}/directory/room/${encodeURIComponent(alias)}`);
    expect(again.body.servers).to.deep.equal([a.serverName, b.serverName]);
  });

  it("answers a hierarchy request from B with the space, its visible children and the inaccessible ones", async () => {
    const space = await createRoom(apiA, alice, { preset: "public_chat", creation_content: { type: "m.space" }, name: `Space ${marker}` });
    const secret = await createRoom(apiA, alice, { preset: "private_chat", name: "Secret" });
    for (const child of [publicRoom, secret]) {
      const res = await apiA.put(`${room(space)}/state/m.space.child/${encodeURIComponent(child)}`, { via: [a.serverName] }, { token: alice.access_token });
      expect(res.status).to.equal(200);
    }
    const answer = await signedAsB("GET", `/_matrix/federation/v1/hierarchy/${encodeURIComponent(space)}`);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.room.room_id).to.equal(space);
    expect(answer.body.room.children_state.map((e: Record<string, unknown>) => e.state_key).sort()).to.deep.equal([publicRoom, secret].sort());
    expect(answer.body.children.map((c: Record<string, unknown>) => c.room_id)).to.deep.equal([publicRoom]);
    expect(answer.body.inaccessible_children).to.deep.equal([secret]);
    const hidden = await signedAsB("GET", `/_matrix/federation/v1/hierarchy/${encodeURIComponent(secret)}`);
    expect(hidden.status).to.equal(404);
  });

  it("finds the event closest to a timestamp for B, a server in the room", async () => {
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    const eventId = await sendText(apiA, alice, publicRoom, "at a known time");
    const answer = await signedAsB("GET", `/_matrix/federation/v1/timestamp_to_event/${encodeURIComponent(publicRoom)}?ts=${before}&dir=f`);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.event_id).to.equal(eventId);
    const bad = await signedAsB("GET", `/_matrix/federation/v1/timestamp_to_event/${encodeURIComponent(publicRoom)}?ts=soon&dir=f`);
    expect(bad.status).to.equal(400);
  });

  it("lets a third party check an OpenID token of A's user, and refuses unknown ones", async () => {
    const issued = await apiA.post<{ access_token: string; matrix_server_name: string; expires_in: number; token_type: string }>(
      `${V3}/user/${encodeURIComponent(alice.user_id)}/openid/request_token`,
      {},
      { token: alice.access_token },
    );
    expect(issued.status).to.equal(200);
    expect(issued.body).to.include({ matrix_server_name: a.serverName, token_type: "Bearer", expires_in: 3600 });
    const info = await federationRequest(a.federationUrl!, "GET", `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(issued.body.access_token)}`);
    expect(info.status).to.equal(200);
    expect(info.body).to.deep.equal({ sub: alice.user_id });
    const unknown = await federationRequest(a.federationUrl!, "GET", "/_matrix/federation/v1/openid/userinfo?access_token=nonsense");
    expect(unknown.status).to.equal(401);
    expect(unknown.body.errcode).to.equal("M_UNKNOWN_TOKEN");
    const forOthers = await apiA.post(`${V3}/user/${encodeURIComponent("@someone:" + a.serverName)}/openid/request_token`, {}, { token: alice.access_token });
    expect(forOthers.status).to.equal(403);
  });
});
