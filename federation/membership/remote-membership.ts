// Our users' memberships in rooms this server is not (yet) in, and invites of
// other servers' users (spec "Joining Rooms", "Leaving Rooms", "Inviting to a
// room", "Knocking upon a room"):
// - join: make_join on a server of the room, sign the template, send_join,
//   verify every event of the answer, store the auth chain and state as
//   outliers, then the join with that state as the state before it;
// - leave (rejecting an invite, or leaving a room we hold no state for) and
//   knock: make_*/send_* the same way, recorded as out-of-room memberships;
// - invite: the invitee's server countersigns the invite before it is persisted.
// Each candidate server is tried in turn; the last failure becomes the client's
// error (federation/remote-errors.ts), never the remote's own text.
import { forbidden, MatrixError, notFound } from "../../server/errors/matrix-error.ts";
import type { Logger } from "../../server/observability/logger.ts";
import { ProtocolError } from "../../server/protocol/errors.ts";
import { parsePdu } from "../../server/protocol/event-format.ts";
import { stateTuple, type RoomEvent } from "../../server/protocol/events.ts";
import { signEvent } from "../../server/protocol/hashes.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../../server/protocol/json.ts";
import { getRoomVersion, ROOM_VERSIONS, type RoomVersion } from "../../server/protocol/room-versions.ts";
import { newV1EventId, type Signer } from "../../server/rooms/events/build-local.ts";
import { snapshotOf } from "../../server/rooms/events/snapshots.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { currentStateEvents } from "../../server/rooms/room-state.ts";
import { federationPdu } from "../../server/rooms/server-visibility.ts";
import { STRIPPED_STATE_TYPES } from "../../server/rooms/stripped-state.ts";
import type { Database } from "../../server/storage/database.ts";
import { getEventsByIds } from "../../server/storage/events.ts";
import { insertRoomIfMissing } from "../../server/storage/state.ts";
import type { Keyring } from "../keys/keyring.ts";
import { serverSignatureProblem, verifyPdu } from "../ingest/verify-pdu.ts";
import { asClientError } from "../remote-errors.ts";
import type { JoinGate } from "./join-gate.ts";
import { FederationError, type FederationClient } from "../transport/federation-client.ts";

const fv1 = "/_matrix/federation/v1";
const fv2 = "/_matrix/federation/v2";
const SUPPORTED_VERSIONS = [...ROOM_VERSIONS.keys()];

export interface RemoteMembershipDeps {
  db: Database;
  joins: JoinGate;
  rooms: Pick<RoomService, "write" | "recordOutOfRoomMembership" | "roomVersion">;
  client: Pick<FederationClient, "request">;
  keyring: Pick<Keyring, "verifyKeysFor">;
  signer: Signer;
  log: Logger;
}

type Membership = "join" | "leave" | "knock";

export function createRemoteMembership(deps: RemoteMembershipDeps) {
  const { db, client, signer, log } = deps;

  /** Tries each server until one answers; the last failure is thrown. */
  async function firstThatWorks<T>(servers: readonly string[], what: string, attempt: (server: string) => Promise<T>): Promise<T> {
    const candidates = [...new Set(servers)].filter((s) => s !== signer.serverName);
    if (candidates.length === 0) throw notFound("No known servers for this room");
    let last: unknown;
    for (const server of candidates) {
      try {
        return await attempt(server);
      } catch (err) {
        last = err;
        log.info({ server, what, err: (err as Error).message }, "remote membership attempt failed");
      }
    }
    if (last instanceof MatrixError) throw last;
    throw asClientError(last, what, log);
  }

  /** The template of make_*, completed and signed by us. */
  async function signTemplate(server: string, roomId: string, userId: string, membership: Membership, content: JsonObject): Promise<{ event: RoomEvent; version: RoomVersion }> {
    const query = membership === "leave" ? {} : { query: { ver: SUPPORTED_VERSIONS } };
    const made = await client.request(server, "GET", `${fv1}/make_${membership}/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`, query);
    if (!isJsonObject(made) || !isJsonObject(made.event)) throw new MatrixError(502, "M_UNKNOWN", `${server} sent a malformed make_${membership} answer`);
    const versionId = typeof made.room_version === "string" ? made.room_version : "1";
    const version = getRoomVersion(versionId);
    if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${versionId} is not supported`);
    const template = made.event;
    const templateContent = isJsonObject(template.content) ? template.content : {};
    if (template.type !== "m.room.member" || template.state_key !== userId || template.sender !== userId || (template.room_id !== undefined && template.room_id !== roomId)) {
      throw new MatrixError(502, "M_UNKNOWN", `${server} sent a template for another event`);
    }
    const { hashes: _h, signatures: _s, unsigned: _u, event_id: _e, ...fields } = template;
    const pdu: JsonObject = { ...fields, origin_server_ts: Date.now(), content: { ...templateContent, ...content, membership } };
    if (version.eventFormat === "v1") pdu.event_id = newV1EventId(signer.serverName);
    try {
      return { event: parsePdu(signEvent(pdu, signer.serverName, signer.key, version), version), version };
    } catch (err) {
      if (err instanceof ProtocolError) throw new MatrixError(502, "M_UNKNOWN", `${server} sent an unusable template: ${err.message}`);
      throw err;
    }
  }

  /** Verified events of a send_join answer, each stored after its auth events (the rest are dropped and logged). */
  async function verifiedEvents(version: RoomVersion, roomId: string, list: readonly JsonValue[]): Promise<Map<string, RoomEvent>> {
    const events = new Map<string, RoomEvent>();
    for (const json of list) {
      const result = await verifyPdu(json, version, deps.keyring, { roomId });
      if (result.ok) events.set(result.event.eventId, result.event);
      else log.warn({ roomId, reason: result.reason }, "dropping an event of a join answer that failed verification");
    }
    return events;
  }

  /** Auth events before the events they authorise (depth first over auth_events). */
  function authOrder(events: ReadonlyMap<string, RoomEvent>): RoomEvent[] {
    const ordered: RoomEvent[] = [];
    const visited = new Set<string>();
    const visit = (event: RoomEvent) => {
      if (visited.has(event.eventId)) return;
      visited.add(event.eventId);
      for (const id of event.authEventIds) {
        const auth = events.get(id);
        if (auth) visit(auth);
      }
      ordered.push(event);
    };
    for (const event of [...events.values()].sort((a, b) => a.depth - b.depth)) visit(event);
    return ordered;
  }

  /** Milliseconds since `start` (performance.now()), to one decimal. */
  const since = (start: number) => Math.round((performance.now() - start) * 10) / 10;

  async function persistJoin(version: RoomVersion, roomId: string, join: RoomEvent, answer: JsonObject, phases: Record<string, number>): Promise<void> {
    let mark = performance.now();
    const state = await verifiedEvents(version, roomId, Array.isArray(answer.state) ? answer.state : []);
    const chain = await verifiedEvents(version, roomId, Array.isArray(answer.auth_chain) ? answer.auth_chain : []);
    phases.verifyMs = since(mark);
    phases.stateEvents = state.size;
    phases.authChainEvents = chain.size;
    const all = new Map([...chain, ...state]);
    const create = [...state.values()].find((e) => e.type === "m.room.create" && e.stateKey === "");
    if (!create) throw new MatrixError(502, "M_UNKNOWN", "The join answer has no create event");
    mark = performance.now();
    const { value: appended } = await deps.rooms.write(async (w) => {
      phases.transactionOpenMs = since(mark);
      mark = performance.now();
      await insertRoomIfMissing(w.tx, { roomId, version: version.id, creator: create.sender, isPublic: false, now: w.now });
      await w.lock(roomId);
      phases.lockMs = since(mark);
      mark = performance.now();
      phases.outliersStored = await w.ingestOutliers(version, authOrder(all));
      phases.outliersMs = since(mark);
      mark = performance.now();
      const held = await getEventsByIds(w.tx, [...state.keys()]);
      const entries = new Map<string, { type: string; stateKey: string; eventNid: number }>();
      for (const event of state.values()) {
        const row = held.get(event.eventId);
        if (row && row.rejectedReason === null && event.stateKey !== undefined) {
          entries.set(stateTuple(event.type, event.stateKey), { type: event.type, stateKey: event.stateKey, eventNid: row.nid });
        }
      }
      const stateBefore = await snapshotOf(w.tx, roomId, [...entries.values()]);
      phases.snapshotMs = since(mark);
      mark = performance.now();
      const ingested = await w.ingest(version, join, { stateBefore, federateOut: true });
      phases.joinIngestMs = since(mark);
      mark = performance.now();
      return ingested;
    });
    // The commit of the room's events, COMMIT itself and the after-commit wake-ups.
    phases.commitMs = since(mark);
    if (appended && appended.outcome.kind !== "accepted") throw forbidden(`The join was refused: ${appended.outcome.reason}`);
  }

  /** Joins `roomId` through one of `servers`. */
  async function join(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await deps.joins.run(roomId, () => joinThrough(roomId, userId, servers, content));
  }

  async function joinThrough(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await firstThatWorks(servers, "Room", async (server) => {
      // Where a join's time goes, logged at debug (P7 of bench/ reads it): round trips, verification, storage.
      const phases: Record<string, number> = {};
      const started = performance.now();
      let mark = started;
      const { event, version } = await signTemplate(server, roomId, userId, "join", content);
      phases.makeJoinMs = since(mark);
      mark = performance.now();
      const answer = await client.request(server, "PUT", `${fv2}/send_join/${encodeURIComponent(roomId)}/${encodeURIComponent(event.eventId)}`, { body: event.pdu });
      phases.sendJoinMs = since(mark);
      if (!isJsonObject(answer)) throw new MatrixError(502, "M_UNKNOWN", `${server} sent a malformed send_join answer`);
      // A restricted join comes back with the resident's signature added; the event ID is the same.
      let join = event;
      if (isJsonObject(answer.event)) {
        const returned = await verifyPdu(answer.event, version, deps.keyring, { roomId, eventId: event.eventId });
        if (returned.ok) join = returned.event;
      }
      await persistJoin(version, roomId, join, answer, phases);
      log.debug({ roomId, server, roomVersion: version.id, ...phases, totalMs: since(started) }, "remote join phases");
    });
  }

  /** Leaves (or rejects an invite to) a room this server holds no state of, through one of `servers`. */
  async function leave(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await firstThatWorks(servers, "Room", async (server) => {
      const { event, version } = await signTemplate(server, roomId, userId, "leave", content);
      await client.request(server, "PUT", `${fv2}/send_leave/${encodeURIComponent(roomId)}/${encodeURIComponent(event.eventId)}`, { body: event.pdu });
      await deps.rooms.recordOutOfRoomMembership(version, event);
    });
  }

  /** Knocks on a room this server is not in, through one of `servers`. */
  async function knock(roomId: string, userId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await firstThatWorks(servers, "Room", async (server) => {
      const { event, version } = await signTemplate(server, roomId, userId, "knock", content);
      if (!version.knocking) throw forbidden(`Room version ${version.id} does not support knocking`);
      const answer = await client.request(server, "PUT", `${fv1}/send_knock/${encodeURIComponent(roomId)}/${encodeURIComponent(event.eventId)}`, { body: event.pdu });
      const summary = isJsonObject(answer) && Array.isArray(answer.knock_room_state) ? answer.knock_room_state.filter(isJsonObject) : [];
      await deps.rooms.recordOutOfRoomMembership(version, event, summary);
    });
  }

  /**
   * Sends a built invite of a remote user to the invitee's server and returns
   * it countersigned (spec: the invitee's server must sign it before the room
   * sees it). The caller persists it.
   */
  async function countersignInvite(version: RoomVersion, invite: RoomEvent): Promise<RoomEvent> {
    const destination = serverNameOf(invite.stateKey!)!;
    const summary = await currentStateEvents(db, invite.roomId, STRIPPED_STATE_TYPES.map((t) => [t, ""] as const));
    let answer: JsonValue;
    try {
      answer = await client.request(destination, "PUT", `${fv2}/invite/${encodeURIComponent(invite.roomId)}/${encodeURIComponent(invite.eventId)}`, {
        body: { room_version: version.id, event: invite.pdu, invite_room_state: summary.map((e) => federationPdu(e, version)) },
      });
    } catch (err) {
      if (err instanceof FederationError && err.failure === "http" && err.status === 403) throw forbidden(`${destination} refused the invite`);
      throw asClientError(err, "Invite", log);
    }
    const returned = isJsonObject(answer) ? await verifyPdu(answer.event, version, deps.keyring, { roomId: invite.roomId, eventId: invite.eventId }) : undefined;
    if (!returned?.ok || (await serverSignatureProblem(returned.event, destination, version, deps.keyring)) !== undefined) {
      throw new MatrixError(502, "M_UNKNOWN", `${destination} did not return the invite signed`);
    }
    return returned.event;
  }

  return { join, leave, knock, countersignInvite };
}

export type RemoteMembership = ReturnType<typeof createRemoteMembership>;
