// Acceptance with a real client: matrix-js-sdk (the SDK behind Element Web)
// drives the two-user scenario against the real server process, through its
// own APIs and its own /sync loop. Assertions are on what the SDK's sync loop
// delivered (live timelines, typing, receipts, room name and topic), and the
// timelines the SDK assembled are compared with the server's /messages.
//
// Every response the SDK receives is also checked against the spec's OpenAPI
// schema and every error answer is recorded; the last test fails on any
// unexpected one, so a server bug surfaces even when the SDK papers over it.
import { expect } from "chai";
import {
  ClientEvent,
  createClient,
  EventType,
  Filter,
  KnownMembership,
  MatrixError,
  MsgType,
  PendingEventOrdering,
  Preset,
  RelationType,
  RoomEvent,
  RoomMemberEvent,
  SyncState,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from "matrix-js-sdk";
import { uniqueLocalpart } from "../support/accounts.ts";
import { TestClient } from "../support/http-client.ts";
import { startServer, type RunningServer } from "../support/server-process.ts";
import { recordingFetch, quietLogger, sdkGlobalLog, type ExpectedError, type Finding } from "./sdk-harness.ts";
import { firstDifference, serverTimeline } from "./server-timeline.ts";

const MESSAGES = 200;
const PASSWORD = "js-sdk interop password";
/**
 * SyncApi.sync() retries GET /pushrules/ forever before its first /sync. Should the server answer it with 404,
 * the first test fails on that, and this stand-in (used only then, and recorded) lets the rest of the scenario run.
 */
const PUSH_RULES_PATH = /^\/_matrix\/client\/(v3|r0)\/pushrules\/?$/;
const EMPTY_PUSH_RULES = { global: { override: [], content: [], room: [], sender: [], underride: [] } };

interface Actor {
  name: string;
  localpart: string;
  userId: string;
  client: MatrixClient;
  /** Event ids of the test room, in the order the sync loop appended them to the live timeline. */
  live: string[];
  typing: Array<{ userId: string; typing: boolean }>;
  receipts: Array<{ eventId: string; userId: string; type: string }>;
  names: string[];
  syncStates: string[];
  log: string[];
}

describe("matrix-js-sdk drives the two-user scenario (real client, real server process)", function () {
  this.timeout(90_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: Actor;
  let bob: Actor;
  let charlie: Actor;
  const laterDevices: Actor[] = [];
  let roomId: string;
  let messageIds: string[] = [];
  let editedId: string;
  let editId: string;
  let redactedId: string;
  let redactionId: string;
  const findings: Finding[] = [];
  /** GET /messages requests per SDK client, to show back-pagination really went to the server. */
  const messagesRequests = new Map<string, number>();
  const shimmed: string[] = [];
  /** Error answers the scenario asks for on purpose: "METHOD path-regex status". */
  const expectedErrors: ExpectedError[] = [
    { method: "POST", path: /\/register$/, status: 401 }, // the first step of user-interactive auth
    // Unstable MatrixRTC transports (MSC4143), polled by the SDK; 404 M_UNRECOGNIZED is the right answer.
    { method: "GET", path: /^\/_matrix\/client\/unstable\/org\.matrix\.msc4143\/rtc\/transports$/, status: 404 },
  ];
  /** Set when a step the later ones build on fails: those are then skipped (the failure itself is reported). */
  let failedStep: string | undefined;
  const prerequisites = new Set<string>();
  /** A step later steps need: registration, the room, the messages. */
  const step = (title: string, fn: () => Promise<void>) => {
    prerequisites.add(title);
    return it(title, fn);
  };

  /** fetch for one SDK client: spec-checked and recorded, with the push-rules stand-in and a count of /messages requests. */
  function sdkFetch(who: string): typeof fetch {
    return recordingFetch(who, {
      findings,
      expectedErrors,
      intercept: (method, url, res) => {
        if (method === "GET" && url.pathname.endsWith("/messages")) messagesRequests.set(who, (messagesRequests.get(who) ?? 0) + 1);
        if (method !== "GET" || !PUSH_RULES_PATH.test(url.pathname) || res.status !== 404) return undefined;
        shimmed.push(`${who}: GET ${url.pathname} answered 404; the test supplied an empty rule set`);
        return new Response(JSON.stringify(EMPTY_PUSH_RULES), { status: 200, headers: { "content-type": "application/json" } });
      },
    });
  }

  /** Registers through the SDK (user-interactive auth, m.login.dummy), then logs in with the password. */
  async function signUp(name: string): Promise<Actor> {
    const localpart = uniqueLocalpart(name);
    const log: string[] = [];
    const anonymous = createClient({ baseUrl: server.baseUrl, fetchFn: sdkFetch(name), logger: quietLogger(name, log) });
    let session: string | undefined;
    try {
      await anonymous.registerRequest({ username: localpart, password: PASSWORD });
      expect.fail("POST /register without auth should ask for user-interactive auth (401)");
    } catch (err) {
      if (!(err instanceof MatrixError) || err.httpStatus !== 401) throw err;
      session = err.data.session as string | undefined;
      const flows = (err.data.flows ?? []) as Array<{ stages: string[] }>;
      expect(flows.map((f) => f.stages.join(",")), "registration offers m.login.dummy").to.include("m.login.dummy");
    }
    const registered = await anonymous.registerRequest({ username: localpart, password: PASSWORD, auth: { type: "m.login.dummy", session }, inhibit_login: true });
    expect(registered.user_id).to.match(new RegExp(`^@${localpart}:`));
    const actor = await logIn(name, localpart, log);
    expect(actor.userId).to.equal(registered.user_id);
    return actor;
  }

  /** Logs in with the password (a new device) and wires the recorders to the client's events. */
  async function logIn(name: string, localpart: string, log: string[] = []): Promise<Actor> {
    const anonymous = createClient({ baseUrl: server.baseUrl, fetchFn: sdkFetch(name), logger: quietLogger(name, log) });
    const login = await anonymous.loginRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: localpart },
      password: PASSWORD,
      initial_device_display_name: `js-sdk ${name}`,
    });
    const client = createClient({
      baseUrl: server.baseUrl,
      accessToken: login.access_token,
      userId: login.user_id,
      deviceId: login.device_id,
      fetchFn: sdkFetch(name),
      logger: quietLogger(name, log),
    });
    const actor: Actor = { name, localpart, userId: login.user_id, client, live: [], typing: [], receipts: [], names: [], syncStates: [], log };
    client.on(ClientEvent.Sync, (state) => actor.syncStates.push(state));
    client.on(RoomEvent.Timeline, (event, room, toStartOfTimeline, removed, data) => {
      if (room?.roomId === roomId && !toStartOfTimeline && !removed && data.liveEvent && data.timeline === room.getLiveTimeline()) {
        actor.live.push(event.getId()!);
      }
    });
    client.on(RoomMemberEvent.Typing, (_event, member) => {
      if (member.roomId === roomId) actor.typing.push({ userId: member.userId, typing: member.typing });
    });
    client.on(RoomEvent.Receipt, (event, room) => {
      if (room.roomId !== roomId) return;
      for (const [eventId, byType] of Object.entries(event.getContent() as Record<string, Record<string, Record<string, unknown>>>)) {
        for (const [type, byUser] of Object.entries(byType)) {
          for (const userId of Object.keys(byUser)) actor.receipts.push({ eventId, userId, type });
        }
      }
    });
    client.on(RoomEvent.Name, (room) => {
      if (room.roomId === roomId) actor.names.push(room.name);
    });
    return actor;
  }

  async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${diagnostics()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function diagnostics(): string {
    const lines = [
      ...shimmed.slice(0, 3),
      ...findings.slice(-10).map((f) => `${f.who} ${f.request} -> ${f.status} ${f.detail}`),
      ...[alice, bob, charlie].flatMap((a) => (a ? [`${a.name} sync states: ${a.syncStates.slice(-5).join(",")}`, ...a.log.slice(-5)] : [])),
      ...sdkGlobalLog.slice(-5),
    ];
    return lines.length ? `\n  ${lines.join("\n  ")}` : "";
  }

  const roomOf = (actor: Actor): Room => {
    const room = actor.client.getRoom(roomId);
    if (!room) throw new Error(`${actor.name}'s client has no room ${roomId}${diagnostics()}`);
    return room;
  };
  const timelineIds = (actor: Actor): string[] => roomOf(actor).getLiveTimeline().getEvents().map((e) => e.getId()!);
  const hasEvent = (actor: Actor, eventId: string) => actor.client.getRoom(roomId)?.findEventById(eventId) !== undefined;
  const memberState = (actor: Actor, userId: string): MatrixEvent | null => roomOf(actor).currentState.getStateEvents(EventType.RoomMember, userId);

  async function startSyncing(actor: Actor, initialSyncLimit = 10): Promise<void> {
    const prepared = new Promise<void>((resolve) => {
      const onSync = (state: SyncState) => {
        if (state === SyncState.Prepared || state === SyncState.Syncing) {
          actor.client.off(ClientEvent.Sync, onSync);
          resolve();
        }
      };
      actor.client.on(ClientEvent.Sync, onSync);
    });
    await actor.client.startClient({ initialSyncLimit, pendingEventOrdering: PendingEventOrdering.Detached });
    await Promise.race([
      prepared,
      new Promise((_r, reject) => setTimeout(() => reject(new Error(`${actor.name}'s sync loop never reached PREPARED${diagnostics()}`)), 15_000)),
    ]);
  }

  before(async () => {
    server = await startServer({ config: { registration: { enabled: true } } });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    for (const actor of [alice, bob, charlie, ...laterDevices]) actor?.client.stopClient();
    await server?.stop();
  });
  beforeEach(function () {
    if (failedStep) this.skip();
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed" && prerequisites.has(this.currentTest.title)) failedStep ??= this.currentTest.title;
  });

  it("answers every request of the SDK's startup, GET /pushrules/ included", async () => {
    const probe = createClient({ baseUrl: server.baseUrl, logger: quietLogger("probe", []) });
    const versions = await probe.getVersions();
    expect(versions.versions.length).to.be.greaterThan(0);
    const username = uniqueLocalpart("probe");
    const user = await api.post<{ session: string }>("/_matrix/client/v3/register", { username, password: PASSWORD });
    const done = await api.post<{ access_token: string; user_id: string }>("/_matrix/client/v3/register", {
      username,
      password: PASSWORD,
      auth: { type: "m.login.dummy", session: user.body.session },
    });
    const authed = createClient({ baseUrl: server.baseUrl, accessToken: done.body.access_token, userId: done.body.user_id, logger: quietLogger("probe", []) });
    // SyncApi.sync() awaits these before its first /sync; a failure makes it retry forever.
    const rules = await authed.getPushRules().catch((err: MatrixError) => {
      throw new Error(
        `GET /_matrix/client/v3/pushrules/ failed (${err.httpStatus} ${err.errcode}): matrix-js-sdk's startClient() retries it forever and never starts /sync. ` +
          "The spec requires it (https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrules).",
      );
    });
    expect(rules.global, "push rules").to.be.an("object");
    const filterId = await authed.getOrCreateFilter("probe", new Filter(done.body.user_id));
    expect(filterId).to.be.a("string");
    const capabilities = await authed.getCapabilities();
    expect(capabilities).to.be.an("object");
  });

  step("registers and logs in three users, and starts alice's and bob's sync loops", async () => {
    [alice, bob, charlie] = await Promise.all([signUp("alice"), signUp("bob"), signUp("charlie")]);
    await Promise.all([startSyncing(alice), startSyncing(bob)]);
  });

  step("alice creates a room and invites bob, who sees the invite in his sync and joins; charlie joins too", async () => {
    const created = await alice.client.createRoom({ preset: Preset.PublicChat, name: "interop", topic: "first topic" });
    roomId = created.room_id;
    await until("alice's sync has the room", () => alice.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Join);
    await alice.client.invite(roomId, bob.userId);
    await until("bob's sync shows the invite", () => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Invite);
    expect(memberState(bob, bob.userId)?.getSender(), "the invite's sender").to.equal(alice.userId);
    await bob.client.joinRoom(roomId);
    await until("bob's sync shows him joined", () => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Join);
    await charlie.client.joinRoom(roomId);
    await until("both see charlie joined", () =>
      [alice, bob].every((a) => a.client.getRoom(roomId)?.getMember(charlie.userId)?.membership === KnownMembership.Join),
    );
  });

  step(`exchanges ${MESSAGES} messages that both sync loops deliver in the same order`, async () => {
    messageIds = [];
    for (let i = 0; i < MESSAGES; i += 1) {
      const from = i % 2 === 0 ? alice : bob;
      const res = await from.client.sendTextMessage(roomId, `message ${i} from ${from.name}`);
      messageIds.push(res.event_id);
    }
    await until(`both sync loops delivered all ${MESSAGES} messages`, () => [alice, bob].every((a) => messageIds.every((id) => hasEvent(a, id))));
    for (const actor of [alice, bob]) {
      const order = actor.live.filter((id) => messageIds.includes(id));
      expect(order, `${actor.name}'s sync loop order: ${firstDifference(order, messageIds)}`).to.deep.equal(messageIds);
      const bodies = messageIds.map((id) => roomOf(actor).findEventById(id)!.getContent().body);
      expect(bodies).to.deep.equal(messageIds.map((_id, i) => `message ${i} from ${i % 2 === 0 ? "alice" : "bob"}`));
    }
  });

  it("alice edits a message (m.replace): bob's client shows the new content", async () => {
    editedId = messageIds[MESSAGES - 2]!; // alice's last message
    const edit = await alice.client.sendEvent(roomId, EventType.RoomMessage, {
      msgtype: MsgType.Text,
      body: "* edited by alice",
      "m.new_content": { msgtype: MsgType.Text, body: "edited by alice" },
      "m.relates_to": { rel_type: RelationType.Replace, event_id: editedId },
    });
    editId = edit.event_id;
    await until("both clients have the edit", () => [alice, bob].every((a) => hasEvent(a, editId)));
    await until("bob's client applied the edit", () => roomOf(bob).findEventById(editedId)?.replacingEventId() === editId);
    expect(roomOf(bob).findEventById(editedId)!.getContent().body).to.equal("edited by alice");
  });

  it("bob redacts his message: alice's client shows it redacted", async () => {
    redactedId = messageIds[MESSAGES - 1]!; // bob's last message
    const sent = await bob.client.redactEvent(roomId, redactedId, undefined, { reason: "interop redaction" });
    redactionId = sent.event_id;
    await until("both clients have the redaction event", () => [alice, bob].every((a) => hasEvent(a, redactionId)));
    const redaction = roomOf(alice).findEventById(redactionId)!;
    expect(redaction.getType()).to.equal(EventType.RoomRedaction);
    expect(redaction.getContent().redacts, "content.redacts (room versions 11+)").to.equal(redactedId);
    expect(
      redaction.event.redacts,
      "m.room.redaction served without a top-level `redacts`: matrix-js-sdk reads only event.redacts, so it never applies the redaction. " +
        "Room versions 11+ moved `redacts` into content; the room v11 spec says servers should still add the top-level `redacts` when serving " +
        "m.room.redaction over the client-server API, for older clients (https://spec.matrix.org/v1.19/rooms/v11/#moving-the-redacts-property-of-mroomredaction-events-to-a-content-property)",
    ).to.equal(redactedId);
    await until("alice's client shows bob's message redacted", () => roomOf(alice).findEventById(redactedId)?.isRedacted() === true);
    expect(roomOf(alice).findEventById(redactedId)!.getContent()).to.deep.equal({});
  });

  it("typing and read receipts from one user appear in the other's sync", async () => {
    await alice.client.sendTyping(roomId, true, 20_000);
    await until("bob's sync shows alice typing", () => bob.typing.some((t) => t.userId === alice.userId && t.typing));
    expect(roomOf(bob).getMember(alice.userId)!.typing).to.equal(true);
    await alice.client.sendTyping(roomId, false, 0);
    await until("bob's sync shows alice stopped typing", () => bob.typing.at(-1)?.userId === alice.userId && bob.typing.at(-1)?.typing === false);

    const last = roomOf(bob).findEventById(editId)!;
    await bob.client.sendReadReceipt(last);
    await until("alice's sync shows bob's receipt", () => alice.receipts.some((r) => r.userId === bob.userId && r.eventId === editId && r.type === "m.read"));
    expect(roomOf(alice).getEventReadUpTo(bob.userId)).to.equal(editId);
  });

  it("room name and topic changes arrive in both clients", async () => {
    await alice.client.setRoomName(roomId, "interop renamed");
    await alice.client.setRoomTopic(roomId, "second topic");
    for (const actor of [alice, bob]) {
      await until(`${actor.name} sees the new name`, () => roomOf(actor).name === "interop renamed");
      await until(`${actor.name} sees the new topic`, () => roomOf(actor).currentState.getStateEvents(EventType.RoomTopic, "")?.getContent().topic === "second topic");
      expect(actor.names, `${actor.name}'s Room.name events`).to.include("interop renamed");
    }
  });

  it("alice kicks charlie, who may rejoin, then bans him; his join is refused", async () => {
    await alice.client.kick(roomId, charlie.userId, "interop kick");
    for (const actor of [alice, bob]) {
      await until(`${actor.name} sees charlie kicked`, () => memberState(actor, charlie.userId)?.getContent().membership === KnownMembership.Leave);
      expect(memberState(actor, charlie.userId)!.getSender()).to.equal(alice.userId);
    }
    await charlie.client.joinRoom(roomId);
    await until("both see charlie back", () => [alice, bob].every((a) => memberState(a, charlie.userId)?.getContent().membership === KnownMembership.Join));
    await alice.client.ban(roomId, charlie.userId, "interop ban");
    for (const actor of [alice, bob]) {
      await until(`${actor.name} sees charlie banned`, () => memberState(actor, charlie.userId)?.getContent().membership === KnownMembership.Ban);
    }
    expectedErrors.push({ method: "POST", path: /\/join\//, status: 403 });
    const refused = await charlie.client.joinRoom(roomId).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused, "a banned user's join must be refused").to.be.instanceOf(MatrixError);
    expect((refused as MatrixError).httpStatus).to.equal(403);
    expect((refused as MatrixError).errcode).to.equal("M_FORBIDDEN");
  });

  /** Scrolls back with the SDK until it reports the start of the room (no pagination token left). */
  async function paginateToStart(actor: Actor): Promise<void> {
    const room = roomOf(actor);
    for (let page = 0; room.oldState.paginationToken !== null; page += 1) {
      if (page > 50) throw new Error(`${actor.name} paginated 50 pages without reaching the start`);
      await actor.client.scrollback(room, 50);
    }
    expect(room.getLiveTimeline().getEvents()[0]!.getType(), `${actor.name}'s timeline starts at the creation`).to.equal(EventType.RoomCreate);
  }

  it("both clients paginate back to the room's creation and hold the same timeline, in the server's /messages order", async () => {
    const serverEvents = await serverTimeline(api, alice.client.getAccessToken()!, roomId);
    const server = serverEvents.map((e) => e.event_id);
    expect(server.length).to.be.greaterThan(MESSAGES);
    const redactedOnServer = serverEvents.find((e) => e.event_id === redactedId);
    expect(redactedOnServer?.content, "the server serves the redacted message without content").to.deep.equal({});
    expect(redactedOnServer?.unsigned?.redacted_because?.event_id).to.equal(redactionId);
    await until("both clients are at the newest event", () => [alice, bob].every((a) => timelineIds(a).at(-1) === server.at(-1)));
    for (const actor of [alice, bob]) await paginateToStart(actor);
    const aliceIds = timelineIds(alice);
    const bobIds = timelineIds(bob);
    expect(aliceIds, `alice vs server: ${firstDifference(aliceIds, server)}`).to.deep.equal(server);
    expect(bobIds, `bob vs server: ${firstDifference(bobIds, server)}`).to.deep.equal(server);

    // What the sync loops appended live, from bob's join on, is the same sequence for both, and the server's.
    const bobJoin = serverEvents.find((e) => e.type === EventType.RoomMember && e.state_key === bob.userId && e.content.membership === "join")!.event_id;
    const aliceLive = alice.live.slice(alice.live.indexOf(bobJoin));
    const bobLive = bob.live.slice(bob.live.indexOf(bobJoin));
    expect(aliceLive, `live: ${firstDifference(aliceLive, bobLive)}`).to.deep.equal(bobLive);
    const serverFromJoin = server.slice(server.indexOf(bobJoin));
    expect(bobLive, `live vs server: ${firstDifference(bobLive, serverFromJoin)}`).to.deep.equal(serverFromJoin);
  });

  it("fresh devices of both users start from the last 10 events and paginate back through the whole history", async () => {
    const server = (await serverTimeline(api, alice.client.getAccessToken()!, roomId)).map((e) => e.event_id);
    for (const actor of [alice, bob]) {
      const fresh = await logIn(`${actor.name}-device2`, actor.localpart);
      laterDevices.push(fresh);
      await startSyncing(fresh, 10);
      await until(`${fresh.name} has the room`, () => fresh.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Join);
      expect(timelineIds(fresh), `${fresh.name}'s initial sync holds the newest events`).to.deep.equal(server.slice(-timelineIds(fresh).length));
      expect(timelineIds(fresh).length).to.be.at.most(10);
      await paginateToStart(fresh);
      const ids = timelineIds(fresh);
      expect(ids, `${fresh.name} vs server: ${firstDifference(ids, server)}`).to.deep.equal(server);
      expect(messagesRequests.get(fresh.name) ?? 0, `${fresh.name}'s GET /messages requests`).to.be.at.least(Math.ceil((server.length - 10) / 50));
      expect(roomOf(fresh).findEventById(editedId)?.replacingEventId(), `${fresh.name} aggregates the edit from history`).to.equal(editId);
      expect(roomOf(fresh).findEventById(redactedId)?.isRedacted(), `${fresh.name} sees the message redacted in history`).to.equal(true);
    }
  });

  it("the SDK received no error answer it did not ask for, and every answer matched the spec's schema", () => {
    const unexpected = findings.map((f) => `${f.who}: ${f.request} -> ${f.status} ${f.detail}`);
    expect(unexpected, unexpected.join("\n")).to.deep.equal([]);
  });
});
