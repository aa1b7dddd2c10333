// POST /search against a real server with the default PostgreSQL backend:
// indexing by the worker after each commit, order_by rank and recent,
// paging with next_batch, keys, filters, event_context, include_state,
// groupings, edits and redactions, encrypted events, errors. Every answer is
// validated against the spec's OpenAPI schema (spec/support/http-client.ts).
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { expectStandardError } from "../../support/openapi.ts";
import { createRoom, join, nextTxnId, room, sendText } from "../../support/rooms.ts";
import { foundIds, search, searchRaw, waitForHits } from "../../support/search.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

describe("POST /search (PostgreSQL backend)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;
  let other: string;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
    bob = await registerUser(api);
    roomId = await createRoom(api, alice, { preset: "public_chat", name: "Observatory of Mars", topic: "telescopes and canals" });
    other = await createRoom(api, alice);
    await join(api, bob, roomId);
  });
  after(async () => {
    await server?.stop();
  });

  it("finds a message after the worker indexes it, with rank, count and highlights", async () => {
    const id = await sendText(api, bob, roomId, "The martians have landed near the canals");
    await waitForHits(api, alice, "martians", [id]);
    const result = await search(api, alice, { search_term: "martian" });
    expect(result.count).to.equal(1);
    expect(result.results![0]!.result).to.include({ event_id: id, room_id: roomId, sender: bob.user_id, type: "m.room.message" });
    expect(result.results![0]!.rank).to.be.a("number").greaterThan(0);
    // Stemming: "martian" matches "martians", and the highlight is the word as written.
    expect(result.highlights).to.deep.equal(["martians"]);
    expect(result.next_batch).to.equal(undefined);
    // This process runs the worker: its gauge has reached the message's position.
    const metrics = (await api.get("/metrics", { unspecified: true })).text;
    expect(Number(/^myelin_search_indexed_position\{[^}]*\} (\d+)$/m.exec(metrics)?.[1])).to.be.greaterThan(0);
  });

  it("orders by rank or by recency", async () => {
    const weak = await sendText(api, alice, roomId, "a rover drove on; later it rested by a crater far from the base and its dust");
    const strong = await sendText(api, alice, roomId, "rover rover rover");
    const newest = await sendText(api, alice, roomId, "the last rover report");
    await waitForHits(api, alice, "rover", [weak, strong, newest]);
    const byRank = await search(api, alice, { search_term: "rover", order_by: "rank" });
    expect(byRank.results!.map((r) => r.result.event_id)[0]).to.equal(strong);
    const ranks = byRank.results!.map((r) => r.rank!);
    expect([...ranks].sort((a, b) => b - a)).to.deep.equal(ranks);
    const byRecent = await foundIds(api, alice, "rover");
    expect(byRecent).to.deep.equal([newest, strong, weak]);
  });

  it("pages with next_batch in both orders, without repeats or gaps", async () => {
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) sent.push(await sendText(api, alice, roomId, `pagination probe number ${i}` + " probe".repeat(i % 3)));
    await waitForHits(api, alice, "pagination", sent);
    for (const order of ["recent", "rank"]) {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await search(api, alice, { search_term: "pagination", order_by: order, filter: { limit: 5 } }, token);
        expect(page.results!.length).to.be.at.most(5);
        seen.push(...page.results!.map((r) => r.result.event_id as string));
        token = page.next_batch;
        pages++;
      } while (token && pages < 10);
      expect(pages, order).to.equal(3);
      expect(new Set(seen).size, order).to.equal(12);
      expect([...seen].sort(), order).to.deep.equal([...sent].sort());
      if (order === "recent") expect(seen).to.deep.equal([...sent].reverse());
    }
  });

  it("searches the keys asked for: room names and topics too", async () => {
    await waitForHits(api, alice, "observatory", [await stateEventId(roomId, "m.room.name")]);
    expect(await foundIds(api, alice, "observatory", { keys: ["content.body"] })).to.deep.equal([]);
    expect(await foundIds(api, alice, "telescopes", { keys: ["content.topic"] })).to.have.length(1);
    expect(await foundIds(api, alice, "telescopes", { keys: ["content.name"] })).to.deep.equal([]);
  });

  it("applies the filter: rooms, not_rooms, senders, not_senders, types", async () => {
    const here = await sendText(api, alice, roomId, "filterword in the main room");
    const there = await sendText(api, alice, other, "filterword in the other room");
    const byBob = await sendText(api, bob, roomId, "filterword from bob");
    await waitForHits(api, alice, "filterword", [here, there, byBob]);
    expect(await foundIds(api, alice, "filterword", { filter: { rooms: [other] } })).to.deep.equal([there]);
    expect(await foundIds(api, alice, "filterword", { filter: { not_rooms: [other] } })).to.deep.equal([byBob, here]);
    expect(await foundIds(api, alice, "filterword", { filter: { senders: [bob.user_id] } })).to.deep.equal([byBob]);
    expect(await foundIds(api, alice, "filterword", { filter: { not_senders: [bob.user_id] } })).to.deep.equal([there, here]);
    expect(await foundIds(api, alice, "filterword", { filter: { types: ["m.room.topic"] } })).to.deep.equal([]);
  });

  it("returns event_context with profiles, include_state and groupings", async () => {
    const before = await sendText(api, alice, roomId, "context before");
    const hit = await sendText(api, bob, roomId, "contextword here");
    const after = await sendText(api, alice, roomId, "context after");
    await waitForHits(api, alice, "contextword", [hit]);
    const result = await search(api, alice, {
      search_term: "contextword",
      event_context: { before_limit: 1, after_limit: 1, include_profile: true },
      include_state: true,
      groupings: { group_by: [{ key: "room_id" }, { key: "sender" }] },
    });
    const context = result.results![0]!.context!;
    expect(context.events_before.map((e: { event_id: string }) => e.event_id)).to.deep.equal([before]);
    expect(context.events_after.map((e: { event_id: string }) => e.event_id)).to.deep.equal([after]);
    expect(context.start).to.be.a("string");
    expect(context.end).to.be.a("string");
    expect(Object.keys(context.profile_info).sort()).to.deep.equal([alice.user_id, bob.user_id].sort());
    expect(context.profile_info[bob.user_id].displayname).to.be.a("string");
    expect(result.state![roomId]!.some((e) => e.type === "m.room.create")).to.equal(true);
    expect(result.groups!.room_id![roomId]).to.deep.equal({ order: 1, results: [hit] });
    expect(result.groups!.sender![bob.user_id]!.results).to.deep.equal([hit]);
  });

  it("an edit re-indexes the original with the new text; the edit itself is not a second hit", async () => {
    const original = await sendText(api, alice, roomId, "zebra crossing ahead");
    await waitForHits(api, alice, "zebra", [original]);
    const edit = await api.put<{ event_id: string }>(
      `${room(roomId)}/send/m.room.message/${nextTxnId()}`,
      { msgtype: "m.text", body: "* giraffe crossing ahead", "m.new_content": { msgtype: "m.text", body: "giraffe crossing ahead" }, "m.relates_to": { rel_type: "m.replace", event_id: original } },
      { token: alice.access_token },
    );
    expect(edit.status).to.equal(200);
    await waitForHits(api, alice, "giraffe", [original]);
    expect(await foundIds(api, alice, "zebra")).to.deep.equal([]);
    // Redacting the edit brings the original's own text back.
    const redact = await api.put(`${room(roomId)}/redact/${encodeURIComponent(edit.body.event_id)}/${nextTxnId()}`, {}, { token: alice.access_token });
    expect(redact.status).to.equal(200);
    await waitForHits(api, alice, "zebra", [original]);
    expect(await foundIds(api, alice, "giraffe")).to.deep.equal([]);
  });

  it("a redaction removes the event from the results", async () => {
    const id = await sendText(api, bob, roomId, "classifiedword do not repeat");
    await waitForHits(api, alice, "classifiedword", [id]);
    const redact = await api.put(`${room(roomId)}/redact/${encodeURIComponent(id)}/${nextTxnId()}`, { reason: "oops" }, { token: bob.access_token });
    expect(redact.status).to.equal(200);
    // At once (PostgreSQL has the last word), and in the index once the worker has run.
    expect(await foundIds(api, alice, "classifiedword")).to.deep.equal([]);
    await waitForHits(api, bob, "classifiedword", []);
  });

  it("never indexes encrypted events", async () => {
    const encrypted = await createRoom(api, alice, { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    const sent = await api.put(
      `${room(encrypted)}/send/m.room.encrypted/${nextTxnId()}`,
      { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "ciphertextword AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg", sender_key: "x", session_id: "y", device_id: "D" },
      { token: alice.access_token },
    );
    expect(sent.status).to.equal(200);
    const marker = await sendText(api, alice, roomId, "ciphertextword marker in a plain room");
    await waitForHits(api, alice, "ciphertextword", [marker]);
  });

  it("answers 400 to bad requests", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, "M_BAD_JSON"],
      [{ search_term: "x", order_by: "newest" }, "M_BAD_JSON"],
      [{ search_term: "x", keys: ["content.sender"] }, "M_BAD_JSON"],
      [{ search_term: "x", filter: { limit: -1 } }, "M_BAD_JSON"],
      [{ search_term: "x", groupings: { group_by: [{ key: "type" }] } }, "M_BAD_JSON"],
    ];
    for (const [criteria, errcode] of cases) {
      const res = await searchRaw(api, alice, criteria);
      expect(res.status, JSON.stringify(criteria)).to.equal(400);
      expectStandardError("POST", "/_matrix/client/v3/search", res.status, res.body);
      expect((res.body as unknown as { errcode: string }).errcode).to.equal(errcode);
    }
    const badToken = await searchRaw(api, alice, { search_term: "x" }, "not-a-token");
    expect(badToken.status).to.equal(400);
    expect((badToken.body as unknown as { errcode: string }).errcode).to.equal("M_INVALID_PARAM");
    const noCategories = await api.post(`/_matrix/client/v3/search`, { search_categories: {} }, { token: alice.access_token });
    expect(noCategories.status).to.equal(200);
    const anonymous = await api.post(`/_matrix/client/v3/search`, { search_categories: {} });
    expect(anonymous.status).to.equal(401);
  });

  async function stateEventId(id: string, type: string): Promise<string> {
    const res = await api.get<{ event_id: string }>(`${room(id)}/state/${type}/?format=event`, { token: alice.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.event_id;
  }
});
