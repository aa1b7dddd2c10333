// Account deactivation leaves every room the user is in, has been invited to
// or knocked on (spec: POST /account/deactivate), one room at a time so a
// failure in one room does not keep the user in the others.
import type { Database } from "../storage/database.ts";
import { membershipsOfUser } from "../storage/state.ts";
import type { RoomService } from "./room-service.ts";

export async function leaveAllRooms(db: Database, rooms: RoomService, userId: string): Promise<string[]> {
  const left: string[] = [];
  for (const m of await membershipsOfUser(db, userId)) {
    if (m.membership !== "join" && m.membership !== "invite" && m.membership !== "knock") continue;
    await rooms.send(m.roomId, [{ type: "m.room.member", stateKey: userId, sender: userId, content: { membership: "leave" } }]);
    left.push(m.roomId);
  }
  return left;
}
