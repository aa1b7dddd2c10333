// Rooms shared by two real homeserver processes over real HTTPS: a user of B
// joins a room of A (make_join/send_join), messages and state flow both ways
// through transactions, a remote invite is countersigned, a kick reaches the
// kicked server, and a leave propagates.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, nextTxnId, room, sendText, V3, type SyncResponse } from "../../support/rooms.ts";

/** Polls `check` until it returns something, or fails after `timeoutMs`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function timeline(api: TestClient, user: TestUser, roomId: string): Promise<Array<Record<string, any>>> {
  const res = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=100`, { token: user.access_token });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.chunk.reverse();
}

describe("rooms across two server processes", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(apiA), registerUser(apiB), registerUser(apiB)]);
  });
  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  it("joins rooms of every version 1–12 over federation and carries a message each way", async () => {
    for (let v = 1; v <= 12; v++) {
      const version = String(v);
      const roomId = await createRoom(apiA, alice, { preset: "public_chat", room_version: version });
      const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
      expect(joined.status, `v${version}: ${JSON.stringify(joined.body)}`).to.equal(200);
      const create = await apiB.get<{ room_version: string }>(`${room(roomId)}/state/m.room.create/`, { token: bob.access_token });
      expect(create.body.room_version, `v${version}`).to.equal(version);
      const fromB = await sendText(apiB, bob, roomId, `v${version} from B`);
      const fromA = await sendText(apiA, alice, roomId, `v${version} from A`);
      await eventually(`v${version}: B's message on A`, async () => ((await timeline(apiA, alice, roomId)).some((e) => e.event_id === fromB) ? true : undefined));
      await eventually(`v${version}: A's message on B`, async () => ((await timeline(apiB, bob, roomId)).some((e) => e.event_id === fromA) ? true : undefined));
    }
  });

  for (const version of ["12", "10", "1"]) {
    describe(`room version ${version}`, () => {
      let roomId: string;
      const before: string[] = [];

      it("lets a user of B join a public room of A by ID through A", async () => {
        roomId = await createRoom(apiA, alice, { preset: "public_chat", room_version: version, name: `Room v${version}` });
        for (let i = 0; i < 3; i++) before.push(await sendText(apiA, alice, roomId, `before the join ${i}`));
        const joined = await apiB.post<{ room_id: string }>(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
        expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
        expect(joined.body.room_id).to.equal(roomId);
        // B now holds the room's state: its name and both members.
        const name = await apiB.get<{ name: string }>(`${room(roomId)}/state/m.room.name/`, { token: bob.access_token });
        expect(name.body.name).to.equal(`Room v${version}`);
        const membersOnB = await apiB.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: bob.access_token });
        expect(Object.keys(membersOnB.body.joined).sort()).to.deep.equal([alice.user_id, bob.user_id].sort());
        // A learned of the join through send_join.
        const membersOnA = await apiA.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: alice.access_token });
        expect(Object.keys(membersOnA.body.joined)).to.include(bob.user_id);
      });

      it("carries messages both ways, in order", async () => {
        const fromAlice = await sendText(apiA, alice, roomId, "hello from A");
        const onB = await eventually("A's message on B", async () => (await timeline(apiB, bob, roomId)).find((e) => e.event_id === fromAlice));
        expect(onB.content.body).to.equal("hello from A");
        const sent: string[] = [];
        for (let i = 0; i < 5; i++) sent.push(await sendText(apiB, bob, roomId, `from B ${i}`));
        const onA = await eventually("B's messages on A", async () => {
          const events = (await timeline(apiA, alice, roomId)).filter((e) => e.type === "m.room.message" && e.sender === bob.user_id);
          return events.length === 5 ? events : undefined;
        });
        expect(onA.map((e) => e.event_id)).to.deep.equal(sent);
        // The sync of A's user shows B's message too.
        const s = await apiA.get<SyncResponse>(`${V3}/sync`, { token: alice.access_token });
        expect(s.body.rooms.join[roomId]!.timeline.events.map((e) => e.event_id)).to.include(sent[4]);
      });

      it("backfills history older than the join from A when B's user pages back", async () => {
        const history = await timeline(apiB, bob, roomId);
        const messages = history.filter((e) => e.type === "m.room.message").map((e) => e.event_id);
        expect(messages.slice(0, 3)).to.deep.equal(before);
        expect(history.map((e) => e.type)).to.include("m.room.create");
        // Backfilled history is not news: an incremental sync after it carries none of it.
        const first = await apiB.get<SyncResponse>(`${V3}/sync`, { token: bob.access_token });
        const next = await apiB.get<SyncResponse>(`${V3}/sync?since=${first.body.next_batch}&timeout=0`, { token: bob.access_token });
        expect(next.body.rooms.join[roomId]?.timeline.events ?? []).to.deep.equal([]);
      });

      it("carries typing notifications and read receipts both ways", async () => {
        const typed = await apiB.put(`${room(roomId)}/typing/${encodeURIComponent(bob.user_id)}`, { typing: true, timeout: 20_000 }, { token: bob.access_token });
        expect(typed.status).to.equal(200);
        await eventually("bob typing on A", async () => {
          const s = await apiA.get<SyncResponse & { rooms: { join: Record<string, { ephemeral: { events: Array<Record<string, any>> } }> } }>(`${V3}/sync`, { token: alice.access_token });
          const typing = s.body.rooms.join[roomId]?.ephemeral.events.find((e) => e.type === "m.typing");
          return typing?.content.user_ids.includes(bob.user_id) ? true : undefined;
        });
        const last = await sendText(apiA, alice, roomId, "read me");
        await eventually("A's message on B", async () => ((await timeline(apiB, bob, roomId)).some((e) => e.event_id === last) ? true : undefined));
        const receipt = await apiB.post(`${room(roomId)}/receipt/m.read/${encodeURIComponent(last)}`, {}, { token: bob.access_token });
        expect(receipt.status).to.equal(200);
        await eventually("bob's receipt on A", async () => {
          const s = await apiA.get<SyncResponse & { rooms: { join: Record<string, { ephemeral: { events: Array<Record<string, any>> } }> } }>(`${V3}/sync`, { token: alice.access_token });
          const receipts = s.body.rooms.join[roomId]?.ephemeral.events.find((e) => e.type === "m.receipt");
          return receipts?.content[last]?.["m.read"]?.[bob.user_id] ? true : undefined;
        });
        const aliceTyping = await apiA.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: true, timeout: 20_000 }, { token: alice.access_token });
        expect(aliceTyping.status).to.equal(200);
        await eventually("alice typing on B", async () => {
          const s = await apiB.get<SyncResponse & { rooms: { join: Record<string, { ephemeral: { events: Array<Record<string, any>> } }> } }>(`${V3}/sync`, { token: bob.access_token });
          const typing = s.body.rooms.join[roomId]?.ephemeral.events.find((e) => e.type === "m.typing");
          return typing?.content.user_ids.includes(alice.user_id) ? true : undefined;
        });
      });

      it("carries state changes both ways", async () => {
        const topic = await apiA.put<{ event_id: string }>(`${room(roomId)}/state/m.room.topic/`, { topic: "set on A" }, { token: alice.access_token });
        expect(topic.status).to.equal(200);
        await eventually("the topic on B", async () => {
          const res = await apiB.get<{ topic?: string }>(`${room(roomId)}/state/m.room.topic/`, { token: bob.access_token });
          return res.body.topic === "set on A" ? true : undefined;
        });
      });

      it("sends an invite of a user of B through B, which countersigns it", async () => {
        const invited = await apiA.post(`${room(roomId)}/invite`, { user_id: carol.user_id }, { token: alice.access_token });
        expect(invited.status, JSON.stringify(invited.body)).to.equal(200);
        const invite = await eventually("the invite in carol's sync", async () => {
          const s = await apiB.get<SyncResponse>(`${V3}/sync`, { token: carol.access_token });
          return s.body.rooms.invite[roomId];
        });
        const types = invite.invite_state.events.map((e) => e.type);
        expect(types).to.include("m.room.create");
        const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: carol.access_token });
        expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
        await eventually("carol joined on A", async () => {
          const res = await apiA.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: alice.access_token });
          return Object.keys(res.body.joined).includes(carol.user_id) ? true : undefined;
        });
      });

      it("propagates a leave, and a kick reaches the kicked user's server", async () => {
        const kicked = await apiA.post(`${room(roomId)}/kick`, { user_id: carol.user_id, reason: "test" }, { token: alice.access_token });
        expect(kicked.status, JSON.stringify(kicked.body)).to.equal(200);
        await eventually("carol's kick on B", async () => {
          const res = await apiB.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: bob.access_token });
          return Object.keys(res.body.joined).includes(carol.user_id) ? undefined : true;
        });
        const left = await apiB.post(`${room(roomId)}/leave`, {}, { token: bob.access_token });
        expect(left.status, JSON.stringify(left.body)).to.equal(200);
        await eventually("bob's leave on A", async () => {
          const res = await apiA.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: alice.access_token });
          return Object.keys(res.body.joined).includes(bob.user_id) ? undefined : true;
        });
        // B is out of the room: A's next message is not sent there.
        const after = await sendText(apiA, alice, roomId, "after everyone from B left", nextTxnId());
        await new Promise((r) => setTimeout(r, 1000));
        const onB = await apiB.get(`${room(roomId)}/event/${encodeURIComponent(after)}`, { token: bob.access_token });
        expect(onB.status).to.not.equal(200);
      });
    });
  }
});
