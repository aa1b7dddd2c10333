// Ignoring users (m.ignored_user_list): their messages leave the ignorer's
// /sync timelines and /messages, their state events stay, their invites are
// not delivered; un-ignoring applies to new events only.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sendText, sync, V3, type SyncResponse } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("ignored users (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let roomId: string;

  const ignore = async (who: TestUser, users: string[]) => {
    const list = { ignored_users: Object.fromEntries(users.map((u) => [u, {}])) };
    const res = await api.put(`${V3}/user/${encodeURIComponent(who.user_id)}/account_data/m.ignored_user_list`, list, { token: who.access_token });
    expect(res.status).to.equal(200);
  };
  const timeline = (s: SyncResponse) => s.rooms.join[roomId]?.timeline.events ?? [];
  const bodies = (events: Array<Record<string, any>>) => events.filter((e) => e.type === "m.room.message").map((e) => e.content.body as string);
  const messages = async (user: TestUser) => {
    const res = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=100`, { token: user.access_token });
    expect(res.status).to.equal(200);
    return res.body.chunk;
  };

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    roomId = await createRoom(api, carol, { preset: "public_chat" });
    await join(api, alice, roomId);
    await join(api, bob, roomId);
    await sendText(api, bob, roomId, "bob before");
  });
  after(async () => {
    await server?.stop();
  });

  it("hides an ignored user's messages but not their state events from /sync and /messages", async () => {
    expect(bodies(timeline(await sync(api, alice)))).to.include("bob before");
    await ignore(alice, [bob.user_id, alice.user_id]);
    const base = await sync(api, alice);
    // Applies at once, also to what an initial sync shows of the past.
    expect(bodies(timeline(base))).to.not.include("bob before");

    await sendText(api, bob, roomId, "bob after");
    await sendText(api, carol, roomId, "carol after");
    await sendText(api, alice, roomId, "alice after");
    const put = await api.put(`${V3}/profile/${encodeURIComponent(bob.user_id)}/displayname`, { displayname: "Bob Ignored" }, { token: bob.access_token });
    expect(put.status).to.equal(200);

    const next = await sync(api, alice, `?since=${base.next_batch}`);
    expect(bodies(timeline(next))).to.deep.equal(["carol after", "alice after"]);
    // State events still arrive, so the room looks the same to everyone.
    const member = timeline(next).find((e) => e.type === "m.room.member" && e.state_key === bob.user_id);
    expect(member?.content.displayname).to.equal("Bob Ignored");

    const history = await messages(alice);
    expect(bodies(history)).to.include.members(["carol after", "alice after"]);
    expect(bodies(history)).to.not.include.members(["bob after"]);
    expect(bodies(history).filter((b) => b.startsWith("bob"))).to.deep.equal([]);
    expect(history.some((e) => e.type === "m.room.member" && e.sender === bob.user_id)).to.equal(true);

    // Others are unaffected.
    expect(bodies(await messages(carol))).to.include.members(["bob before", "bob after"]);
    expect(bodies(timeline(await sync(api, bob, "?filter=" + encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } })))))).to.include("bob after");
  });

  it("does not answer a long-poll with only an ignored user's message", async () => {
    const base = await sync(api, alice);
    const waiting = sync(api, alice, `?since=${base.next_batch}&timeout=1500`);
    await new Promise((r) => setTimeout(r, 200));
    await sendText(api, bob, roomId, "bob while polling");
    const res = await waiting;
    expect(bodies(timeline(res))).to.deep.equal([]);
  });

  it("drops invites from ignored users but not from others", async () => {
    const base = await sync(api, alice);
    const fromBob = await createRoom(api, bob, { preset: "private_chat", invite: [alice.user_id] });
    const fromCarol = await createRoom(api, carol, { preset: "private_chat", invite: [alice.user_id] });
    const next = await sync(api, alice, `?since=${base.next_batch}`);
    expect(Object.keys(next.rooms.invite)).to.deep.equal([fromCarol]);
    expect(Object.keys((await sync(api, alice)).rooms.invite)).to.not.include(fromBob);
  });

  it("shows new messages again once un-ignored, without replaying what was missed", async () => {
    await ignore(alice, []);
    const base = await sync(api, alice);
    await sendText(api, bob, roomId, "bob forgiven");
    const next = await sync(api, alice, `?since=${base.next_batch}`);
    expect(bodies(timeline(next))).to.deep.equal(["bob forgiven"]);
    // A fresh sync or /messages shows the history again.
    expect(bodies(await messages(alice))).to.include.members(["bob before", "bob after", "bob forgiven"]);
  });
});
