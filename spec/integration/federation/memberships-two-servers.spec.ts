// Memberships and outages across two real server processes: a room created
// with a remote user in its invite list (the invite countersigned by B, as
// a direct chat), rejecting an invite to a room B is not in (make_leave/send_leave), knocking from B and
// being let in, a ban that holds on both sides, presence, and B stopped while
// A sends 50 messages, then restarted with its data and key, receiving all 50
// in order.
import { join as joinPath } from "node:path";
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, room, sendText, V3, type SyncResponse } from "../../support/rooms.ts";

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("memberships and outages across two server processes", function () {
  this.timeout(180_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let erin: TestUser;
  let dave: TestUser;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob, erin, dave] = await Promise.all([registerUser(apiA), registerUser(apiB), registerUser(apiB), registerUser(apiB)]);
  });
  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  const membersOn = async (api: TestClient, user: TestUser, roomId: string) =>
    (await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/members`, { token: user.access_token })).body.chunk;
  const membershipOn = async (api: TestClient, user: TestUser, roomId: string, of: string) =>
    (await membersOn(api, user, roomId)).find((e) => e.state_key === of)?.content.membership as string | undefined;

  it("sends the invites of createRoom's invite list to B's users through B, who see and accept them", async () => {
    const created = await apiA.post<{ room_id: string }>(
      `${V3}/createRoom`,
      { preset: "trusted_private_chat", is_direct: true, invite: [dave.user_id] },
      { token: alice.access_token },
    );
    expect(created.status, JSON.stringify(created.body)).to.equal(200);
    const roomId = created.body.room_id;
    expect(await membershipOn(apiA, alice, roomId, dave.user_id), "the invite is in the room on A").to.equal("invite");
    const invite = await eventually("the invite on B", async () => (await apiB.get<SyncResponse>(`${V3}/sync`, { token: dave.access_token })).body.rooms.invite[roomId]);
    const own = invite.invite_state.events.find((e) => e.type === "m.room.member" && e.state_key === dave.user_id);
    expect(own?.content).to.deep.include({ membership: "invite", is_direct: true });
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: dave.access_token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    expect(await eventually("dave joined on A", async () => ((await membershipOn(apiA, alice, roomId, dave.user_id)) === "join" ? true : undefined))).to.equal(true);
    // trusted_private_chat: the invitee got the creator's power level.
    const levels = await apiA.get<{ users: Record<string, number> }>(`${room(roomId)}/state/m.room.power_levels/`, { token: alice.access_token });
    expect(levels.body.users[dave.user_id]).to.equal(100);
  });

  it("lets a user of B reject an invite to a room B is not in, through A", async () => {
    const roomId = await createRoom(apiA, alice, { preset: "private_chat" });
    const invited = await apiA.post(`${room(roomId)}/invite`, { user_id: erin.user_id }, { token: alice.access_token });
    expect(invited.status, JSON.stringify(invited.body)).to.equal(200);
    await eventually("the invite on B", async () => (await apiB.get<SyncResponse>(`${V3}/sync`, { token: erin.access_token })).body.rooms.invite[roomId]);
    const rejected = await apiB.post(`${room(roomId)}/leave`, { reason: "no thanks" }, { token: erin.access_token });
    expect(rejected.status, JSON.stringify(rejected.body)).to.equal(200);
    expect(await membershipOn(apiA, alice, roomId, erin.user_id)).to.equal("leave");
    const s = await apiB.get<SyncResponse>(`${V3}/sync`, { token: erin.access_token });
    expect(s.body.rooms.invite[roomId], "the invite is gone from B's sync").to.equal(undefined);
  });

  it("lets a user of B knock on a room of A, and join once let in", async () => {
    const roomId = await createRoom(apiA, alice, { preset: "private_chat", room_version: "10", initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] });
    const knocked = await apiB.post(`${V3}/knock/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, { reason: "let me in" }, { token: dave.access_token });
    expect(knocked.status, JSON.stringify(knocked.body)).to.equal(200);
    expect(await membershipOn(apiA, alice, roomId, dave.user_id)).to.equal("knock");
    const knock = await eventually("the knock in dave's sync", async () => (await apiB.get<SyncResponse>(`${V3}/sync`, { token: dave.access_token })).body.rooms.knock[roomId]);
    expect(knock).to.not.equal(undefined);
    const letIn = await apiA.post(`${room(roomId)}/invite`, { user_id: dave.user_id }, { token: alice.access_token });
    expect(letIn.status, JSON.stringify(letIn.body)).to.equal(200);
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: dave.access_token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    expect(await membershipOn(apiA, alice, roomId, dave.user_id)).to.equal("join");
  });

  it("bans a user of B: B sees it, the user cannot come back, and B's other users stay", async () => {
    const roomId = await createRoom(apiA, alice, { preset: "public_chat" });
    for (const user of [bob, dave]) {
      const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: user.access_token });
      expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    }
    const banned = await apiA.post(`${room(roomId)}/ban`, { user_id: dave.user_id, reason: "test" }, { token: alice.access_token });
    expect(banned.status).to.equal(200);
    await eventually("the ban on B", async () => ((await membershipOn(apiB, bob, roomId, dave.user_id)) === "ban" ? true : undefined));
    const back = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: dave.access_token });
    expect(back.status).to.equal(403);
    const stillThere = await sendText(apiA, alice, roomId, "bob still reads this");
    await eventually("A's message on B", async () => ((await apiB.get(`${room(roomId)}/event/${encodeURIComponent(stillThere)}`, { token: bob.access_token })).status === 200 ? true : undefined));
  });

  it("carries presence from B to A", async () => {
    const roomId = await createRoom(apiA, alice, { preset: "public_chat" });
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
    expect(joined.status).to.equal(200);
    const status = `busy ${Date.now()}`;
    const set = await apiB.put(`${V3}/presence/${encodeURIComponent(bob.user_id)}/status`, { presence: "unavailable", status_msg: status }, { token: bob.access_token });
    expect(set.status).to.equal(200);
    await eventually("bob's presence on A", async () => {
      const res = await apiA.get<{ presence: string; status_msg?: string }>(`${V3}/presence/${encodeURIComponent(bob.user_id)}/status`, { token: alice.access_token });
      return res.body.status_msg === status && res.body.presence === "unavailable" ? true : undefined;
    });
  });

  it("sends B, stopped while A sends 50 messages, all 50 in order once B is back", async function () {
    this.timeout(240_000);
    const roomId = await createRoom(apiA, alice, { preset: "public_chat" });
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
    expect(joined.status).to.equal(200);
    await b.stop();
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) sent.push(await sendText(apiA, alice, roomId, `while B was down ${i}`));
    // The same server: its name, port, database and signing key.
    b = await startFederatedServer({
      serverName: b.serverName,
      federationPort: b.federationPort,
      databaseName: b.databaseName,
      config: { signing_key_path: joinPath(b.dir, "signing.key") },
    });
    apiB = new TestClient(b.baseUrl);
    // B reaching A (its user talking) ends A's backoff; otherwise A's next retry does.
    await sendText(apiB, bob, roomId, "B is back");
    const received = await eventually("all 50 on B", async () => {
      const page = await apiB.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=200`, { token: bob.access_token });
      const ids = page.body.chunk.reverse().map((e) => e.event_id).filter((id) => sent.includes(id));
      return ids.length === 50 ? ids : undefined;
    });
    expect(received).to.deep.equal(sent);
  });
});
