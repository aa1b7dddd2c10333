// Bundled aggregations (spec: "Aggregations of child events"): the
// `unsigned["m.relations"]` of served events. m.replace gives the latest valid
// edit as a full event (spec v1.7+: the original content is left as it is),
// m.thread a summary of the thread, m.reference the IDs of the referencing
// events. One query for a whole page; state events get none (spec), and
// annotations are not aggregated by the server (spec).
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { aggregationRows, type AggregationParents } from "../storage/relations.ts";
import { declaredRelation } from "./relations.ts";
import { pduOf } from "./stored-event.ts";

/** Renders child events (edits, latest thread replies) in the same form as the page. */
export type RenderChildren = (children: StoredEvent[]) => Promise<JsonObject[]>;

/**
 * Adds `m.relations` to `rendered[i].unsigned` for each `events[i]` that has
 * aggregatable children. Children are rendered through `renderChildren`, so a
 * thread's latest event carries its own edit; that recursion ends because
 * edits and thread replies cannot themselves be thread roots.
 */
export async function bundleAggregations(q: Queryable, events: readonly StoredEvent[], rendered: JsonObject[], userId: string, renderChildren: RenderChildren): Promise<void> {
  const parents: AggregationParents = { edits: [], threads: [], references: [] };
  const byId = new Map<string, StoredEvent>();
  for (const event of events) {
    if (event.stateKey !== null || byId.has(event.eventId)) continue;
    // A redaction strips m.relates_to, so a redacted event is no longer a child.
    const relation = event.redactedBy === null ? declaredRelation((pduOf(event).content ?? {}) as JsonObject) : undefined;
    // Edits and reactions cannot have children of their own (Synapse).
    if (relation && (relation.relType === "m.replace" || relation.relType === "m.annotation")) continue;
    byId.set(event.eventId, event);
    const place = { eventId: event.eventId, roomId: event.roomId };
    // A redacted original shows no edit (spec: "Redactions of edited events").
    if (event.redactedBy === null) parents.edits.push({ ...place, sender: event.sender, type: event.type });
    // Threads cannot start from an event that is itself a child.
    if (!relation) parents.threads.push(place);
    parents.references.push(place);
  }
  const rows = await aggregationRows(q, parents, userId);
  if (rows.length === 0) return;

  const childNids = rows.filter((r) => r.kind !== "reference").map((r) => r.childNid);
  const stored = await getEventsByNids(q, [...new Set(childNids)]);
  const children = [...stored.values()];
  const renderedChildren = await renderChildren(children);
  const childById = new Map(children.map((c, i) => [c.nid, renderedChildren[i]!]));

  const relations = new Map<string, JsonObject>();
  const relationsOf = (id: string) => {
    let r = relations.get(id);
    if (!r) relations.set(id, (r = {}));
    return r;
  };
  const references = rows.filter((r) => r.kind === "reference").sort((a, b) => a.depth - b.depth || a.stream - b.stream);
  for (const row of rows) {
    const parent = byId.get(row.parentId);
    if (!parent) continue;
    if (row.kind === "edit") {
      const edit = childById.get(row.childNid);
      if (edit) relationsOf(row.parentId)["m.replace"] = edit;
    } else if (row.kind === "thread") {
      const latest = childById.get(row.childNid);
      if (!latest) continue;
      relationsOf(row.parentId)["m.thread"] = {
        latest_event: latest,
        count: row.count,
        current_user_participated: row.participated || parent.sender === userId,
      };
    }
  }
  for (const row of references) {
    const entry = relationsOf(row.parentId);
    const chunk = ((entry["m.reference"] as JsonObject | undefined)?.chunk as JsonObject[] | undefined) ?? [];
    chunk.push({ event_id: row.childId });
    entry["m.reference"] = { chunk };
  }

  events.forEach((event, i) => {
    const bundle = relations.get(event.eventId);
    const target = rendered[i];
    if (!bundle || !target) return;
    const unsigned = (target.unsigned ?? {}) as JsonObject;
    unsigned["m.relations"] = bundle;
    target.unsigned = unsigned;
  });
}
