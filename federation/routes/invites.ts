// PUT /_matrix/federation/v2/invite/{roomId}/{eventId}  https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv2inviteroomideventid
//
// Another server invites one of our users: the invite is checked as the spec
// lists (M_INVALID_PARAM for each failure), signed by us and returned. For a
// room we are not in, the invite is also held (as an outlier, with the room
// summary the inviter sent) so the invitee's sync shows it; for a room we are
// in, it arrives again through a transaction like any event.
import type { RequestHandler } from "express";
import { forbidden, invalidParam, MatrixError } from "../../server/errors/matrix-error.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { parsePdu } from "../../server/protocol/event-format.ts";
import { signEvent } from "../../server/protocol/hashes.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject } from "../../server/protocol/json.ts";
import { getRoomVersion } from "../../server/protocol/room-versions.ts";
import type { Signer } from "../../server/rooms/events/build-local.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { strip } from "../../server/rooms/stripped-state.ts";
import { getUser } from "../../server/storage/accounts.ts";
import { serverJoinedToRoom } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { originOf } from "../auth/require-server-auth.ts";
import { checkServerAcl, PduRefused } from "../ingest/receive-pdu.ts";
import { verifyPdu } from "../ingest/verify-pdu.ts";
import type { Keyring } from "../keys/keyring.ts";
import { eventIdParam, roomIdParam } from "./params.ts";

export interface InviteRouteDeps {
  db: Database;
  rooms: Pick<RoomService, "recordOutOfRoomMembership">;
  signer: Signer;
  keyring: Pick<Keyring, "verifyKeysFor">;
  auth: RequestHandler[];
}

export function registerInviteRoutes(table: RouteTable, deps: InviteRouteDeps): void {
  const { db, signer } = deps;

  table.add("PUT", "/_matrix/federation/v2/invite/:roomId/:eventId", ...deps.auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const eventId = eventIdParam(req);
    const origin = originOf(res.locals);
    const body = isJsonObject(req.body) ? req.body : {};
    const versionId = typeof body.room_version === "string" ? body.room_version : "1";
    const version = getRoomVersion(versionId);
    if (!version) throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Room version ${versionId} is not supported`, { room_version: versionId });
    const verified = await verifyPdu(body.event, version, deps.keyring, { roomId, eventId });
    if (!verified.ok) throw invalidParam(verified.reason);
    const invite = verified.event;
    if (invite.type !== "m.room.member") throw invalidParam("The event is not an m.room.member event");
    if (invite.content.membership !== "invite") throw invalidParam("The membership is not invite");
    if (serverNameOf(invite.sender) !== origin) throw invalidParam("The sender is not a user of the requesting server");
    if (invite.stateKey === undefined || serverNameOf(invite.stateKey) !== signer.serverName) throw invalidParam("The invitee is not a user of this server");
    const invitee = await getUser(db, invite.stateKey);
    if (!invitee || invitee.deactivated) throw forbidden("The invitee does not exist here");

    const inRoom = await serverJoinedToRoom(db, roomId, signer.serverName);
    if (inRoom) {
      try {
        await checkServerAcl(db, roomId, origin);
      } catch (err) {
        if (err instanceof PduRefused) throw forbidden(err.message);
        throw err;
      }
    }
    const signed = signEvent(invite.pdu, signer.serverName, signer.key, version);
    if (!inRoom) {
      const roomState = (Array.isArray(body.invite_room_state) ? body.invite_room_state : []).filter(isJsonObject).map(strip);
      await deps.rooms.recordOutOfRoomMembership(version, parsePdu(signed, version), roomState);
    }
    res.json({ event: signed });
  });
}
