// A profile change reaches every room the user is joined to as a new
// m.room.member join event carrying the new displayname and avatar_url (spec:
// "Events on change of profile information"). Rooms are updated one at a
// time, each in its own transaction, so one failing room (a ban racing the
// update, say) is logged and does not keep the others stale. Like Synapse,
// the update replaces any per-room name or avatar the user had set.
import type { JsonObject } from "../protocol/json.ts";
import type { Logger } from "../observability/logger.ts";
import { getProfile } from "../storage/accounts.ts";
import type { Database } from "../storage/database.ts";
import { membershipsOfUser } from "../storage/state.ts";
import { currentStateEvents } from "./room-state.ts";
import type { RoomService } from "./room-service.ts";
import { pduOf } from "./stored-event.ts";

export interface PropagationResult {
  updated: string[];
  failed: string[];
}

export async function propagateProfile(db: Database, rooms: RoomService, userId: string, log: Logger): Promise<PropagationResult> {
  const result: PropagationResult = { updated: [], failed: [] };
  for (const m of await membershipsOfUser(db, userId)) {
    if (m.membership !== "join") continue;
    try {
      // Read per room so that of two overlapping changes, the later profile is what every room ends with.
      const profile = await getProfile(db, userId);
      const [current] = await currentStateEvents(db, m.roomId, [["m.room.member", userId]]);
      const old = (current ? pduOf(current).content : undefined) as JsonObject | undefined;
      if (old?.membership !== "join") continue;
      const content: JsonObject = { membership: "join" };
      if (profile?.displayname) content.displayname = profile.displayname;
      if (profile?.avatarUrl) content.avatar_url = profile.avatarUrl;
      if (old.displayname === content.displayname && old.avatar_url === content.avatar_url) continue;
      await rooms.send(m.roomId, [{ type: "m.room.member", stateKey: userId, sender: userId, content }]);
      result.updated.push(m.roomId);
    } catch (err) {
      result.failed.push(m.roomId);
      log.warn({ err, roomId: m.roomId, userId }, "profile change not propagated to room");
    }
  }
  return result;
}
