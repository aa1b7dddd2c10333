// Our users' typing, public receipts and presence as EDUs for the servers that
// should hear them: those with a joined member in the room (typing,
// receipts), or in any room the user shares (presence). Queued on the sender,
// which sends them with the next transaction to each destination.
import type { Logger } from "../../server/observability/logger.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { joinedServers, serversSharingRoomWith } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import type { LocalEdu } from "../../server/sync/outbound-edus.ts";
import type { FederationSender } from "./federation-sender.ts";

function eduOf(edu: LocalEdu): JsonObject {
  switch (edu.kind) {
    case "typing":
      return { edu_type: "m.typing", content: { room_id: edu.roomId, user_id: edu.userId, typing: edu.typing } };
    case "receipt": {
      const data: JsonObject = { ts: edu.ts };
      if (edu.threadId !== "") data.thread_id = edu.threadId;
      return { edu_type: "m.receipt", content: { [edu.roomId]: { "m.read": { [edu.userId]: { event_ids: [edu.eventId], data } } } } };
    }
    case "presence":
      return { edu_type: "m.presence", content: { push: [{ user_id: edu.userId, ...edu.content }] } };
  }
}

export function createEduFanout(deps: { db: Database; sender: Pick<FederationSender, "queueEdu">; log: Logger }) {
  async function fanOut(edu: LocalEdu): Promise<void> {
    const servers = edu.kind === "presence" ? await serversSharingRoomWith(deps.db, edu.userId) : await joinedServers(deps.db, edu.roomId);
    const wire = eduOf(edu);
    for (const server of servers) deps.sender.queueEdu(server, wire);
  }
  return (edu: LocalEdu): void => {
    fanOut(edu).catch((err: unknown) => deps.log.warn({ err, kind: edu.kind }, "could not queue an EDU"));
  };
}
