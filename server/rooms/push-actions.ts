// Push actions for each persisted event, computed and stored inside the
// event's own transaction (commitAppended) so the unread count changes in the
// same /sync response as the event (spec: "Push Notifications", server behaviour).
// The pure rule evaluation is server/push; this file gathers what it needs:
// the local recipients, their rulesets, member count, power levels, and the
// thread an event belongs to.
// https://spec.matrix.org/v1.19/client-server-api/#receiving-notifications
import { containsWord, type PushCondition } from "../push/conditions.ts";
import type { PushRuleset } from "../push/default-rules.ts";
import { pushOutcome, type PushOutcome } from "../push/evaluator.ts";
import { buildPushRuleset, parseStoredPushRules, PUSH_RULES_ACCOUNT_DATA_TYPE } from "../push/rule-set.ts";
import type { RoomEvent } from "../protocol/events.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../protocol/json.ts";
import { parsePowerLevels, userPowerLevel, type PowerLevels } from "../protocol/power-levels.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import { globalAccountDataOfUsers } from "../storage/account-data.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByIds, getEventsByNids } from "../storage/events.ts";
import { currentState } from "../storage/state.ts";
import { deletePushActionsOfRedacted, insertPushActions, localUsers, pushRecipients, type PushActionRow } from "../storage/push-actions.ts";
import { currentStateEvents } from "./room-state.ts";
import { BoundedCache } from "../lib/bounded-cache.ts";
import { pduOf, toRoomEvent } from "./stored-event.ts";

/** Thread ID of events outside any thread (receipts use the same name). */
export const MAIN_THREAD = "main";

/** Relations followed to find a thread before giving up (the spec recommends 3 hops). */
const MAX_THREAD_HOPS = 3;

interface RoomContext {
  joined: number;
  localMembers: string[];
  powerLevels: PowerLevels;
  createEvent: RoomEvent | undefined;
}

/**
 * What one evaluation already loaded. By then the room's current state is the
 * state after every event of the batch (persistAccepted moves it per event),
 * so one load per room serves the whole batch.
 */
interface PushActionsCache {
  rulesets: Map<string, PushRuleset>;
  /** Users whose stored rules change anything (the others run the server defaults). */
  customised: Set<string>;
  rooms: Map<string, RoomContext>;
}

function createPushActionsCache(): PushActionsCache {
  return { rulesets: new Map(), customised: new Set(), rooms: new Map() };
}

async function roomContext(tx: Queryable, roomId: string, version: RoomVersion, cache: PushActionsCache): Promise<RoomContext> {
  const cached = cache.rooms.get(roomId);
  if (cached) return cached;
  const recipients = await pushRecipients(tx, roomId);
  const state = await currentStateEvents(tx, roomId, [
    ["m.room.power_levels", ""],
    ["m.room.create", ""],
  ]);
  const pl = state.find((e) => e.type === "m.room.power_levels");
  const create = state.find((e) => e.type === "m.room.create");
  const context: RoomContext = {
    joined: recipients.joined,
    localMembers: recipients.local,
    powerLevels: parsePowerLevels(pl ? ((pduOf(pl).content ?? {}) as JsonObject) : undefined, version),
    createEvent: create ? toRoomEvent(create) : undefined,
  };
  cache.rooms.set(roomId, context);
  return context;
}

/** Rulesets of `userIds`, loaded with one query for those not yet cached. */
// Built rulesets by user and stored rules (the stored form is read in every
// transaction, so a change is seen at once; only the building is saved: for
// a message to a large room it was a good part of the evaluation's cost).
const BUILT_RULESETS = new BoundedCache<string, PushRuleset>("push_rulesets", 10_000);

async function rulesetsOf(tx: Queryable, userIds: readonly string[], cache: PushActionsCache): Promise<Map<string, PushRuleset>> {
  const missing = userIds.filter((u) => !cache.rulesets.has(u));
  if (missing.length > 0) {
    const stored = await globalAccountDataOfUsers(tx, missing, PUSH_RULES_ACCOUNT_DATA_TYPE);
    for (const userId of missing) {
      const content = stored.get(userId);
      if (content !== undefined) cache.customised.add(userId);
      const key = `${userId}\u0000${content === undefined ? "" : JSON.stringify(content)}`;
      let ruleset = BUILT_RULESETS.get(key);
      if (!ruleset) {
        ruleset = buildPushRuleset(userId, parseStoredPushRules(content));
        BUILT_RULESETS.set(key, ruleset);
      }
      cache.rulesets.set(userId, ruleset);
    }
  }
  return new Map(userIds.map((u) => [u, cache.rulesets.get(u)!]));
}

/** Whether an enabled rule needs the user's display name (the deprecated contains_display_name). */
function usesDisplayName(ruleset: PushRuleset): boolean {
  const uses = (conditions: readonly PushCondition[] | undefined) => (conditions ?? []).some((c) => c.kind === "contains_display_name");
  return [...ruleset.override, ...ruleset.underride].some((r) => r.enabled && uses(r.conditions));
}

// The display name in each member event, by event: an event never changes,
// so a large room's names are parsed once, not on every message.
const MEMBER_NAMES = new BoundedCache<number, string | null>("push_member_names", 50_000);

async function displayNames(tx: Queryable, roomId: string, userIds: readonly string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const entries = await currentState(tx, roomId, userIds.map((u) => ["m.room.member", u] as const));
  const missing = entries.filter((e) => MEMBER_NAMES.get(e.eventNid) === undefined).map((e) => e.eventNid);
  for (const member of (await getEventsByNids(tx, missing)).values()) {
    const name = (pduOf(member).content as JsonObject | undefined)?.displayname;
    MEMBER_NAMES.set(member.nid, typeof name === "string" ? name : null);
  }
  const out = new Map<string, string>();
  for (const entry of entries) {
    const name = MEMBER_NAMES.get(entry.eventNid);
    if (typeof name === "string") out.set(entry.stateKey, name);
  }
  return out;
}

function relationOf(content: JsonValue | undefined): { relType: string; eventId: string } | undefined {
  if (!isJsonObject(content)) return undefined;
  const rel = content["m.relates_to"];
  if (!isJsonObject(rel) || typeof rel.rel_type !== "string" || typeof rel.event_id !== "string") return undefined;
  return { relType: rel.rel_type, eventId: rel.event_id };
}

/**
 * The thread an event is in: the root of its m.thread relation, or of the
 * event it relates to (a reaction or edit of a threaded message), up to
 * MAX_THREAD_HOPS; MAIN_THREAD otherwise. Thread roots are in the main timeline.
 */
export async function threadOf(tx: Queryable, content: JsonObject): Promise<string> {
  let rel = relationOf(content);
  for (let hop = 0; rel !== undefined; hop++) {
    if (rel.relType === "m.thread") return rel.eventId;
    if (hop >= MAX_THREAD_HOPS) break;
    const parent = (await getEventsByIds(tx, [rel.eventId])).get(rel.eventId);
    if (!parent) break;
    rel = relationOf(pduOf(parent).content);
  }
  return MAIN_THREAD;
}

/** The event as push rule conditions see it (client format, without unsigned). */
/** A user ID no event can name: it has no server part. */
const NOBODY = "@:";

/**
 * The outcome of the server defaults for a member the event does not name;
 * undefined when the event names NOBODY itself (then everyone is evaluated).
 */
function sharedDefaultOutcome(view: JsonObject, ctx: { roomMemberCount: number; senderPowerLevel: number; notificationPowerLevels: Record<string, number> }): PushOutcome | undefined {
  if (view.state_key === NOBODY || mentionedUsers(view).has(NOBODY)) return undefined;
  return pushOutcome(buildPushRuleset(NOBODY, parseStoredPushRules(undefined)), view, { userId: NOBODY, displayName: null, ...ctx });
}

/** content["m.mentions"].user_ids, as the is_user_mention rule reads it. */
function mentionedUsers(view: JsonObject): Set<string> {
  const content = view.content;
  const mentions = isJsonObject(content) ? content["m.mentions"] : undefined;
  const ids = isJsonObject(mentions) ? mentions.user_ids : undefined;
  return new Set(Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : []);
}

/** Whether the body contains `name` as contains_display_name reads it. */
function containsWordIn(view: JsonObject, name: string): boolean {
  const body = isJsonObject(view.content) ? view.content.body : undefined;
  return typeof body === "string" && containsWord(body, name);
}

function evaluationView(event: RoomEvent): JsonObject {
  const view: JsonObject = {
    event_id: event.eventId,
    room_id: event.roomId,
    sender: event.sender,
    type: event.type,
    origin_server_ts: event.originServerTs,
    content: event.content,
  };
  if (event.stateKey !== undefined) view.state_key = event.stateKey;
  if (event.redacts !== undefined) view.redacts = event.redacts;
  return view;
}

/** Local users whose rules are evaluated: joined members but the sender, plus a local invitee. */
async function recipientsOf(tx: Queryable, event: RoomEvent, context: RoomContext): Promise<string[]> {
  const users = context.localMembers.filter((u) => u !== event.sender);
  const invitee = event.type === "m.room.member" && event.content.membership === "invite" ? event.stateKey : undefined;
  // An invitee is not joined yet but their rules (.m.rule.invite_for_me) still apply, as in Synapse.
  if (invitee !== undefined && invitee !== event.sender && !users.includes(invitee) && (await localUsers(tx, [invitee])).has(invitee)) {
    users.push(invitee);
  }
  return users;
}

/** Rows waiting for their event's stream position, plus redaction targets whose rows must go. */
export interface PendingPushActions {
  rows: Array<{ index: number; row: Omit<PushActionRow, "streamOrdering"> }>;
  redacted: string[];
}

/**
 * Evaluates the push rules of every local recipient of each event of a batch
 * (`appended`, in order). Needs no stream position, so commitAppended runs it
 * before taking the stream head lock, which serialises every writer.
 */
export async function evaluatePushActions(tx: Queryable, version: RoomVersion, appended: ReadonlyArray<{ nid: number; event: RoomEvent }>): Promise<PendingPushActions> {
  const pending: PendingPushActions = { rows: [], redacted: [] };
  const cache = createPushActionsCache();
  for (const [index, { nid, event }] of appended.entries()) {
    if (event.type === "m.room.redaction" && event.redacts !== undefined) pending.redacted.push(event.redacts);
    for (const row of await evaluateOne(tx, version, nid, event, cache)) pending.rows.push({ index, row });
  }
  return pending;
}

/** Stores the rows with their events' positions (`positions[i]` for `appended[i]`); after redactions were applied. */
export async function storePushActions(tx: Queryable, pending: PendingPushActions, positions: readonly number[]): Promise<void> {
  await insertPushActions(
    tx,
    pending.rows.map(({ index, row }) => ({ ...row, streamOrdering: positions[index]! })),
  );
  // Only a redaction that took effect (events.redacted_by set) removes its target's rows.
  for (const eventId of pending.redacted) await deletePushActionsOfRedacted(tx, eventId);
}

async function evaluateOne(tx: Queryable, version: RoomVersion, nid: number, event: RoomEvent, cache: PushActionsCache): Promise<Array<Omit<PushActionRow, "streamOrdering">>> {
  const context = await roomContext(tx, event.roomId, version, cache);
  const users = await recipientsOf(tx, event, context);
  if (users.length === 0) return [];

  const rulesets = await rulesetsOf(tx, users, cache);
  const names = await displayNames(tx, event.roomId, users.filter((u) => usesDisplayName(rulesets.get(u)!)));
  const view = evaluationView(event);
  const senderPowerLevel = userPowerLevel(event.sender, context.powerLevels, context.createEvent, version);
  const notificationPowerLevels = Object.fromEntries(context.powerLevels.notifications);

  const shared = { roomMemberCount: context.joined, senderPowerLevel, notificationPowerLevels };
  // The server defaults name the user only in the invite and mention rules
  // (and contains_display_name reads the user's name): for a member on the
  // defaults whom the event neither mentions, nor addresses, nor names, the
  // outcome is the one of a member with no name at all, computed once. A
  // room of 1,000 then evaluates the rules about once per message, not 1,000 times.
  const generic = sharedDefaultOutcome(view, shared);
  const mentioned = mentionedUsers(view);
  const personal = (userId: string): boolean => {
    const name = names.get(userId);
    return view.state_key === userId || mentioned.has(userId) || (typeof name === "string" && name.length > 0 && containsWordIn(view, name));
  };

  const rows: Array<Omit<PushActionRow, "streamOrdering">> = [];
  let threadId: string | undefined;
  for (const userId of users) {
    const outcome =
      generic && !cache.customised.has(userId) && !personal(userId)
        ? generic
        : pushOutcome(rulesets.get(userId)!, view, { userId, displayName: names.get(userId) ?? null, ...shared });
    // Only notifying actions count: highlight_count is "unread notifications with the highlight flag".
    if (!outcome.notify) continue;
    threadId ??= await threadOf(tx, event.content);
    rows.push({ eventNid: nid, userId, roomId: event.roomId, threadId, notify: true, highlight: outcome.highlight, actions: outcome.actions });
  }
  return rows;
}
