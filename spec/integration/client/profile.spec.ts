// Profiles: display name and avatar round trips, propagation into every
// joined room as member events (seen by another member through /sync),
// permissions and bad input.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, room, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("profiles (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;

  const profile = (user: TestUser | string, key = "") => `${V3}/profile/${encodeURIComponent(typeof user === "string" ? user : user.user_id)}${key ? `/${key}` : ""}`;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  it("sets and reads the display name and avatar, and clears them with an empty value or DELETE", async () => {
    const initial = await api.get<{ displayname: string }>(profile(alice));
    expect(initial.status).to.equal(200);
    expect(initial.body.displayname).to.equal(alice.user_id.slice(1).split(":")[0]);

    expect((await api.put(profile(alice, "displayname"), { displayname: "  Alice Liddell " }, { token: alice.access_token })).status).to.equal(200);
    expect((await api.put(profile(alice, "avatar_url"), { avatar_url: "mxc://localhost/abcDEF_123-x" }, { token: alice.access_token })).status).to.equal(200);
    // Reading needs no token (Synapse's default lets anyone look profiles up).
    expect((await api.get(profile(alice, "displayname"))).body).to.deep.equal({ displayname: "Alice Liddell" });
    expect((await api.get(profile(alice, "avatar_url"), { token: bob.access_token })).body).to.deep.equal({ avatar_url: "mxc://localhost/abcDEF_123-x" });
    expect((await api.get(profile(alice))).body).to.deep.equal({ displayname: "Alice Liddell", avatar_url: "mxc://localhost/abcDEF_123-x" });
    // The r0 paths answer the same.
    const r0 = await api.get(`/_matrix/client/r0/profile/${encodeURIComponent(alice.user_id)}/displayname`, { unspecified: true });
    expect(r0.body).to.deep.equal({ displayname: "Alice Liddell" });

    expect((await api.put(profile(alice, "avatar_url"), { avatar_url: "" }, { token: alice.access_token })).status).to.equal(200);
    const noAvatar = await api.get(profile(alice, "avatar_url"));
    expect(noAvatar.status).to.equal(404);
    expect(noAvatar.body.errcode).to.equal("M_NOT_FOUND");
    expect((await api.get(profile(alice))).body).to.deep.equal({ displayname: "Alice Liddell" });

    expect((await api.delete(profile(alice, "displayname"), { token: alice.access_token })).status).to.equal(200);
    expect((await api.get(profile(alice, "displayname"))).status).to.equal(404);
    // Nothing left: the whole profile reads as not found, as in Synapse.
    const empty = await api.get(profile(alice));
    expect(empty.status).to.equal(404);
    expect(empty.body.errcode).to.equal("M_NOT_FOUND");
    // Custom keys are not stored: reading one is 404, deleting one is a no-op.
    expect((await api.get(profile(alice, "m.tz"))).status).to.equal(404);
    expect((await api.delete(profile(alice, "org.example.colour"), { token: alice.access_token })).status).to.equal(200);
  });

  it("updates the member event in every joined room, seen by another member's sync, and only there", async () => {
    const carol = await registerUser(api);
    const shared1 = await createRoom(api, carol, { preset: "public_chat" });
    const shared2 = await createRoom(api, carol, { preset: "public_chat" });
    const left = await createRoom(api, carol, { preset: "public_chat" });
    const invited = await createRoom(api, bob, { preset: "private_chat" });
    for (const r of [shared1, shared2, left]) await join(api, bob, r);
    await api.post(`${room(left)}/leave`, {}, { token: bob.access_token });
    await api.post(`${room(invited)}/invite`, { user_id: carol.user_id }, { token: bob.access_token });

    const base = await sync(api, bob);
    const started = Date.now();
    const waiting = sync(api, bob, `?since=${base.next_batch}&timeout=15000`);
    await new Promise((r) => setTimeout(r, 200));
    const put = await api.put(profile(carol, "displayname"), { displayname: "Carol Ann" }, { token: carol.access_token });
    expect(put.status).to.equal(200);
    // Propagation is finished when the PUT answers, so the long-poll has been woken.
    const woke = await waiting;
    expect(Date.now() - started, "woken, not timed out").to.be.below(10_000);
    const memberEvents = (roomId: string, s: typeof woke) =>
      (s.rooms.join[roomId]?.timeline.events ?? []).filter((e) => e.type === "m.room.member" && e.state_key === carol.user_id);
    let seen = woke;
    if (memberEvents(shared1, seen).length + memberEvents(shared2, seen).length < 2) {
      const more = await sync(api, bob, `?since=${base.next_batch}`);
      seen = more;
    }
    for (const r of [shared1, shared2]) {
      const [event] = memberEvents(r, seen);
      expect(event, `member event in ${r}`).to.not.equal(undefined);
      expect(event!.content).to.deep.equal({ membership: "join", displayname: "Carol Ann" });
      expect(event!.unsigned?.prev_content?.displayname).to.equal(carol.user_id.slice(1).split(":")[0]);
      const state = await api.get(`${room(r)}/state/m.room.member/${encodeURIComponent(carol.user_id)}`, { token: bob.access_token });
      expect(state.body.displayname).to.equal("Carol Ann");
    }
    // The room Bob left still shows the old name (as Bob last saw it) and got no event visible to him.
    expect(seen.rooms.join[left]).to.equal(undefined);
    const leftState = await api.get(`${room(left)}/state/m.room.member/${encodeURIComponent(carol.user_id)}`, { token: carol.access_token });
    expect(leftState.body.displayname).to.equal("Carol Ann");
    // A room Carol is only invited to keeps the invite untouched.
    const invite = await api.get(`${room(invited)}/state/m.room.member/${encodeURIComponent(carol.user_id)}`, { token: bob.access_token });
    expect(invite.body).to.deep.include({ membership: "invite" });
    expect(invite.body.displayname).to.equal(undefined);

    // Setting the same name again sends nothing new.
    const again = await sync(api, bob);
    expect((await api.put(profile(carol, "displayname"), { displayname: "Carol Ann" }, { token: carol.access_token })).status).to.equal(200);
    const quiet = await sync(api, bob, `?since=${again.next_batch}&timeout=500`);
    expect(memberEvents(shared1, quiet)).to.have.length(0);

    // An avatar change keeps the display name in the new member event.
    const before = await sync(api, bob);
    await api.put(profile(carol, "avatar_url"), { avatar_url: "mxc://localhost/carol" }, { token: carol.access_token });
    const avatar = await sync(api, bob, `?since=${before.next_batch}`);
    expect(memberEvents(shared2, avatar)[0]!.content).to.deep.equal({ membership: "join", displayname: "Carol Ann", avatar_url: "mxc://localhost/carol" });
    const joined = await api.get<{ joined: Record<string, Record<string, string>> }>(`${room(shared2)}/joined_members`, { token: bob.access_token });
    expect(joined.body.joined[carol.user_id]).to.deep.equal({ display_name: "Carol Ann", avatar_url: "mxc://localhost/carol" });
  });

  it("lets only the owner change a profile", async () => {
    const other = await api.put(profile(bob, "displayname"), { displayname: "Mallory" }, { token: alice.access_token });
    expect(other.status).to.equal(403);
    expect(other.body.errcode).to.equal("M_FORBIDDEN");
    const otherDelete = await api.delete(profile(bob, "avatar_url"), { token: alice.access_token });
    expect(otherDelete.status).to.equal(403);
    const anonymous = await api.put(profile(bob, "displayname"), { displayname: "Mallory" });
    expect(anonymous.status).to.equal(401);
    expect(anonymous.body.errcode).to.equal("M_MISSING_TOKEN");
    expect((await api.get(profile(bob, "displayname"))).body.displayname).to.not.equal("Mallory");
  });

  it("answers unknown users with 404 and malformed user IDs with 400", async () => {
    const unknown = await api.get(profile("@nobody-here:localhost"));
    expect(unknown.status).to.equal(404);
    expect(unknown.body.errcode).to.equal("M_NOT_FOUND");
    expect((await api.get(profile("@nobody-here:localhost", "displayname"))).status).to.equal(404);
    // Another server's user is asked of that server; one that cannot be resolved is a 502, as in Synapse.
    const remote = await api.get(profile("@someone:elsewhere.example"));
    expect(remote.status).to.equal(502);
    expect(remote.body.errcode).to.equal("M_UNKNOWN");
    const malformed = await api.get(profile("not-a-user-id"));
    expect(malformed.status).to.equal(400);
    expect(malformed.body.errcode).to.equal("M_INVALID_PARAM");
  });

  it("rejects bad values with the spec's error codes", async () => {
    const put = (key: string, json: unknown) => api.put(profile(alice, key), json, { token: alice.access_token });
    const cases: Array<[string, unknown, number, string]> = [
      ["displayname", { displayname: "x".repeat(257) }, 400, "M_TOO_LARGE"],
      ["displayname", { displayname: 42 }, 400, "M_BAD_JSON"],
      ["displayname", { displayname: null }, 400, "M_BAD_JSON"],
      ["displayname", {}, 400, "M_MISSING_PARAM"],
      ["displayname", ["Alice"], 400, "M_BAD_JSON"],
      ["avatar_url", { avatar_url: "https://example.org/a.png" }, 400, "M_INVALID_PARAM"],
      ["avatar_url", { avatar_url: `mxc://localhost/${"a".repeat(1000)}` }, 400, "M_TOO_LARGE"],
      ["Not-A-Key", { "Not-A-Key": 1 }, 400, "M_INVALID_PARAM"],
      ["org.example." + "k".repeat(250), { x: 1 }, 400, "M_KEY_TOO_LARGE"],
      ["org.example.colour", { "org.example.colour": "blue" }, 403, "M_FORBIDDEN"],
    ];
    for (const [key, json, status, errcode] of cases) {
      const res = await put(key, json);
      expect(res.status, `${key} ${JSON.stringify(json).slice(0, 60)}`).to.equal(status);
      expect(res.body.errcode, `${key} ${JSON.stringify(json).slice(0, 60)}`).to.equal(errcode);
    }
    const notJson = await api.request("PUT", profile(alice, "displayname"), { token: alice.access_token, raw: "{nope", headers: { "Content-Type": "application/json" } });
    expect(notJson.status).to.equal(400);
    expect(notJson.body.errcode).to.equal("M_NOT_JSON");
    // 256 characters (not bytes) is still fine.
    expect((await put("displayname", { displayname: "é".repeat(256) })).status).to.equal(200);
  });
});
