// The check in front of every read of a room over federation: the requesting
// server must have a joined member (Synapse: 403 "Host not in room") and be
// allowed by the room's server ACL. Unknown rooms answer the same, so probing
// reveals nothing.
import { forbidden } from "../../server/errors/matrix-error.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { serverJoinedToRoom } from "../../server/storage/dag.ts";
import type { Queryable } from "../../server/storage/database.ts";
import { serverAllowedInRoom } from "../ingest/receive-pdu.ts";

export type OriginInRoomCheck = (roomId: string, origin: string) => Promise<RoomVersion>;

export function createOriginInRoomCheck(db: Queryable, rooms: Pick<RoomService, "roomVersion">): OriginInRoomCheck {
  return async (roomId, origin) => {
    const version = await rooms.roomVersion(db, roomId).catch(() => undefined);
    if (!version || !(await serverJoinedToRoom(db, roomId, origin))) throw forbidden("Host not in room");
    if (!(await serverAllowedInRoom(db, roomId, origin))) throw forbidden("Server is denied by the room's server ACL");
    return version;
  };
}
