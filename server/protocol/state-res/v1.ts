// State resolution v1 (room version 1). Conflicts are settled per key, in
// passes: power levels, then join rules, then memberships, each against the
// state R built by the earlier passes; then every other key. Kept only for
// old rooms: it is known to reset state, which v2 fixes.
import { createHash } from "node:crypto";
import type { RoomEvent, StateKeyTuple, StateMap } from "../events.ts";
import { splitStateTuple, stateTuple } from "../events.ts";
import { isJsonObject } from "../json.ts";
import type { RoomVersion } from "../room-versions.ts";
import type { EventSource } from "./event-source.ts";
import type { AuthCheck, AuthStateLookup } from "./iterative-auth-checks.ts";
import { CREATE, JOIN_RULES, MEMBER, POWER_LEVELS } from "./power.ts";

const THIRD_PARTY_INVITE = "m.room.third_party_invite";

/** v1 counts a key as conflicted only when two sets hold different events for it; a key some sets lack is not. */
export function separateV1(stateSets: readonly StateMap[]): {
  unconflicted: Map<StateKeyTuple, string>;
  conflicted: Map<StateKeyTuple, Set<string>>;
} {
  const unconflicted = new Map<StateKeyTuple, string>();
  const conflicted = new Map<StateKeyTuple, Set<string>>();
  for (const stateSet of stateSets) {
    for (const [key, id] of stateSet) {
      const clash = conflicted.get(key);
      if (clash !== undefined) {
        clash.add(id);
        continue;
      }
      const seen = unconflicted.get(key);
      if (seen === undefined) unconflicted.set(key, id);
      else if (seen !== id) {
        conflicted.set(key, new Set([seen, id]));
        unconflicted.delete(key);
      }
    }
  }
  return { unconflicted, conflicted };
}

interface Ranked {
  readonly event: RoomEvent;
  readonly sha1: string;
}

/** Ascending depth, then descending sha1(event_id), as the v1 algorithm sorts. */
function byDepthThenSha1Descending(a: Ranked, b: Ranked): number {
  if (a.event.depth !== b.event.depth) return a.event.depth - b.event.depth;
  return a.sha1 < b.sha1 ? 1 : a.sha1 > b.sha1 ? -1 : 0;
}

/** The keys of R the auth rules can ask about for these events, so they can be fetched in one batch. */
function authKeysOf(events: Iterable<RoomEvent>, r: ReadonlyMap<StateKeyTuple, string>): string[] {
  const keys = new Set<StateKeyTuple>([stateTuple(CREATE, ""), stateTuple(POWER_LEVELS, ""), stateTuple(JOIN_RULES, "")]);
  for (const event of events) {
    keys.add(stateTuple(MEMBER, event.sender));
    if (event.type === MEMBER && event.stateKey !== undefined) keys.add(stateTuple(MEMBER, event.stateKey));
    const via = event.content["join_authorised_via_users_server"];
    if (typeof via === "string") keys.add(stateTuple(MEMBER, via));
    const invite = event.content["third_party_invite"];
    const signed = isJsonObject(invite) ? invite["signed"] : undefined;
    const token = isJsonObject(signed) ? signed["token"] : undefined;
    if (typeof token === "string") keys.add(stateTuple(THIRD_PARTY_INVITE, token));
  }
  const ids: string[] = [];
  for (const key of keys) {
    const id = r.get(key);
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

export async function resolveV1(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  source: EventSource,
  check: AuthCheck,
): Promise<Map<StateKeyTuple, string>> {
  if (stateSets.length <= 1) return new Map(stateSets[0] ?? []);
  const { unconflicted, conflicted } = separateV1(stateSets);
  if (conflicted.size === 0) return unconflicted;

  const conflictedIds = [...conflicted.values()].flatMap((ids) => [...ids]);
  const events = new Map(await source.getEvents(conflictedIds));
  for (const [id, event] of await source.getEvents(authKeysOf(events.values(), unconflicted))) events.set(id, event);

  // Candidates per key, in v1 order; an event the source lacks cannot take part.
  const candidates = new Map<StateKeyTuple, Ranked[]>();
  for (const [key, ids] of conflicted) {
    const ranked: Ranked[] = [];
    for (const id of ids) {
      const event = events.get(id);
      if (event !== undefined) ranked.push({ event, sha1: createHash("sha1").update(id, "utf8").digest("hex") });
    }
    ranked.sort(byDepthThenSha1Descending);
    if (ranked.length > 0) candidates.set(key, ranked);
  }

  const r = new Map(unconflicted);
  const allowed = (event: RoomEvent, state: ReadonlyMap<StateKeyTuple, string>): boolean => {
    const lookup: AuthStateLookup = (type, stateKey) => {
      const id = state.get(stateTuple(type, stateKey));
      return id === undefined ? undefined : events.get(id);
    };
    return check(event, lookup, version).allowed;
  };

  // Walk up the list from the lowest depth, keeping each event that R (with the
  // previous pick applied) allows; the first refusal ends the walk.
  const resolveAuthKey = (key: StateKeyTuple, ranked: readonly Ranked[]): string => {
    const local = new Map(r);
    let picked = (ranked[0] as Ranked).event;
    for (const { event } of ranked.slice(1)) {
      local.set(key, picked.eventId);
      if (!allowed(event, local)) break;
      picked = event;
    }
    return picked.eventId;
  };

  // Each pass sees R as the previous passes left it; keys within a pass do not
  // see each other's outcome (so the order keys are visited in cannot matter).
  const pass = (selects: (type: string) => boolean): void => {
    const outcome = new Map<StateKeyTuple, string>();
    for (const [key, ranked] of candidates) {
      const [type, stateKey] = splitStateTuple(key);
      if (selects(type) && (type !== POWER_LEVELS || stateKey === "")) outcome.set(key, resolveAuthKey(key, ranked));
    }
    for (const [key, id] of outcome) {
      r.set(key, id);
      candidates.delete(key);
    }
  };
  pass((type) => type === POWER_LEVELS);
  pass((type) => type === JOIN_RULES);
  pass((type) => type === MEMBER);

  // Other keys, all against the same R: the highest depth (lowest sha1 among
  // equals) that R allows, else the lowest depth.
  const others = new Map<StateKeyTuple, string>();
  for (const [key, ranked] of candidates) {
    let picked = (ranked[0] as Ranked).event;
    for (let i = ranked.length - 1; i >= 0; i--) {
      const { event } = ranked[i] as Ranked;
      if (allowed(event, r)) {
        picked = event;
        break;
      }
    }
    others.set(key, picked.eventId);
  }
  for (const [key, id] of others) r.set(key, id);
  return r;
}
