// Event relationships (spec: "Forming relationships between events"): reading
// `content["m.relates_to"]`, refusing what a local client must not send (as
// Synapse does), and indexing every well-formed relation when an event is
// persisted. Relations that break a rule are ignored rather than indexed.
import { MatrixError } from "../errors/matrix-error.ts";
import type { RoomEvent } from "../protocol/events.ts";
import { isValidEventId } from "../protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByIds } from "../storage/events.ts";
import { hasAnnotation, insertRelation, isRelationTarget, relationOf, upsertThread } from "../storage/relations.ts";

export interface Relation {
  relType: string;
  parentId: string;
  /** m.annotation only: the reaction key. */
  key?: string;
}

/** Synapse's bound on a reaction key. */
const MAX_ANNOTATION_KEY = 500;

/** The relation an event content declares, if it is well formed (spec: m.relates_to needs rel_type and event_id). */
export function declaredRelation(content: JsonObject): Relation | undefined {
  const relates = content["m.relates_to"];
  if (!isJsonObject(relates)) return undefined;
  const relType = relates.rel_type;
  const parentId = relates.event_id;
  if (typeof relType !== "string" || relType.length === 0 || typeof parentId !== "string" || !isValidEventId(parentId)) return undefined;
  if (relType === "m.annotation") return typeof relates.key === "string" ? { relType, parentId, key: relates.key } : undefined;
  return { relType, parentId };
}

const badRelation = (message: string): MatrixError => new MatrixError(400, "M_UNKNOWN", message);

/**
 * Checks a local client's relation before the event is built. Mirrors
 * Synapse: the parent must be in the same room (or already be the target of
 * other relations, so the client plausibly knows it), a reaction needs a key
 * and may not be sent twice, and a thread may not start from a child event
 * (spec "Validation of m.thread relationships": 400 M_UNKNOWN).
 */
export async function validateLocalRelation(tx: Queryable, roomId: string, draft: { type: string; sender: string; content: JsonObject }): Promise<void> {
  const relates = draft.content["m.relates_to"];
  if (!isJsonObject(relates) || typeof relates.rel_type !== "string" || typeof relates.event_id !== "string") return;
  const relType = relates.rel_type;
  const parentId = relates.event_id;
  const parent = (await getEventsByIds(tx, [parentId])).get(parentId);
  if (parent) {
    if (parent.roomId !== roomId) throw badRelation("Relations must be in the same room");
  } else if (!(await isRelationTarget(tx, roomId, parentId))) {
    throw badRelation("Can't send relation to unknown event");
  }
  if (relType === "m.annotation") {
    const key = relates.key;
    if (typeof key !== "string") throw badRelation("Missing aggregation key");
    if (key.length > MAX_ANNOTATION_KEY) throw badRelation("Aggregation key is too long");
    if (await hasAnnotation(tx, parentId, draft.type, key, draft.sender)) {
      throw new MatrixError(400, "M_DUPLICATE_ANNOTATION", "Can't send same reaction twice");
    }
  } else if (relType === "m.thread" && (await relationOf(tx, parentId))) {
    throw badRelation("Cannot start threads from an event with a relation");
  }
}

/**
 * Indexes the relation of a just-persisted event. The thread of the child is
 * recorded (the root for m.thread, else the parent's thread) for threaded
 * receipts and notifications; m.thread children also move their thread in the
 * room's thread list.
 */
export async function indexRelation(tx: Queryable, event: RoomEvent, nid: number): Promise<void> {
  const relation = declaredRelation(event.content);
  if (!relation || relation.parentId === event.eventId) return;
  const parent = (await getEventsByIds(tx, [relation.parentId])).get(relation.parentId);
  // Relations across rooms are ignored (spec); an unknown parent may still arrive later.
  if (parent && parent.roomId !== event.roomId) return;
  const parentRelation = await relationOf(tx, relation.parentId);
  if (relation.relType === "m.thread" && parentRelation) return;
  const threadId = relation.relType === "m.thread" ? relation.parentId : (parentRelation?.threadId ?? null);
  await insertRelation(tx, {
    eventNid: nid,
    eventId: event.eventId,
    roomId: event.roomId,
    relatesToId: relation.parentId,
    relType: relation.relType,
    eventType: event.type,
    sender: event.sender,
    aggregationKey: relation.key ?? null,
    threadId,
  });
  if (relation.relType === "m.thread") await upsertThread(tx, event.roomId, relation.parentId, nid, event.depth);
}
