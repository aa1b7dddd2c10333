// State resolution v2 (room versions 2–11) and v2.1 (room version 12).
// v2.1 differs in two places (MSC4297): the power events are replayed onto an
// empty state instead of the unconflicted state, and the full conflicted set
// also holds the conflicted state subgraph (events on auth paths between
// conflicted events), so events that authorise a conflicted event are replayed
// before it.
import type { RoomEvent, StateKeyTuple, StateMap } from "../events.ts";
import { stateTuple } from "../events.ts";
import type { RoomVersion } from "../room-versions.ts";
import { AuthGraph } from "./auth-chain.ts";
import type { EventSource } from "./event-source.ts";
import type { AuthCheck, AuthCheckContext } from "./iterative-auth-checks.ts";
import { iterativeAuthChecks } from "./iterative-auth-checks.ts";
import { mainlineOrder } from "./mainline.ts";
import { reverseTopologicalPowerOrder } from "./power-order.ts";
import { CREATE, isPowerEvent, POWER_LEVELS } from "./power.ts";

export type V2Variant = "v2" | "v2.1";

export interface Separated {
  readonly unconflicted: Map<StateKeyTuple, string>;
  /** Keys that not every state set holds with the same event. */
  readonly conflictedKeys: StateKeyTuple[];
  /** Every event id held under a conflicted key by some state set. */
  readonly conflicted: Set<string>;
}

/** A key is unconflicted only when every state set has it, with the same event. */
export function separate(stateSets: readonly StateMap[]): Separated {
  const unconflicted = new Map<StateKeyTuple, string>();
  const conflictedKeys: StateKeyTuple[] = [];
  const conflicted = new Set<string>();
  const markConflicted = (key: StateKeyTuple): void => {
    conflictedKeys.push(key);
    for (const stateSet of stateSets) {
      const id = stateSet.get(key);
      if (id !== undefined) conflicted.add(id);
    }
  };
  const [first, ...rest] = stateSets;
  if (first === undefined) return { unconflicted, conflictedKeys, conflicted };
  // How many of the first set's keys each other set holds: when that is all of
  // its keys, it has none the first set lacks and the second pass skips it.
  const shared = rest.map(() => 0);
  for (const [key, id] of first) {
    let agreed = true;
    for (let i = 0; i < rest.length; i++) {
      const other = (rest[i] as StateMap).get(key);
      if (other !== undefined) shared[i] = (shared[i] as number) + 1;
      if (other !== id) agreed = false;
    }
    if (agreed) unconflicted.set(key, id);
    else markConflicted(key);
  }
  // Keys the first set lacks are conflicted; each is taken once.
  const seen = new Set<StateKeyTuple>();
  for (const [i, stateSet] of rest.entries()) {
    if (shared[i] === stateSet.size) continue;
    for (const key of stateSet.keys()) {
      if (!first.has(key) && !seen.has(key)) {
        seen.add(key);
        markConflicted(key);
      }
    }
  }
  return { unconflicted, conflictedKeys, conflicted };
}

/** v12 rooms: the create event's id is the room id with `$` for `!`. */
export function createEventIdForRoom(roomId: string): string {
  return `$${roomId.slice(1)}`;
}

async function loadRoomCreate(graph: AuthGraph, version: RoomVersion, stateIds: Iterable<string>): Promise<RoomEvent | undefined> {
  if (!version.roomIdFromCreateEvent) return undefined;
  for (const id of stateIds) {
    const event = graph.get(id);
    if (event === undefined) continue;
    const createId = event.type === CREATE && event.stateKey === "" ? event.eventId : createEventIdForRoom(event.roomId);
    await graph.include([createId]);
    return graph.get(createId);
  }
  return undefined;
}

export async function resolveV2(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  source: EventSource,
  check: AuthCheck,
  variant: V2Variant,
): Promise<Map<StateKeyTuple, string>> {
  if (stateSets.length <= 1) return new Map(stateSets[0] ?? []);
  const { unconflicted, conflictedKeys, conflicted } = separate(stateSets);
  if (conflicted.size === 0) return unconflicted;

  // Every event of every state set, and everything behind them in the auth DAG.
  const graph = new AuthGraph(source);
  await graph.include([...unconflicted.values(), ...conflicted]);
  const roomCreate = await loadRoomCreate(graph, version, unconflicted.size > 0 ? unconflicted.values() : conflicted);

  // Full conflicted set: conflicted events, auth difference and (v2.1) conflicted subgraph.
  // Events the source does not have cannot be replayed and are dropped.
  const full = new Set<string>();
  for (const id of conflicted) if (graph.has(id)) full.add(id);
  for (const id of graph.authDifference(stateSets, unconflicted, conflictedKeys)) full.add(id);
  if (variant === "v2.1") for (const id of graph.conflictedSubgraph(conflicted)) full.add(id);

  // Power events plus what they cite inside the full conflicted set, transitively
  // along auth_events edges that stay in the set (as Synapse and Ruma build it).
  const powerSet = new Set<string>();
  const stack: string[] = [];
  for (const id of full) {
    if (isPowerEvent(graph.get(id) as RoomEvent)) {
      powerSet.add(id);
      stack.push(id);
    }
  }
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    for (const authId of (graph.get(id) as RoomEvent).authEventIds) {
      if (full.has(authId) && !powerSet.has(authId)) {
        powerSet.add(authId);
        stack.push(authId);
      }
    }
  }

  const authEventIds = new Set<string>();
  for (const id of full) for (const authId of (graph.get(id) as RoomEvent).authEventIds) authEventIds.add(authId);
  const rejected = source.getRejectedIds === undefined ? new Set<string>() : await source.getRejectedIds([...authEventIds]);
  const context: AuthCheckContext = { version, check, events: graph, rejected, roomCreate };

  const powerOrder = reverseTopologicalPowerOrder(powerSet, graph, version, roomCreate);
  const start = variant === "v2.1" ? new Map<StateKeyTuple, string>() : new Map(unconflicted);
  const partial = iterativeAuthChecks(powerOrder, start, context);

  const others: string[] = [];
  for (const id of full) if (!powerSet.has(id)) others.push(id);
  const otherOrder = mainlineOrder(others, partial.get(stateTuple(POWER_LEVELS, "")), graph);
  const resolved = iterativeAuthChecks(otherOrder, partial, context);

  for (const [key, id] of unconflicted) resolved.set(key, id);
  return resolved;
}
