// The event pipeline with a forked DAG, driven the way federation drives it:
// signed PDUs from a remote server enter through RoomWrite.ingest against the
// real database, while a real server process serves the room to its local
// creator over HTTP. Covers the outcomes (accepted, rejected, soft-failed,
// outlier), state before an event with two parents, resolution applied to
// current state, memberships and sync, and the resolution cache.
import { readFileSync } from "node:fs";
import { join as joinPath } from "node:path";
import { expect } from "chai";
import type { RoomEvent } from "../../../server/protocol/events.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../../../server/protocol/room-versions.ts";
import { resolveState } from "../../../server/protocol/state-res/index.ts";
import { parseSigningKeyFile } from "../../../server/protocol/signing.ts";
import { MissingPrevEventsError, type IngestOptions } from "../../../server/rooms/events/ingest.ts";
import type { Appended } from "../../../server/rooms/events/persist.ts";
import { storageEventSource } from "../../../server/rooms/events/storage-event-source.ts";
import { BoundedCache } from "../../../server/lib/bounded-cache.ts";
import { createRoomService, type RoomService } from "../../../server/rooms/room-service.ts";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { getEventsByIds, getForwardExtremities } from "../../../server/storage/events.ts";
import { currentState, getCurrentStateGroup, membershipOf, stateIdsAtGroups } from "../../../server/storage/state.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { buildRemoteEvent, remoteServer, type RemoteEventSpec } from "../../support/pdu-factory.ts";
import { createRoom, room, sync } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";

const REMOTE = remoteServer("remote.test");
const BOB = "@bob:remote.test"; // power 100
const DAVE = "@dave:remote.test"; // power 50, enough to ban
const CAROL = "@carol:remote.test"; // power 0

describe("event pipeline with a forked DAG (real PostgreSQL, real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let db: Database;
  let rooms: RoomService;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
    db = createDatabase(testDatabaseUrl, { max: 2 });
    const key = parseSigningKeyFile(readFileSync(joinPath(server.dir, "signing.key"), "utf8"))[0]!;
    rooms = createRoomService({ db, signer: { serverName: "localhost", key }, versions: new BoundedCache("room_versions", 100), afterCommit: async () => undefined });
  });
  after(async () => {
    await db?.close();
    await server?.stop();
  });

  async function ingest(version: RoomVersion, event: RoomEvent, options?: IngestOptions): Promise<Appended | undefined> {
    const { value } = await rooms.write(async (w) => {
      await w.lock(event.roomId);
      return w.ingest(version, event, options);
    });
    return value;
  }

  async function remote(version: RoomVersion, spec: RemoteEventSpec): Promise<RoomEvent> {
    return buildRemoteEvent(db, version, REMOTE, spec);
  }

  async function stored(eventId: string) {
    return (await getEventsByIds(db, [eventId])).get(eventId)!;
  }

  /** A public room created by Alice over HTTP, joined by the three remote users; returns its id and the fork point. */
  async function roomWithRemoteMembers(version: RoomVersion): Promise<{ roomId: string; forkPoint: string; powerLevels: JsonObject }> {
    const users: JsonObject = { [BOB]: 100, [DAVE]: 50 };
    if (!version.privilegedCreators) users[alice.user_id] = 100;
    const roomId = await createRoom(api, alice, { room_version: version.id, preset: "public_chat", power_level_content_override: { users } });
    for (const userId of [BOB, DAVE, CAROL]) {
      const [prev] = await getForwardExtremities(db, roomId);
      const join = await remote(version, { roomId, sender: userId, type: "m.room.member", stateKey: userId, content: { membership: "join" }, prevEventIds: [prev!] });
      const appended = await ingest(version, join);
      expect(appended?.timeline, `${userId} joined`).to.equal(true);
    }
    const extremities = await getForwardExtremities(db, roomId);
    expect(extremities).to.have.length(1);
    const pl = await api.get<JsonObject>(`${room(roomId)}/state/m.room.power_levels/`, { token: alice.access_token });
    return { roomId, forkPoint: extremities[0]!, powerLevels: pl.body };
  }

  /** The state after an event as (type, state_key) → event id, read back from its snapshot. */
  async function stateAfter(eventId: string): Promise<Map<string, string>> {
    const group = (await stored(eventId)).stateGroupAfter!;
    const entries = (await stateIdsAtGroups(db, [group])).get(group)!;
    return new Map(entries.map((e) => [`${e.type}\u0000${e.stateKey}`, e.eventId]));
  }

  for (const versionId of ["10", "12", "1"]) {
    const version = getRoomVersion(versionId)!;

    describe(`room version ${versionId} (state resolution ${version.stateResolution})`, () => {
      let roomId: string;
      let forkPoint: string;
      let powerLevels: JsonObject;
      let ban: RoomEvent;
      let demotion: RoomEvent;

      before(async () => {
        ({ roomId, forkPoint, powerLevels } = await roomWithRemoteMembers(version));
      });

      it("accepts a ban on one branch, then a power change on a sibling branch, and resolves the fork", async () => {
        ban = await remote(version, { roomId, sender: DAVE, type: "m.room.member", stateKey: CAROL, content: { membership: "ban" }, prevEventIds: [forkPoint] });
        const banned = await ingest(version, ban);
        expect(banned?.timeline).to.equal(true);
        expect((await membershipOf(db, roomId, CAROL))?.membership).to.equal("ban");
        const beforeDemotion = await sync(api, alice);

        // Bob demotes Dave on a branch that never saw the ban.
        const users = { ...(powerLevels.users as JsonObject), [DAVE]: 0 };
        demotion = await remote(version, {
          roomId,
          sender: BOB,
          type: "m.room.power_levels",
          stateKey: "",
          content: { ...powerLevels, users },
          prevEventIds: [forkPoint],
        });
        const demoted = await ingest(version, demotion);
        expect(demoted?.timeline, "the demotion passes against the current state too").to.equal(true);
        expect((await getForwardExtremities(db, roomId)).sort()).to.deep.equal([ban.eventId, demotion.eventId].sort());

        // Current state is the resolution of the two branches, whatever the algorithm.
        const expected = await resolveState(version, [await stateAfter(ban.eventId), await stateAfter(demotion.eventId)], storageEventSource(db));
        const current = new Map((await currentState(db, roomId)).map((e) => [`${e.type}\u0000${e.stateKey}`, e.eventNid]));
        const expectedNids = new Map<string, number>();
        for (const [key, eventId] of expected) expectedNids.set(key, (await stored(eventId)).nid);
        expect(current).to.deep.equal(expectedNids);

        const carolNow = expected.get(`m.room.member\u0000${CAROL}`)!;
        if (version.stateResolution !== "v1") {
          // spec: power events are replayed in order of their sender's power, so
          // Bob's demotion comes first and Dave's ban then fails: Carol is joined again.
          expect(carolNow).not.to.equal(ban.eventId);
          expect((await membershipOf(db, roomId, CAROL))?.membership).to.equal("join");
          expect(demoted!.stateChanges.map((c) => c.stateKey)).to.include(CAROL);
        }

        // Sync carries the state resolution changed, although the timeline is not limited.
        const after = await sync(api, alice, `?since=${encodeURIComponent(beforeDemotion.next_batch)}&timeout=0`);
        const joined = after.rooms.join[roomId]!;
        expect(joined.timeline.limited).to.equal(false);
        expect(joined.timeline.events.map((e) => e.event_id)).to.deep.equal([demotion.eventId]);
        if (carolNow !== ban.eventId) {
          const carolState = joined.state.events.find((e) => e.type === "m.room.member" && e.state_key === CAROL);
          expect(carolState?.event_id, "Carol's membership from the resolved state").to.equal(carolNow);
          expect(carolState?.content.membership).to.equal("join");
        }
      });

      it("soft-fails an event that passes against the state before it but not against the current state", async () => {
        // A room of its own, so the outcome does not depend on how the fork above resolved.
        const fresh = await roomWithRemoteMembers(version);
        const users = { ...(fresh.powerLevels.users as JsonObject), [DAVE]: 0 };
        const demotion = await remote(version, {
          roomId: fresh.roomId,
          sender: BOB,
          type: "m.room.power_levels",
          stateKey: "",
          content: { ...fresh.powerLevels, users },
          prevEventIds: [fresh.forkPoint],
        });
        expect((await ingest(version, demotion))?.timeline).to.equal(true);
        // Dave still had power 50 at the fork point, so the topic passes against the state before it.
        const topic = await remote(version, { roomId: fresh.roomId, sender: DAVE, type: "m.room.topic", stateKey: "", content: { topic: "dave was here" }, prevEventIds: [fresh.forkPoint] });
        const appended = await ingest(version, topic);
        expect(appended?.timeline).to.equal(false);
        const row = await stored(topic.eventId);
        expect(row.softFailed).to.equal(true);
        expect(row.rejectedReason).to.equal(null);
        expect(row.streamOrdering).to.equal(null);
        expect(await getForwardExtremities(db, fresh.roomId)).to.deep.equal([demotion.eventId]);
        expect(await currentState(db, fresh.roomId, [["m.room.topic", ""]])).to.deep.equal([]);
        const page = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(fresh.roomId)}/messages?dir=b&limit=100`, { token: alice.access_token });
        expect(page.body.chunk.map((e) => e.event_id)).not.to.include(topic.eventId);
        // A later event may still build on it: it is in the DAG, with its state.
        expect(row.stateGroupAfter).to.not.equal(null);
      });

      it("rejects an event that fails the auth rules against its auth events, and never serves it", async () => {
        const topic = await remote(version, { roomId, sender: CAROL, type: "m.room.topic", stateKey: "", content: { topic: "carol may not" }, prevEventIds: [forkPoint] });
        const appended = await ingest(version, topic);
        expect(appended?.timeline).to.equal(false);
        const row = await stored(topic.eventId);
        expect(row.rejectedReason).to.match(/power/);
        expect(row.streamOrdering).to.equal(null);
        expect(await getForwardExtremities(db, roomId)).not.to.include(topic.eventId);
        const fetched = await api.get(`${room(roomId)}/event/${encodeURIComponent(topic.eventId)}`, { token: alice.access_token });
        expect(fetched.status).to.equal(404);
      });

      it("gives an event with two parents the resolved state, from the cache, and stores the resolution as a delta", async () => {
        const current = await getCurrentStateGroup(db, roomId);
        const merge = await remote(version, {
          roomId,
          sender: BOB,
          type: "m.room.message",
          content: { msgtype: "m.text", body: "merging" },
          prevEventIds: [ban.eventId, demotion.eventId],
          authFrom: "current",
        });
        const appended = await ingest(version, merge);
        expect(appended?.timeline).to.equal(true);
        expect((await stored(merge.eventId)).stateGroupBefore).to.equal(current);
        expect(await getForwardExtremities(db, roomId)).to.deep.equal([merge.eventId]);
        const cache = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM state_resolutions WHERE room_id = $1`, [roomId]);
        expect(cache.rows[0]!.n).to.equal(1);
        const group = await db.query<{ prev_state_group: number | null; entries: number }>(
          `SELECT g.prev_state_group, (SELECT count(*)::int FROM state_group_entries e WHERE e.state_group = g.state_group) AS entries
             FROM state_groups g WHERE g.state_group = $1`,
          [current],
        );
        expect(group.rows[0]!.prev_state_group, "a delta against one branch").to.not.equal(null);
        expect(group.rows[0]!.entries).to.be.at.most(2);
        const timeline = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=5`, { token: alice.access_token });
        expect(timeline.body.chunk[0]!.event_id).to.equal(merge.eventId);
      });

      it("asks for missing prev_events, and accepts the event with the state supplied instead", async () => {
        const [tip] = await getForwardExtremities(db, roomId);
        const unknown = version.eventFormat === "v1" ? "$missing:remote.test" : `$${"M".repeat(43)}`;
        const event = await remote(version, {
          roomId,
          sender: BOB,
          type: "m.room.message",
          content: { msgtype: "m.text", body: "after a gap" },
          prevEventIds: [unknown],
          authFrom: "current",
        });
        let thrown: unknown;
        try {
          await ingest(version, event);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).to.be.instanceOf(MissingPrevEventsError);
        expect((thrown as MissingPrevEventsError).missing).to.deep.equal([unknown]);
        const appended = await ingest(version, event, { stateBefore: (await getCurrentStateGroup(db, roomId))! });
        expect(appended?.timeline).to.equal(true);
        const backward = await db.query<{ event_id: string }>(`SELECT event_id FROM room_backward_extremities WHERE room_id = $1`, [roomId]);
        expect(backward.rows.map((r) => r.event_id)).to.include(unknown);
        // Forks are kept: the old tip is still an extremity beside the new event.
        expect((await getForwardExtremities(db, roomId)).sort()).to.deep.equal([tip!, event.eventId].sort());
      });

      it("stores an outlier without a place in the timeline, and upgrades it when it arrives in the DAG", async () => {
        const prevs = await getForwardExtremities(db, roomId);
        const event = await remote(version, { roomId, sender: BOB, type: "m.room.message", content: { msgtype: "m.text", body: "first as an outlier" }, prevEventIds: prevs, authFrom: "current" });
        await rooms.write(async (w) => {
          await w.lock(roomId);
          await w.ingestOutlier(version, event);
        });
        let row = await stored(event.eventId);
        expect(row.outlier).to.equal(true);
        expect(row.streamOrdering).to.equal(null);
        expect(await ingest(version, event)).to.have.property("timeline", true);
        row = await stored(event.eventId);
        expect(row.outlier).to.equal(false);
        expect(row.streamOrdering).to.be.a("number");
        expect(await getForwardExtremities(db, roomId)).to.deep.equal([event.eventId]);
        // The same PDU again is a no-op.
        expect(await ingest(version, event)).to.equal(undefined);
      });

      it("stores many outliers at once with the outcomes one at a time would give (a join's state)", async () => {
        const prevs = await getForwardExtremities(db, roomId);
        const unknown = version.eventFormat === "v1" ? "$unknown-auth:remote.test" : `$${"U".repeat(43)}`;
        const message = (body: string, extra: { authEventIds?: string[] } = {}) =>
          remote(version, { roomId, sender: BOB, type: "m.room.message", content: { msgtype: "m.text", body }, prevEventIds: prevs, authFrom: "current", ...extra });
        const good = await message("batched outlier");
        const orphan = await message("cites an auth event we lack", { authEventIds: [...good.authEventIds, unknown] });
        const held = await message("held before the batch");
        await rooms.write(async (w) => {
          await w.lock(roomId);
          await w.ingestOutlier(version, held);
        });
        let count = 0;
        await rooms.write(async (w) => {
          await w.lock(roomId);
          // The held event and a repeat are skipped, as ingestOutlier would skip them.
          count = await w.ingestOutliers(version, [held, good, orphan, good]);
        });
        expect(count).to.equal(2);
        const rows = await db.query<{ event_id: string; outlier: boolean; rejected_reason: string | null; auth: string[] }>(
          `SELECT e.event_id, e.outlier, e.rejected_reason, array(SELECT auth_event_id FROM event_auth_edges a WHERE a.event_nid = e.event_nid ORDER BY 1) AS auth
           FROM events e WHERE e.event_id = ANY($1::text[])`,
          [[good.eventId, orphan.eventId]],
        );
        const byId = new Map(rows.rows.map((r) => [r.event_id, r]));
        expect(byId.get(good.eventId)).to.deep.include({ outlier: true, rejected_reason: null, auth: [...good.authEventIds].sort() });
        expect(byId.get(orphan.eventId)?.outlier).to.equal(true);
        expect(byId.get(orphan.eventId)?.rejected_reason).to.equal(`auth event ${unknown} is not held`);
        expect((await stored(good.eventId)).streamOrdering).to.equal(null);
      });

      it("lets the local user keep sending on top of the merged DAG", async () => {
        const res = await api.put<{ event_id: string }>(`${room(roomId)}/send/m.room.message/t${Date.now()}`, { msgtype: "m.text", body: "local after fork" }, { token: alice.access_token });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(await getForwardExtremities(db, roomId)).to.deep.equal([res.body.event_id]);
        const members = await api.get<{ joined: Record<string, unknown> }>(`${room(roomId)}/joined_members`, { token: alice.access_token });
        expect(Object.keys(members.body.joined)).to.include(BOB);
      });
    });
  }
});
