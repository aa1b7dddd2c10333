// Relations through the public API: edits bundled as the latest valid
// replacement, thread summaries, references, the /relations endpoint in its
// three forms with pagination and recursion, /threads, and the relations a
// client may not send.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, nextTxnId, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type Event = Record<string, any>;
const V1 = "/_matrix/client/v1";
const room1 = (roomId: string) => `${V1}/rooms/${encodeURIComponent(roomId)}`;
/** Edits are ordered by origin_server_ts: keep consecutive sends in distinct milliseconds. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("relations, edits and threads (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  async function send(user: TestUser, roomId: string, content: Record<string, unknown>, type = "m.room.message"): Promise<string> {
    const res = await api.put<{ event_id: string }>(`${room(roomId)}/send/${type}/${nextTxnId()}`, content, { token: user.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.event_id;
  }
  const edit = (user: TestUser, roomId: string, target: string, body: string) =>
    send(user, roomId, { msgtype: "m.text", body: `* ${body}`, "m.new_content": { msgtype: "m.text", body }, "m.relates_to": { rel_type: "m.replace", event_id: target } });
  const reply = (user: TestUser, roomId: string, root: string, body: string) =>
    send(user, roomId, { msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root } });
  const react = (user: TestUser, roomId: string, target: string, key: string) =>
    send(user, roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } }, "m.reaction");
  async function getEvent(user: TestUser, roomId: string, eventId: string): Promise<Event> {
    const res = await api.get<Event>(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: user.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  }
  async function publicRoom(): Promise<string> {
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    await join(api, bob, roomId);
    await join(api, carol, roomId);
    return roomId;
  }
  async function relations(user: TestUser, roomId: string, path: string): Promise<{ chunk: Event[]; next_batch?: string; prev_batch?: string; recursion_depth?: number }> {
    const res = await api.get<{ chunk: Event[]; next_batch?: string; recursion_depth?: number }>(`${room1(roomId)}/relations/${path}`, { token: user.access_token });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  }

  describe("edits (m.replace)", () => {
    it("bundles the latest edit by the original sender and keeps the original content", async () => {
      const roomId = await publicRoom();
      const original = await sendText(api, alice, roomId, "I like cake");
      await edit(alice, roomId, original, "I like chocolate cake");
      await tick();
      const latest = await edit(alice, roomId, original, "I like all cake");
      await tick();
      // Invalid replacements are ignored: another sender, no m.new_content, another event type.
      await edit(bob, roomId, original, "bob was here");
      await send(alice, roomId, { msgtype: "m.text", body: "* no new content", "m.relates_to": { rel_type: "m.replace", event_id: original } });
      await send(alice, roomId, { body: "x", "m.new_content": { body: "y" }, "m.relates_to": { rel_type: "m.replace", event_id: original } }, "org.example.other");

      const event = await getEvent(carol, roomId, original);
      expect(event.content).to.deep.equal({ msgtype: "m.text", body: "I like cake" });
      const replace = event.unsigned["m.relations"]["m.replace"];
      expect(replace.event_id).to.equal(latest);
      expect(replace.sender).to.equal(alice.user_id);
      expect(replace.content["m.new_content"]).to.deep.equal({ msgtype: "m.text", body: "I like all cake" });
      expect(replace.origin_server_ts).to.be.a("number");

      // The same bundle in /messages and in an initial /sync.
      const page = await api.get<{ chunk: Event[] }>(`${room(roomId)}/messages?dir=b&limit=50`, { token: carol.access_token });
      expect(page.body.chunk.find((e) => e.event_id === original)!.unsigned["m.relations"]["m.replace"].event_id).to.equal(latest);
      const initial = await sync(api, carol, `?filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } }))}`);
      const inSync = initial.rooms.join[roomId]!.timeline.events.find((e) => e.event_id === original)!;
      expect(inSync.unsigned["m.relations"]["m.replace"].event_id).to.equal(latest);
      // Edits themselves carry no aggregation.
      expect((await getEvent(carol, roomId, latest)).unsigned).not.to.have.property("m.relations");
    });

    it("falls back to the previous edit when the latest is redacted, and bundles none for a redacted original", async () => {
      const roomId = await publicRoom();
      const original = await sendText(api, alice, roomId, "v1");
      const first = await edit(alice, roomId, original, "v2");
      await tick();
      const second = await edit(alice, roomId, original, "v3");
      const redact = await api.put(`${room(roomId)}/redact/${encodeURIComponent(second)}/${nextTxnId()}`, {}, { token: alice.access_token });
      expect(redact.status).to.equal(200);
      expect((await getEvent(bob, roomId, original)).unsigned["m.relations"]["m.replace"].event_id).to.equal(first);
      await api.put(`${room(roomId)}/redact/${encodeURIComponent(original)}/${nextTxnId()}`, {}, { token: alice.access_token });
      const redacted = await getEvent(bob, roomId, original);
      expect(redacted.content).to.deep.equal({});
      expect(redacted.unsigned["m.relations"]?.["m.replace"]).to.equal(undefined);
    });
  });

  describe("threads (m.thread) and references", () => {
    it("summarises a thread: count, latest event with its own edit, and participation per viewer", async () => {
      const roomId = await publicRoom();
      const root = await sendText(api, alice, roomId, "thread root");
      await reply(bob, roomId, root, "first");
      const latest = await reply(bob, roomId, root, "second");
      const latestEdit = await edit(bob, roomId, latest, "second, edited");
      await sendText(api, carol, roomId, "main timeline");

      const asCarol = (await getEvent(carol, roomId, root)).unsigned["m.relations"]["m.thread"];
      expect(asCarol.count).to.equal(2);
      expect(asCarol.current_user_participated).to.equal(false);
      expect(asCarol.latest_event.event_id).to.equal(latest);
      expect(asCarol.latest_event.content.body).to.equal("second");
      expect(asCarol.latest_event.unsigned["m.relations"]["m.replace"].event_id).to.equal(latestEdit);
      // The root's sender and a replier have participated.
      expect((await getEvent(alice, roomId, root)).unsigned["m.relations"]["m.thread"].current_user_participated).to.equal(true);
      expect((await getEvent(bob, roomId, root)).unsigned["m.relations"]["m.thread"].current_user_participated).to.equal(true);

      // A redacted reply leaves the thread.
      await api.put(`${room(roomId)}/redact/${encodeURIComponent(latest)}/${nextTxnId()}`, {}, { token: bob.access_token });
      const after = (await getEvent(carol, roomId, root)).unsigned["m.relations"]["m.thread"];
      expect(after.count).to.equal(1);
      expect(after.latest_event.content.body).to.equal("first");
    });

    it("lists m.reference children in the bundle", async () => {
      const roomId = await publicRoom();
      const target = await sendText(api, alice, roomId, "verification request");
      const one = await send(bob, roomId, { "m.relates_to": { rel_type: "m.reference", event_id: target } }, "m.key.verification.ready");
      const two = await send(alice, roomId, { "m.relates_to": { rel_type: "m.reference", event_id: target } }, "m.key.verification.start");
      const bundle = (await getEvent(carol, roomId, target)).unsigned["m.relations"];
      expect(bundle["m.reference"]).to.deep.equal({ chunk: [{ event_id: one }, { event_id: two }] });
      expect(bundle).not.to.have.property("m.annotation");
    });

    it("refuses threads from a child event, duplicate reactions and relations to unknown events", async () => {
      const roomId = await publicRoom();
      const root = await sendText(api, alice, roomId, "root");
      const threaded = await reply(bob, roomId, root, "in thread");
      const nested = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { msgtype: "m.text", body: "nested", "m.relates_to": { rel_type: "m.thread", event_id: threaded } }, { token: carol.access_token });
      expect(nested.status).to.equal(400);
      expect(nested.body).to.include({ errcode: "M_UNKNOWN" });

      await react(carol, roomId, root, "👍");
      const twice = await api.put(`${room(roomId)}/send/m.reaction/${nextTxnId()}`, { "m.relates_to": { rel_type: "m.annotation", event_id: root, key: "👍" } }, { token: carol.access_token });
      expect(twice.status).to.equal(400);
      expect(twice.body).to.include({ errcode: "M_DUPLICATE_ANNOTATION" });
      // Another key, or another user, is fine.
      await react(carol, roomId, root, "🎉");
      await react(bob, roomId, root, "👍");
      const keyless = await api.put(`${room(roomId)}/send/m.reaction/${nextTxnId()}`, { "m.relates_to": { rel_type: "m.annotation", event_id: root } }, { token: carol.access_token });
      expect(keyless.status).to.equal(400);

      const unknown = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { msgtype: "m.text", body: "?", "m.relates_to": { rel_type: "m.reference", event_id: "$doesnotexist" } }, { token: carol.access_token });
      expect(unknown.status).to.equal(400);
      const elsewhere = await createRoom(api, carol);
      const other = await sendText(api, carol, elsewhere, "other room");
      const crossRoom = await api.put(`${room(roomId)}/send/m.room.message/${nextTxnId()}`, { msgtype: "m.text", body: "x", "m.relates_to": { rel_type: "m.reference", event_id: other } }, { token: carol.access_token });
      expect(crossRoom.status).to.equal(400);
    });
  });

  describe("GET /relations", () => {
    let roomId: string;
    let parent: string;
    let replies: string[];
    let reactions: string[];
    let custom: string;
    let deep: { reactionOnReply: string; referenceToReaction: string; fourthLevel: string };

    before(async () => {
      roomId = await publicRoom();
      parent = await sendText(api, alice, roomId, "parent");
      replies = [];
      reactions = [];
      replies.push(await reply(bob, roomId, parent, "r1"));
      reactions.push(await react(bob, roomId, parent, "a"));
      replies.push(await reply(carol, roomId, parent, "r2"));
      reactions.push(await react(carol, roomId, parent, "b"));
      custom = await send(alice, roomId, { body: "c", "m.relates_to": { rel_type: "org.example.custom", event_id: parent } }, "org.example.thing");
      replies.push(await reply(alice, roomId, parent, "r3"));
      // Indirect children, two to four levels down.
      const reactionOnReply = await react(alice, roomId, replies[0]!, "z");
      const referenceToReaction = await send(bob, roomId, { "m.relates_to": { rel_type: "m.reference", event_id: reactionOnReply } }, "org.example.ref");
      const fourthLevel = await send(bob, roomId, { "m.relates_to": { rel_type: "m.reference", event_id: referenceToReaction } }, "org.example.ref");
      deep = { reactionOnReply, referenceToReaction, fourthLevel };
      await sendText(api, alice, roomId, "unrelated");
    });

    const ids = (chunk: Event[]) => chunk.map((e) => e.event_id as string);

    it("returns all direct children newest first, paginating with next_batch", async () => {
      const all = [replies[0], reactions[0], replies[1], reactions[1], custom, replies[2]].reverse();
      const seen: string[] = [];
      let from: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await relations(carol, roomId, `${encodeURIComponent(parent)}?limit=2${from ? `&from=${from}` : ""}`);
        pages += 1;
        expect(page).not.to.have.property("recursion_depth");
        if (from) expect(page.prev_batch).to.equal(from);
        seen.push(...ids(page.chunk));
        if (!page.next_batch) break;
        from = page.next_batch;
      }
      expect(seen).to.deep.equal(all);
      expect(pages).to.equal(3);
      // Children carry their own aggregations, and dir=f reads oldest first.
      const forward = await relations(carol, roomId, `${encodeURIComponent(parent)}?dir=f&limit=50`);
      expect(ids(forward.chunk)).to.deep.equal([...all].reverse());
      // A /sync token works as `from`.
      const s = await sync(api, carol);
      expect(ids((await relations(carol, roomId, `${encodeURIComponent(parent)}?from=${s.next_batch}&limit=50`)).chunk)).to.deep.equal(all);
    });

    it("narrows by relType, then by event type", async () => {
      expect(ids((await relations(carol, roomId, `${encodeURIComponent(parent)}/m.thread`)).chunk)).to.deep.equal([...replies].reverse());
      expect(ids((await relations(carol, roomId, `${encodeURIComponent(parent)}/m.annotation/m.reaction`)).chunk)).to.deep.equal([...reactions].reverse());
      expect((await relations(carol, roomId, `${encodeURIComponent(parent)}/m.annotation/m.room.message`)).chunk).to.deep.equal([]);
      expect(ids((await relations(carol, roomId, `${encodeURIComponent(parent)}/org.example.custom/org.example.thing`)).chunk)).to.deep.equal([custom]);
    });

    it("follows relations three levels down with recurse=true, applying filters at every level", async () => {
      const direct = await relations(carol, roomId, `${encodeURIComponent(parent)}?limit=50&recurse=false`);
      expect(direct.recursion_depth).to.equal(1);
      expect(ids(direct.chunk)).not.to.include(deep.reactionOnReply);
      const recursive = await relations(carol, roomId, `${encodeURIComponent(parent)}?limit=50&recurse=true`);
      expect(recursive.recursion_depth).to.equal(3);
      expect(ids(recursive.chunk)).to.include.members([deep.reactionOnReply, deep.referenceToReaction, ...replies, ...reactions, custom]);
      expect(ids(recursive.chunk)).not.to.include(deep.fourthLevel);
      expect(recursive.chunk).to.have.length(8);
      // The reaction on a reply is reached only through an m.thread event, so an m.annotation filter leaves it out.
      const annotations = await relations(carol, roomId, `${encodeURIComponent(parent)}/m.annotation?limit=50&recurse=true`);
      expect(ids(annotations.chunk)).to.deep.equal([...reactions].reverse());
      // Recursion pages like the rest.
      const first = await relations(carol, roomId, `${encodeURIComponent(parent)}?limit=5&recurse=true`);
      const second = await relations(carol, roomId, `${encodeURIComponent(parent)}?limit=5&recurse=true&from=${first.next_batch}`);
      expect([...ids(first.chunk), ...ids(second.chunk)]).to.have.members(ids(recursive.chunk));
      expect(second).not.to.have.property("next_batch");
    });

    it("answers 404 for an unknown or unreadable parent, 403 outside the room, 400 for bad parameters", async () => {
      const dave = await registerUser(api);
      const outsider = await api.get(`${room1(roomId)}/relations/${encodeURIComponent(parent)}`, { token: dave.access_token });
      expect(outsider.status).to.equal(403);
      expect(outsider.body).to.include({ errcode: "M_FORBIDDEN" });
      const missing = await api.get(`${room1(roomId)}/relations/${encodeURIComponent("$nope")}`, { token: carol.access_token });
      expect(missing.status).to.equal(404);
      expect(missing.body).to.include({ errcode: "M_NOT_FOUND" });
      for (const query of ["dir=x", "recurse=maybe", "limit=-1", "from=garbage"]) {
        const bad = await api.get(`${room1(roomId)}/relations/${encodeURIComponent(parent)}?${query}`, { token: carol.access_token });
        expect(bad.status, query).to.equal(400);
        expect(bad.body, query).to.include({ errcode: "M_INVALID_PARAM" });
      }
      // History hidden by `joined` visibility hides the parent too.
      const hidden = await createRoom(api, alice, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }] });
      const secret = await sendText(api, alice, hidden, "before dave");
      await reply(alice, hidden, secret, "also before");
      await join(api, dave, hidden);
      const invisible = await api.get(`${room1(hidden)}/relations/${encodeURIComponent(secret)}`, { token: dave.access_token });
      expect(invisible.status).to.equal(404);
    });
  });

  describe("GET /threads", () => {
    it("lists thread roots by latest activity with their summaries; include=participated narrows to the user's threads", async () => {
      const roomId = await publicRoom();
      const rootA = await sendText(api, alice, roomId, "A");
      const rootB = await sendText(api, alice, roomId, "B");
      const rootC = await sendText(api, carol, roomId, "C");
      await reply(bob, roomId, rootA, "a1");
      await reply(carol, roomId, rootC, "c1");
      await reply(alice, roomId, rootB, "b1");
      await sendText(api, alice, roomId, "not a thread");

      const list = async (user: TestUser, query = "") => {
        const res = await api.get<{ chunk: Event[]; next_batch?: string }>(`${room1(roomId)}/threads${query}`, { token: user.access_token });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        return res.body;
      };
      const all = await list(bob);
      expect(all.chunk.map((e) => e.event_id)).to.deep.equal([rootB, rootC, rootA]);
      expect(all).not.to.have.property("next_batch");
      const a = all.chunk.find((e) => e.event_id === rootA)!;
      expect(a.unsigned["m.relations"]["m.thread"]).to.include({ count: 1, current_user_participated: true });

      // Bob replied in A only; Carol started C; Alice started A and B.
      expect((await list(bob, "?include=participated")).chunk.map((e) => e.event_id)).to.deep.equal([rootA]);
      expect((await list(carol, "?include=participated")).chunk.map((e) => e.event_id)).to.deep.equal([rootC]);
      expect((await list(alice, "?include=participated")).chunk.map((e) => e.event_id)).to.deep.equal([rootB, rootA]);

      // New activity moves a thread to the top; pages of one follow next_batch.
      await reply(carol, roomId, rootA, "a2");
      const order: string[] = [];
      let from: string | undefined;
      for (;;) {
        const page = await list(carol, `?limit=1${from ? `&from=${from}` : ""}`);
        order.push(...page.chunk.map((e) => e.event_id));
        if (!page.next_batch) break;
        from = page.next_batch;
      }
      expect(order).to.deep.equal([rootA, rootB, rootC]);
    });

    it("refuses bad parameters with 400 and outsiders with 403", async () => {
      const roomId = await publicRoom();
      for (const query of ["include=some", "limit=0", "from=t1_2"]) {
        const res = await api.get(`${room1(roomId)}/threads?${query}`, { token: bob.access_token });
        expect(res.status, query).to.equal(400);
        expect(res.body, query).to.include({ errcode: "M_INVALID_PARAM" });
      }
      const dave = await registerUser(api);
      const outsider = await api.get(`${room1(roomId)}/threads`, { token: dave.access_token });
      expect(outsider.status).to.equal(403);
      expect((await api.get(`${V3}/rooms/${encodeURIComponent(roomId)}/threads`, { token: bob.access_token })).status).to.equal(404);
    });
  });
});
