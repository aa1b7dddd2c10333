// A user never finds what they could not read: POST /search searches the
// rooms the user is joined to, and each hit (and each event of its
// event_context) passes the history visibility at that event. Every
// negative check first waits until a member does find the event, so "not
// found" cannot mean "not indexed yet".
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sendText } from "../../support/rooms.ts";
import { foundIds, search, waitForHits } from "../../support/search.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const visibility = (value: string) => ({ type: "m.room.history_visibility", state_key: "", content: { history_visibility: value } });

describe("POST /search honours membership and history visibility", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
  });
  after(async () => {
    await server?.stop();
  });

  it("a user who was never in the room finds nothing of it", async () => {
    const carol = await registerUser(api);
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    const id = await sendText(api, alice, roomId, "heliotrope in bloom");
    await waitForHits(api, alice, "heliotrope", [id]);
    expect(await foundIds(api, carol, "heliotrope")).to.deep.equal([]);
    expect(await foundIds(api, carol, "heliotrope", { filter: { rooms: [roomId] } })).to.deep.equal([]);
  });

  it("a user who left finds nothing of the room any more (left rooms are not searched, as in Synapse)", async () => {
    const erin = await registerUser(api);
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, erin, roomId);
    const id = await sendText(api, alice, roomId, "marigold harvest");
    await waitForHits(api, erin, "marigold", [id]);
    const left = await api.post(`${room(roomId)}/leave`, {}, { token: erin.access_token });
    expect(left.status).to.equal(200);
    expect(await foundIds(api, erin, "marigold")).to.deep.equal([]);
    const later = await sendText(api, alice, roomId, "marigold after erin left");
    await waitForHits(api, alice, "marigold", [id, later]);
    expect(await foundIds(api, erin, "marigold")).to.deep.equal([]);
  });

  it('history_visibility "joined": a newcomer finds only what was said after joining, event_context included', async () => {
    const dave = await registerUser(api);
    const roomId = await createRoom(api, alice, { preset: "public_chat", initial_state: [visibility("joined")] });
    const before = await sendText(api, alice, roomId, "obsidian said before dave");
    await join(api, dave, roomId);
    const after = await sendText(api, alice, roomId, "obsidian said after dave");
    await waitForHits(api, alice, "obsidian", [before, after]);
    expect(await foundIds(api, dave, "obsidian")).to.deep.equal([after]);
    const result = await search(api, dave, { search_term: "obsidian", event_context: { before_limit: 10, after_limit: 10 } });
    const earlier = result.results![0]!.context!.events_before as Array<{ event_id: string; type: string; state_key?: string }>;
    // dave's own join, and the room's creation (sent before history_visibility was set, so
    // "shared" by default, as the spec says), but no message from before the join.
    expect(earlier[0]).to.include({ type: "m.room.member", state_key: dave.user_id });
    expect(earlier.map((e) => e.event_id)).to.not.include(before);
    expect(earlier.filter((e) => e.type === "m.room.message")).to.deep.equal([]);
    expect(result.count, "count is of candidates before visibility, as Synapse's").to.equal(2);
  });

  it('history_visibility "invited": an invitee finds what was said from the invite on', async () => {
    const frank = await registerUser(api);
    const roomId = await createRoom(api, alice, { initial_state: [visibility("invited")] });
    const early = await sendText(api, alice, roomId, "saffron before the invite");
    const invite = await api.post(`${room(roomId)}/invite`, { user_id: frank.user_id }, { token: alice.access_token });
    expect(invite.status).to.equal(200);
    const invited = await sendText(api, alice, roomId, "saffron while frank is invited");
    await join(api, frank, roomId);
    const joined = await sendText(api, alice, roomId, "saffron once frank joined");
    await waitForHits(api, alice, "saffron", [early, invited, joined]);
    expect(await foundIds(api, frank, "saffron")).to.deep.equal([joined, invited]);
  });

  it("a world_readable room is not searched by someone who has not joined it", async () => {
    const grace = await registerUser(api);
    const roomId = await createRoom(api, alice, { preset: "public_chat", initial_state: [visibility("world_readable")] });
    const id = await sendText(api, alice, roomId, "tamarind for everyone");
    await waitForHits(api, alice, "tamarind", [id]);
    // Readable through /messages, but search covers joined rooms only.
    const messages = await api.get(`${room(roomId)}/messages?dir=b`, { token: grace.access_token });
    expect(messages.status).to.equal(200);
    expect(await foundIds(api, grace, "tamarind")).to.deep.equal([]);
  });
});
