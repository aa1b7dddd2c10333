// EDUs received in a transaction (spec "Typing notifications", "Receipts",
// "Presence", "Device Management", "Send-to-device messaging"): each is
// applied only for users of the sending server, in rooms where they are
// joined, through the same operations local clients use. EDUs are best
// effort: a bad one is logged and skipped, never fails the transaction.
// m.device_list_update, m.signing_key_update and m.direct_to_device are
// handed to federation/e2ee/ (11030), which checks their senders the same way.
import { MatrixError } from "../../server/errors/matrix-error.ts";
import type { Logger } from "../../server/observability/logger.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../../server/protocol/json.ts";
import type { Presence, PresenceState } from "../../server/sync/presence.ts";
import { PRESENCE_STATES } from "../../server/sync/presence.ts";
import type { ReadMarkers } from "../../server/sync/read-markers.ts";

/** Remote typing has no timeout of its own; Synapse expires it after 30 s unless renewed. */
const REMOTE_TYPING_TIMEOUT_MS = 30_000;

export interface EduReceiverDeps {
  /** The room's server ACL (typing and receipts are about a room, so the ACL applies). */
  allowedInRoom: (roomId: string, serverName: string) => Promise<boolean>;
  markers: Pick<ReadMarkers, "setTyping" | "mark">;
  presence: Pick<Presence, "setRemote">;
  /** End-to-end encryption EDUs, by type (federation/e2ee/). */
  e2ee?: Record<"m.device_list_update" | "m.signing_key_update" | "m.direct_to_device", EduHandler>;
  log: Logger;
}

export type EduHandler = (origin: string, content: JsonObject) => Promise<void>;

export function createEduReceiver(deps: EduReceiverDeps) {
  const fromOrigin = (origin: string, userId: unknown): userId is string => typeof userId === "string" && serverNameOf(userId) === origin;

  async function typing(origin: string, content: JsonObject): Promise<void> {
    const { room_id: roomId, user_id: userId, typing } = content;
    if (typeof roomId !== "string" || !fromOrigin(origin, userId) || typeof typing !== "boolean") return;
    if (!(await deps.allowedInRoom(roomId, origin))) return;
    await deps.markers.setTyping(roomId, userId, typing, REMOTE_TYPING_TIMEOUT_MS);
  }

  async function receipts(origin: string, content: JsonObject): Promise<void> {
    for (const [roomId, byType] of Object.entries(content)) {
      if (!isJsonObject(byType) || !isJsonObject(byType["m.read"])) continue;
      if (!(await deps.allowedInRoom(roomId, origin))) continue;
      for (const [userId, receipt] of Object.entries(byType["m.read"])) {
        if (!fromOrigin(origin, userId) || !isJsonObject(receipt) || !Array.isArray(receipt.event_ids)) continue;
        const eventId = receipt.event_ids.find((id): id is string => typeof id === "string");
        if (!eventId) continue;
        const data = isJsonObject(receipt.data) ? receipt.data : {};
        const threadId = typeof data.thread_id === "string" ? data.thread_id : "";
        await deps.markers.mark(roomId, userId, { receipts: [{ type: "m.read", eventId, threadId }] });
      }
    }
  }

  async function presence(origin: string, content: JsonObject): Promise<void> {
    if (!Array.isArray(content.push)) return;
    for (const update of content.push) {
      if (!isJsonObject(update) || !fromOrigin(origin, update.user_id)) continue;
      const state = update.presence;
      if (typeof state !== "string" || !PRESENCE_STATES.includes(state as PresenceState)) continue;
      const ago = typeof update.last_active_ago === "number" && update.last_active_ago >= 0 ? update.last_active_ago : 0;
      const statusMsg = typeof update.status_msg === "string" ? update.status_msg : null;
      await deps.presence.setRemote(update.user_id, state as PresenceState, statusMsg, Date.now() - ago);
    }
  }

  const handlers: Record<string, EduHandler> = {
    "m.typing": typing,
    "m.receipt": receipts,
    "m.presence": presence,
    ...deps.e2ee,
  };

  /** Applies each EDU; failures (a user not in the room, an unknown event) are logged, not returned. */
  async function receive(origin: string, edus: readonly JsonValue[]): Promise<void> {
    for (const edu of edus) {
      if (!isJsonObject(edu) || typeof edu.edu_type !== "string" || !isJsonObject(edu.content)) continue;
      const handler = handlers[edu.edu_type];
      if (!handler) continue;
      try {
        await handler(origin, edu.content);
      } catch (err) {
        // A user not in the room or an unknown event is the sender's business; anything else is ours.
        if (err instanceof MatrixError) deps.log.debug({ origin, eduType: edu.edu_type, err: err.message }, "EDU not applied");
        else deps.log.warn({ origin, eduType: edu.edu_type, err }, "EDU failed");
      }
    }
  }

  return { receive };
}

export type EduReceiver = ReturnType<typeof createEduReceiver>;
