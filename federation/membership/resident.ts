// This server as the resident server of a room for another server's user:
// the make_* templates and the send_* acceptance behind make_join/send_join,
// make_leave/send_leave and make_knock/send_knock (spec "Joining Rooms",
// "Leaving Rooms", "Knocking upon a room"). An accepted membership event is
// passed on to the room's other servers by our sender (federate_out), as the
// joining server talks to us alone.
import { forbidden, invalidParam, MatrixError, notFound } from "../../server/errors/matrix-error.ts";
import { signEvent } from "../../server/protocol/hashes.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import type { RoomEvent } from "../../server/protocol/events.ts";
import { parsePdu } from "../../server/protocol/event-format.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import type { Signer } from "../../server/rooms/events/build-local.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { serverJoinedToRoom } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import type { Keyring } from "../keys/keyring.ts";
import { checkServerAcl, PduRefused } from "../ingest/receive-pdu.ts";
import { verifyPdu } from "../ingest/verify-pdu.ts";
import { membershipTemplate, type TemplateMembership } from "./templates.ts";

export interface ResidentDeps {
  db: Database;
  rooms: Pick<RoomService, "roomVersion" | "write">;
  signer: Signer;
  keyring: Pick<Keyring, "verifyKeysFor">;
}

export function createResident(deps: ResidentDeps) {
  const { db, signer } = deps;

  /** A room we are in, for a request from `origin` about its own user. */
  async function residentRoom(roomId: string, userId: string, origin: string): Promise<RoomVersion> {
    const version = await deps.rooms.roomVersion(db, roomId).catch(() => undefined);
    if (!version || !(await serverJoinedToRoom(db, roomId, signer.serverName))) throw notFound("This server is not in the room");
    if (serverNameOf(userId) !== origin) throw forbidden("The user is not on the requesting server");
    try {
      await checkServerAcl(db, roomId, origin);
    } catch (err) {
      if (err instanceof PduRefused) throw forbidden(err.message);
      throw err;
    }
    return version;
  }

  /** GET make_*: the template, after checking the joining server supports the room's version. */
  async function makeTemplate(roomId: string, userId: string, origin: string, membership: TemplateMembership, supportedVersions?: readonly string[]): Promise<JsonObject> {
    const version = await residentRoom(roomId, userId, origin);
    if (membership === "knock" && !version.knocking) throw forbidden(`Room version ${version.id} does not support knocking`);
    if (supportedVersions && !supportedVersions.includes(version.id)) {
      throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Your server does not support room version ${version.id}`, { room_version: version.id });
    }
    const event = await membershipTemplate(db, signer, roomId, version, userId, membership);
    return { event, room_version: version.id };
  }

  /**
   * PUT send_*: the signed membership event, checked as the spec lists
   * (M_INVALID_PARAM for each failure), then through the event pipeline. A
   * restricted join vouched for by one of our users gets our signature.
   * Returns the event as accepted, with its stored row's state before it.
   */
  async function acceptMembership(roomId: string, eventId: string, origin: string, body: unknown, membership: TemplateMembership): Promise<{ event: RoomEvent; version: RoomVersion }> {
    const version = await deps.rooms.roomVersion(db, roomId).catch(() => undefined);
    if (!version) throw notFound("This server is not in the room");
    if (membership === "knock" && !version.knocking) throw forbidden(`Room version ${version.id} does not support knocking`);
    const verified = await verifyPdu(body, version, deps.keyring, { roomId, eventId });
    if (!verified.ok) throw invalidParam(verified.reason);
    let event = verified.event;
    if (event.type !== "m.room.member") throw invalidParam("The event is not an m.room.member event");
    if (event.content.membership !== membership) throw invalidParam(`The membership is not ${membership}`);
    if (serverNameOf(event.sender) !== origin) throw invalidParam("The sender is not a user of the requesting server");
    if (event.stateKey !== event.sender) throw invalidParam("The state_key is not the sender");
    await residentRoom(roomId, event.sender, origin);
    const authoriser = event.content.join_authorised_via_users_server;
    if (typeof authoriser === "string" && serverNameOf(authoriser) === signer.serverName) {
      event = parsePdu(signEvent(event.pdu, signer.serverName, signer.key, version), version);
    }
    const { value: appended } = await deps.rooms.write(async (w) => {
      await w.lock(roomId);
      return w.ingest(version, event, { federateOut: true });
    });
    if (appended && appended.outcome.kind !== "accepted") throw forbidden(`The ${membership} was refused: ${appended.outcome.reason}`);
    return { event, version };
  }

  return { makeTemplate, acceptMembership };
}

export type Resident = ReturnType<typeof createResident>;
