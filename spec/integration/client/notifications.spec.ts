// Notification counts and GET /notifications through the public HTTP API:
// push rules evaluated for each event, unread_notifications in /sync cleared
// by read receipts (public, private and threaded), per-thread counts, and the
// notification list with its read flags, highlight filter and pagination.
// Everything runs twice: once with counts read from the push actions alone,
// once with the push worker rotating them into summaries every 100 ms and
// each count read only after a rotation has passed every event (so counts
// come from the summaries, corrected by receipts and redactions since).
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, nextTxnId, room, sendText, sync, V3 } from "../../support/rooms.ts";
import { queryTestDatabase } from "../../support/admin-db.ts";
import { eventually } from "../../support/eventually.ts";
import { startServer, type RunningServer, type StartOptions } from "../../support/server-process.ts";

interface Counts {
  notification_count?: number;
  highlight_count?: number;
}
interface Notification {
  actions: unknown[];
  event: Record<string, any>;
  read: boolean;
  room_id: string;
  ts: number;
}

/** Resolves once the rotation has folded in every event committed so far. */
async function rotatedToHead(): Promise<void> {
  await eventually("the push rotation to reach the stream head", async () => {
    const [row] = await queryTestDatabase<{ behind: boolean }>(`SELECT (SELECT position FROM push_rotation) < (SELECT position FROM stream_head) AS behind`);
    return row!.behind ? undefined : true;
  });
}

// The api role alone runs no push worker, so nothing is ever rotated.
notificationSuite("notification counts and /notifications (real server process)", { args: ["--role", "api"] }, async () => undefined);
notificationSuite("notification counts read from rotated summaries (real server process)", { config: { push: { rotation_interval_ms: 100 } } }, rotatedToHead);

function notificationSuite(title: string, options: StartOptions, settle: () => Promise<void>): void {
describe(title, function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    server = await startServer(options);
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  const send = async (user: TestUser, roomId: string, content: Record<string, unknown>, type = "m.room.message"): Promise<string> => {
    const res = await api.put<{ event_id: string }>(`${room(roomId)}/send/${type}/${nextTxnId()}`, content, { token: user.access_token });
    expect(res.status, res.text).to.equal(200);
    return res.body.event_id;
  };
  const receipt = async (user: TestUser, roomId: string, eventId: string, type = "m.read", body: Record<string, unknown> = {}) => {
    const res = await api.post(`${room(roomId)}/receipt/${type}/${encodeURIComponent(eventId)}`, body, { token: user.access_token });
    expect(res.status, res.text).to.equal(200);
  };
  const unread = async (user: TestUser, roomId: string, query = ""): Promise<Counts> => {
    await settle();
    const s = await sync(api, user, query);
    return (s.rooms.join[roomId] as any).unread_notifications;
  };
  const counts = (notifications: number, highlights: number): Counts => ({ notification_count: notifications, highlight_count: highlights });
  /** A room alice creates and the others join. */
  const roomWith = async (alice: TestUser, ...others: TestUser[]): Promise<string> => {
    const roomId = await createRoom(api, alice, { preset: "public_chat" });
    for (const user of others) await join(api, user, roomId);
    return roomId;
  };
  const notifications = async (user: TestUser, query = "") => {
    const res = await api.get<{ notifications: Notification[]; next_token?: string }>(`${V3}/notifications${query}`, { token: user.access_token });
    expect(res.status, res.text).to.equal(200);
    return res.body;
  };

  it("a message in a 1:1 room notifies the other member in the same sync as the event; the sender's own never count", async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob);
    const base = await sync(api, bob);
    expect((base.rooms.join[roomId] as any).unread_notifications).to.deep.equal(counts(0, 0));

    await sendText(api, alice, roomId, "hello bob");
    const next = await sync(api, bob, `?since=${base.next_batch}`);
    const joined = next.rooms.join[roomId] as any;
    expect(joined.timeline.events.map((e: any) => e.content.body)).to.deep.equal(["hello bob"]);
    expect(joined.unread_notifications).to.deep.equal(counts(1, 0));

    // Alice's own message never counts for her; bob's joining never counts for anyone.
    expect(await unread(alice, roomId)).to.deep.equal(counts(0, 0));
    const list = await notifications(bob);
    expect(list.notifications).to.have.length(1);
    // .m.rule.room_one_to_one: notify with the default sound.
    expect(list.notifications[0]!.actions).to.deep.equal(["notify", { set_tweak: "sound", value: "default" }]);
    expect((await notifications(alice)).notifications).to.deep.equal([]);
  });

  it("a mention highlights; receipts (public, private, the later of both) clear the counts", async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob, carol);
    const first = await sendText(api, alice, roomId, "plain message");
    const mention = await send(alice, roomId, { msgtype: "m.text", body: "bob, look", "m.mentions": { user_ids: [bob.user_id] } });
    expect(await unread(bob, roomId)).to.deep.equal(counts(2, 1));
    // Only bob is mentioned: carol's count has no highlight.
    expect(await unread(carol, roomId)).to.deep.equal(counts(2, 0));

    // Reading up to the first message leaves the mention unread.
    await receipt(bob, roomId, first);
    expect(await unread(bob, roomId)).to.deep.equal(counts(1, 1));
    await receipt(bob, roomId, mention, "m.read.private");
    expect(await unread(bob, roomId)).to.deep.equal(counts(0, 0));
    // A public receipt behind the private one does not bring the counts back.
    await receipt(bob, roomId, first);
    expect(await unread(bob, roomId)).to.deep.equal(counts(0, 0));

    // The receipt's change reaches an incremental sync (counts change without a new event).
    const base = await sync(api, carol);
    await receipt(carol, roomId, mention);
    const after = await sync(api, carol, `?since=${base.next_batch}`);
    expect((after.rooms.join[roomId] as any).unread_notifications).to.deep.equal(counts(0, 0));

    // A room mention highlights everyone when the sender has the "room" notification level (50 by default).
    await send(alice, roomId, { msgtype: "m.text", body: "everyone!", "m.mentions": { room: true } });
    expect(await unread(carol, roomId)).to.deep.equal(counts(1, 1));
    await send(bob, roomId, { msgtype: "m.text", body: "me too", "m.mentions": { room: true } });
    // Bob has power level 0: his room mention notifies carol but does not highlight.
    expect(await unread(carol, roomId)).to.deep.equal(counts(2, 1));
  });

  it("follows the user's rules: a disabled .m.rule.message stops counting, mentions still highlight, notices never count", async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob, carol);
    await sendText(api, alice, roomId, "counted");
    expect(await unread(bob, roomId)).to.deep.equal(counts(1, 0));

    const disable = await api.put(`${V3}/pushrules/global/underride/.m.rule.message/enabled`, { enabled: false }, { token: bob.access_token });
    expect(disable.status).to.equal(200);
    await sendText(api, alice, roomId, "not counted");
    expect(await unread(bob, roomId)).to.deep.equal(counts(1, 0));
    expect(await unread(carol, roomId)).to.deep.equal(counts(2, 0));
    await send(alice, roomId, { msgtype: "m.text", body: "bob!", "m.mentions": { user_ids: [bob.user_id] } });
    expect(await unread(bob, roomId)).to.deep.equal(counts(2, 1));
    await send(alice, roomId, { msgtype: "m.notice", body: "bot says" });
    expect(await unread(carol, roomId)).to.deep.equal(counts(3, 0));

    // A user rule: a content keyword highlights for carol.
    const rule = await api.put(`${V3}/pushrules/global/content/cake`, { pattern: "cake", actions: ["notify", { set_tweak: "highlight" }] }, { token: carol.access_token });
    expect(rule.status).to.equal(200);
    await sendText(api, alice, roomId, "there is cake in the kitchen");
    expect(await unread(carol, roomId)).to.deep.equal(counts(4, 1));
    // A room rule with no actions silences the room for carol.
    await api.put(`${V3}/pushrules/global/room/${encodeURIComponent(roomId)}`, { actions: [] }, { token: carol.access_token });
    await sendText(api, alice, roomId, "quiet now");
    expect(await unread(carol, roomId)).to.deep.equal(counts(4, 1));
  });

  it("evaluates members the event names on their own: a mention, a custom display-name rule; the others share the plain outcome", async () => {
    const [alice, bob, carol, dave] = await Promise.all([registerUser(api), registerUser(api), registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob, carol, dave);
    await send(alice, roomId, { msgtype: "m.text", body: "carol?", "m.mentions": { user_ids: [carol.user_id] } });
    expect(await unread(carol, roomId)).to.deep.equal(counts(1, 1));
    expect(await unread(bob, roomId)).to.deep.equal(counts(1, 0));
    // The defaults no longer read display names (spec v1.17); a user rule still may.
    const renamed = await api.put(`${V3}/profile/${encodeURIComponent(bob.user_id)}/displayname`, { displayname: "Bobby Tables" }, { token: bob.access_token });
    expect(renamed.status, renamed.text).to.equal(200);
    const nameRule = { conditions: [{ kind: "contains_display_name" }], actions: ["notify", { set_tweak: "highlight" }] };
    expect((await api.put(`${V3}/pushrules/global/override/my-name`, nameRule, { token: bob.access_token })).status).to.equal(200);
    await sendText(api, alice, roomId, "has anyone seen bobby tables today?");
    expect(await unread(bob, roomId)).to.deep.equal(counts(2, 1));
    expect(await unread(dave, roomId)).to.deep.equal(counts(2, 0));
    // A name inside a longer word does not match.
    await sendText(api, alice, roomId, "the bobby tablesalt shortage");
    expect(await unread(bob, roomId)).to.deep.equal(counts(3, 1));
    expect(await unread(carol, roomId)).to.deep.equal(counts(3, 1));
  });

  it("a redacted event stops counting", async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob);
    const eventId = await sendText(api, alice, roomId, "oops");
    await sendText(api, alice, roomId, "kept");
    expect(await unread(bob, roomId)).to.deep.equal(counts(2, 0));
    const res = await api.put(`${room(roomId)}/redact/${encodeURIComponent(eventId)}/${nextTxnId()}`, {}, { token: alice.access_token });
    expect(res.status, res.text).to.equal(200);
    expect(await unread(bob, roomId)).to.deep.equal(counts(1, 0));
    expect((await notifications(bob)).notifications.map((n) => n.event.content.body)).to.deep.equal(["kept"]);
  });

  it("partitions counts per thread when the filter asks for unread_thread_notifications; threaded receipts clear their thread", async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob);
    const root = await sendText(api, alice, roomId, "thread root");
    const inThread = (body: string, extra: Record<string, unknown> = {}) =>
      send(alice, roomId, { msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true }, ...extra });
    const reply1 = await inThread("reply 1");
    await inThread("reply 2", { "m.mentions": { user_ids: [bob.user_id] } });
    const main = await sendText(api, alice, roomId, "back in main");

    const threaded = `?filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { unread_thread_notifications: true } } }))}`;
    const perThread = async () => {
      await settle();
      const s = await sync(api, bob, threaded);
      const joined = s.rooms.join[roomId] as any;
      return { main: joined.unread_notifications as Counts, threads: joined.unread_thread_notifications as Record<string, Counts> | undefined };
    };
    // Without the filter the counts cover the whole room.
    expect(await unread(bob, roomId)).to.deep.equal(counts(4, 1));
    expect(await perThread()).to.deep.equal({ main: counts(2, 0), threads: { [root]: counts(2, 1) } });

    // Events relating to a threaded event belong to its thread; those relating to the root, to the main timeline.
    const rule = { conditions: [{ kind: "event_match", key: "type", pattern: "m.reaction" }], actions: ["notify"] };
    expect((await api.put(`${V3}/pushrules/global/override/reactions`, rule, { token: bob.access_token })).status).to.equal(200);
    const react = (target: string, key: string) => send(alice, roomId, { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } }, "m.reaction");
    await react(reply1, "👍");
    const last = await react(root, "🎉");
    expect(await perThread()).to.deep.equal({ main: counts(3, 0), threads: { [root]: counts(3, 1) } });

    // A receipt in the thread clears only the thread, up to the receipted event.
    await receipt(bob, roomId, reply1, "m.read", { thread_id: root });
    expect(await perThread()).to.deep.equal({ main: counts(3, 0), threads: { [root]: counts(2, 1) } });
    // A "main" receipt clears the main timeline only.
    await receipt(bob, roomId, main, "m.read", { thread_id: "main" });
    expect(await perThread()).to.deep.equal({ main: counts(1, 0), threads: { [root]: counts(2, 1) } });
    // An unthreaded receipt reads everything before it, threads included; empty threads are omitted.
    await receipt(bob, roomId, last);
    expect(await perThread()).to.deep.equal({ main: counts(0, 0), threads: undefined });
    expect(await unread(bob, roomId)).to.deep.equal(counts(0, 0));
  });

  it("GET /notifications lists notified events newest first with read flags; only=highlight filters; tokens page", async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const roomId = await roomWith(alice, bob);
    const first = await sendText(api, alice, roomId, "one");
    const mention = await send(alice, roomId, { msgtype: "m.text", body: "two", "m.mentions": { user_ids: [bob.user_id] } });
    const third = await sendText(api, alice, roomId, "three");
    await receipt(bob, roomId, mention, "m.read.private");

    const all = await notifications(bob);
    expect(all.notifications.map((n) => n.event.event_id)).to.deep.equal([third, mention, first]);
    expect(all.notifications.map((n) => n.read)).to.deep.equal([false, true, true]);
    expect(all.next_token).to.equal(undefined);
    const top = all.notifications[0]!;
    expect(top.room_id).to.equal(roomId);
    expect(top.event).to.deep.include({ type: "m.room.message", sender: alice.user_id, content: { msgtype: "m.text", body: "three" } });
    expect(top.ts).to.equal(top.event.origin_server_ts);
    expect(all.notifications[1]!.actions).to.deep.equal(["notify", { set_tweak: "sound", value: "default" }, { set_tweak: "highlight" }]);

    const highlights = await notifications(bob, "?only=highlight");
    expect(highlights.notifications.map((n) => n.event.event_id)).to.deep.equal([mention]);

    // Paging one at a time walks the same list.
    const seen: string[] = [];
    let from: string | undefined;
    for (let i = 0; i < 5; i++) {
      const page = await notifications(bob, `?limit=1${from !== undefined ? `&from=${from}` : ""}`);
      seen.push(...page.notifications.map((n) => n.event.event_id));
      from = page.next_token;
      if (from === undefined) break;
    }
    expect(seen).to.deep.equal([third, mention, first]);

    for (const query of ["?from=abc", "?limit=-1", "?limit=x"]) {
      const bad = await api.get(`${V3}/notifications${query}`, { token: bob.access_token });
      expect(bad.status, query).to.equal(400);
      expect(bad.body.errcode, query).to.equal("M_INVALID_PARAM");
    }
    expect((await api.get(`${V3}/notifications`)).status).to.equal(401);
  });

  it("an invite notifies the local invitee (.m.rule.invite_for_me)", async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const roomId = await createRoom(api, alice, { preset: "private_chat", invite: [bob.user_id] });
    const list = await notifications(bob);
    expect(list.notifications).to.have.length(1);
    expect(list.notifications[0]!.event).to.deep.include({ type: "m.room.member", state_key: bob.user_id });
    expect(list.notifications[0]!.room_id).to.equal(roomId);
    expect((await notifications(alice)).notifications).to.deep.equal([]);
  });
});
}
