// User directory search: who is visible (shared rooms, public and
// world-readable rooms, never strangers in private rooms), how terms match,
// limit and limited, and bad input.
import { expect } from "chai";
import { registerUser, uniqueLocalpart, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

interface SearchResult {
  results: Array<{ user_id: string; display_name?: string; avatar_url?: string }>;
  limited: boolean;
}

describe("user directory (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let searcher: TestUser;
  let friend: TestUser;
  let publicMember: TestUser;
  let readableMember: TestUser;
  let stranger: TestUser;
  // Every suite shares the test database: a word made up per run keeps other suites' users out.
  const word = `zq${Date.now().toString(36)}`;

  const search = (user: TestUser, body: Record<string, unknown>) => api.post<SearchResult>(`${V3}/user_directory/search`, body, { token: user.access_token });
  const ids = (res: { body: SearchResult }) => res.body.results.map((r) => r.user_id).sort();
  const setName = async (user: TestUser, name: string) => {
    const res = await api.put(`${V3}/profile/${encodeURIComponent(user.user_id)}/displayname`, { displayname: name }, { token: user.access_token });
    expect(res.status).to.equal(200);
  };

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [searcher, friend, publicMember, readableMember, stranger] = await Promise.all([
      registerUser(api),
      registerUser(api, uniqueLocalpart(`${word}friend`)),
      registerUser(api),
      registerUser(api),
      registerUser(api),
    ]);
    await setName(friend, `Frodo ${word}Baggins`);
    await setName(publicMember, `Pippin ${word}Took`);
    await setName(readableMember, `Merry ${word}Brandybuck`);
    await setName(stranger, `Frodo ${word}Stranger`);
    await api.put(`${V3}/profile/${encodeURIComponent(friend.user_id)}/avatar_url`, { avatar_url: "mxc://localhost/frodo" }, { token: friend.access_token });

    const privateRoom = await createRoom(api, searcher, { preset: "private_chat", invite: [friend.user_id] });
    await join(api, friend, privateRoom);
    await createRoom(api, publicMember, { preset: "public_chat" });
    await createRoom(api, readableMember, {
      preset: "private_chat",
      initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } }],
    });
    await createRoom(api, stranger, { preset: "private_chat" });
  });
  after(async () => {
    await server?.stop();
  });

  it("finds users sharing a room and members of public or world-readable rooms, but not strangers", async () => {
    const res = await search(searcher, { search_term: word });
    expect(res.status).to.equal(200);
    expect(ids(res)).to.deep.equal([friend.user_id, publicMember.user_id, readableMember.user_id].sort());
    expect(res.body.limited).to.equal(false);
    const frodo = res.body.results.find((r) => r.user_id === friend.user_id);
    expect(frodo).to.deep.equal({ user_id: friend.user_id, display_name: `Frodo ${word}Baggins`, avatar_url: "mxc://localhost/frodo" });
    // The stranger's own room is private and unreadable: nobody else finds them, and nobody finds themselves.
    expect(ids(await search(friend, { search_term: `${word}stranger` }))).to.deep.equal([]);
    expect(ids(await search(stranger, { search_term: `${word}stranger` }))).to.deep.equal([]);
  });

  it("matches every word of the term as a case-insensitive prefix of a name or localpart word", async () => {
    expect(ids(await search(searcher, { search_term: `FRODO ${word}bag` }))).to.deep.equal([friend.user_id]);
    expect(ids(await search(searcher, { search_term: `frodo ${word}took` }))).to.deep.equal([]);
    expect(ids(await search(searcher, { search_term: `${word}brandy` }))).to.deep.equal([readableMember.user_id]);
    // The localpart counts too, also typed as a user ID.
    const localpart = friend.user_id.slice(1).split(":")[0]!;
    expect(ids(await search(searcher, { search_term: localpart.slice(0, word.length + 3) }))).to.deep.equal([friend.user_id]);
    expect(ids(await search(searcher, { search_term: `@${localpart.slice(0, word.length + 3)}` }))).to.deep.equal([friend.user_id]);
    expect(ids(await search(searcher, { search_term: friend.user_id }))).to.deep.equal([friend.user_id]);
    expect(ids(await search(searcher, { search_term: `@${localpart}:elsewhere.example` }))).to.deep.equal([]);
    // Words are not matched in the middle.
    expect(ids(await search(searcher, { search_term: word.slice(2) }))).to.deep.equal([]);
    expect(ids(await search(searcher, { search_term: "   " }))).to.deep.equal([]);
  });

  it("follows display name changes", async () => {
    await setName(publicMember, `Peregrin ${word}Fool`);
    expect(ids(await search(searcher, { search_term: `${word}took` }))).to.deep.equal([]);
    const found = await search(searcher, { search_term: `peregrin ${word}` });
    expect(found.body.results).to.deep.equal([{ user_id: publicMember.user_id, display_name: `Peregrin ${word}Fool` }]);
  });

  it("applies limit (default 10, at most 50) and reports limited", async () => {
    const many = `${word}many`;
    const users = await Promise.all([0, 1, 2].map(() => registerUser(api)));
    const roomId = await createRoom(api, users[0]!, { preset: "public_chat" });
    for (const [i, u] of users.entries()) {
      await setName(u, `${many} ${i}`);
      if (i > 0) await join(api, u, roomId);
    }
    const two = await search(searcher, { search_term: many, limit: 2 });
    expect(two.body.results).to.have.length(2);
    expect(two.body.limited).to.equal(true);
    const all = await search(searcher, { search_term: many });
    expect(all.body.results).to.have.length(3);
    expect(all.body.limited).to.equal(false);
    expect((await search(searcher, { search_term: many, limit: 500 })).body.results).to.have.length(3);
    const none = await search(searcher, { search_term: many, limit: 0 });
    expect(none.body.results).to.deep.equal([]);
  });

  it("rejects bad requests with spec error codes", async () => {
    const missing = await search(searcher, { limit: 5 });
    expect(missing.status).to.equal(400);
    expect(missing.body).to.have.property("errcode", "M_BAD_JSON");
    const badTerm = await search(searcher, { search_term: 5 });
    expect(badTerm.status).to.equal(400);
    const badLimit = await search(searcher, { search_term: "a", limit: "ten" });
    expect(badLimit.status).to.equal(400);
    expect(badLimit.body).to.have.property("errcode", "M_BAD_JSON");
    const anonymous = await api.post(`${V3}/user_directory/search`, { search_term: "a" });
    expect(anonymous.status).to.equal(401);
  });
});
