// Builds small rooms for the state resolution tests. Events are named by
// "node ids" (CREATE, PA, T1…) and get fake event ids; edges are given
// explicitly, either directly (Dag.add) or as prev_event chains from which
// the auth events and the state at every node are derived (buildRoom), the
// way the Synapse and Ruma state-res suites build their graphs.
import type { RoomEvent, StateMap } from "../../../../server/protocol/events.ts";
import { stateTuple } from "../../../../server/protocol/events.ts";
import { authEventTypes } from "../../../../server/protocol/auth-events-selection.ts";
import { checkAuthRules } from "../../../../server/protocol/auth-rules.ts";
import type { JsonObject } from "../../../../server/protocol/json.ts";
import type { RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { InMemoryEventSource } from "../../../../server/protocol/state-res/event-source.ts";
import { resolveState } from "../../../../server/protocol/state-res/index.ts";

export const ALICE = "@alice:example.com";
export const BOB = "@bob:example.com";
export const CHARLIE = "@charlie:example.com";
export const EVELYN = "@evelyn:example.com";
export const ZARA = "@zara:example.com";

export interface EventSpec {
  readonly id: string;
  readonly sender: string;
  readonly type: string;
  /** Omitted for message events. */
  readonly stateKey?: string;
  readonly content: JsonObject;
}

export function member(id: string, sender: string, target: string, membership: string): EventSpec {
  return { id, sender, type: "m.room.member", stateKey: target, content: { membership } };
}
export function powerLevels(id: string, sender: string, users: Record<string, number>, extra: JsonObject = {}): EventSpec {
  return { id, sender, type: "m.room.power_levels", stateKey: "", content: { users, ...extra } };
}
export function topic(id: string, sender: string): EventSpec {
  return { id, sender, type: "m.room.topic", stateKey: "", content: { topic: id } };
}
export function joinRules(id: string, sender: string, rule: string): EventSpec {
  return { id, sender, type: "m.room.join_rules", stateKey: "", content: { join_rule: rule } };
}
export function message(id: string, sender: string): EventSpec {
  return { id, sender, type: "m.room.message", content: { body: id } };
}

/** Events with explicit prev/auth edges and fake, version-shaped ids. */
export class Dag {
  readonly version: RoomVersion;
  readonly events = new Map<string, RoomEvent>();
  private readonly byNode = new Map<string, RoomEvent>();
  private readonly nodes = new Map<string, string>();
  private clock = 0;
  private room: string | undefined;

  constructor(version: RoomVersion) {
    this.version = version;
  }

  /** v12 ids are bare (the room id derives from the create event's); earlier ones carry a server name. */
  eventIdOf(node: string): string {
    return this.version.roomIdFromCreateEvent ? `$${node}` : `$${node}:example.com`;
  }

  get roomId(): string {
    if (this.room === undefined) throw new Error("add the create event first");
    return this.room;
  }

  /** Adds an event; prev and auth are node ids. Timestamps increase with every event made unless given. */
  add(spec: EventSpec & { prev: readonly string[]; auth: readonly string[]; ts?: number }): RoomEvent {
    const event = this.make(spec);
    this.register(spec.id, event);
    return event;
  }

  /** Builds the event without adding it (for callers that first check it against the auth rules). */
  make(spec: EventSpec & { prev: readonly string[]; auth: readonly string[]; ts?: number }): RoomEvent {
    const eventId = this.eventIdOf(spec.id);
    if (spec.type === "m.room.create") {
      this.room = this.version.roomIdFromCreateEvent ? `!${eventId.slice(1)}` : "!room:example.com";
    }
    const prevEventIds = spec.prev.map((n) => this.node(n).eventId);
    const authEventIds = spec.auth.map((n) => this.node(n).eventId);
    const depth = 1 + Math.max(0, ...spec.prev.map((n) => this.node(n).depth));
    const originServerTs = spec.ts ?? this.clock++;
    const pdu: JsonObject = {
      type: spec.type,
      sender: spec.sender,
      content: spec.content,
      origin_server_ts: originServerTs,
      depth,
      prev_events: prevEventIds,
      auth_events: authEventIds,
      hashes: { sha256: "" },
      signatures: {},
    };
    if (spec.stateKey !== undefined) pdu["state_key"] = spec.stateKey;
    if (!(this.version.roomIdFromCreateEvent && spec.type === "m.room.create")) pdu["room_id"] = this.roomId;
    if (this.version.eventFormat === "v1") pdu["event_id"] = eventId;
    const event: RoomEvent = {
      eventId,
      roomId: this.roomId,
      type: spec.type,
      stateKey: spec.stateKey,
      sender: spec.sender,
      content: spec.content,
      originServerTs,
      depth,
      prevEventIds,
      authEventIds,
      redacts: undefined,
      pdu,
    };
    return event;
  }

  register(node: string, event: RoomEvent): void {
    this.events.set(event.eventId, event);
    this.byNode.set(node, event);
    this.nodes.set(event.eventId, node);
  }

  node(id: string): RoomEvent {
    const event = this.byNode.get(id);
    if (event === undefined) throw new Error(`no node ${id}`);
    return event;
  }

  id(node: string): string {
    return this.node(node).eventId;
  }

  nodeOf(eventId: string): string {
    const node = this.nodes.get(eventId);
    if (node === undefined) throw new Error(`unknown event ${eventId}`);
    return node;
  }

  /** A state map holding exactly these nodes. */
  stateOf(nodes: readonly string[]): Map<string, string> {
    const state = new Map<string, string>();
    for (const n of nodes) {
      const event = this.node(n);
      if (event.stateKey === undefined) throw new Error(`${n} is not a state event`);
      state.set(stateTuple(event.type, event.stateKey), event.eventId);
    }
    return state;
  }

  source(): InMemoryEventSource {
    return new InMemoryEventSource(this.events.values());
  }
}

/** The opening of every room: Alice creates it, sets power and public join rules; Bob, Charlie and Zara join. */
export function initialEvents(version: RoomVersion): EventSpec[] {
  // v12 creators are above power levels and may not be listed in them.
  const users: Record<string, number> = version.privilegedCreators ? {} : { [ALICE]: 100 };
  return [
    { id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: { creator: ALICE, room_version: version.id } },
    member("IMA", ALICE, ALICE, "join"),
    powerLevels("IPOWER", ALICE, users),
    joinRules("IJR", ALICE, "public"),
    member("IMB", BOB, BOB, "join"),
    member("IMC", CHARLIE, CHARLIE, "join"),
    member("IMZ", ZARA, ZARA, "join"),
    message("START", ZARA),
    message("END", ZARA),
  ];
}

export const INITIAL_EDGES = ["START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE"];

export interface Room {
  readonly dag: Dag;
  /** The state after each node (before it, plus the node if it is a state event). */
  readonly stateAfter: Map<string, Map<string, string>>;
  /** The state before each node: the resolution of its prev events' states. */
  readonly stateBefore: Map<string, Map<string, string>>;
}

function pairs<T>(items: readonly T[]): [T, T][] {
  return items.slice(1).map((item, i) => [items[i] as T, item]);
}

/**
 * Builds the room from the initial events plus `events`, where each edge list
 * [A, B, C] means A has prev event B and B has prev event C. Nodes are
 * processed parents first, smallest node id first among the ready ones; the
 * state before a node resolves its prev events' states; its auth events are
 * the auth events selection from that state. Every event must pass the auth
 * rules against the state before it, so a scenario cannot rest on an event
 * that a real server would have rejected.
 */
export async function buildRoom(
  version: RoomVersion,
  events: readonly EventSpec[],
  edges: readonly (readonly string[])[],
  initial: readonly EventSpec[] = initialEvents(version),
): Promise<Room> {
  const specs = new Map<string, EventSpec>();
  const prevs = new Map<string, Set<string>>();
  for (const spec of [...initial, ...events]) {
    specs.set(spec.id, spec);
    prevs.set(spec.id, new Set());
  }
  for (const chain of [INITIAL_EDGES, ...edges]) {
    for (const [child, parent] of pairs(chain)) (prevs.get(child) as Set<string>).add(parent);
  }

  const dag = new Dag(version);
  const stateAfter = new Map<string, Map<string, string>>();
  const stateBefore = new Map<string, Map<string, string>>();
  const done = new Set<string>();
  while (done.size < specs.size) {
    const ready = [...specs.keys()].filter((n) => !done.has(n) && [...(prevs.get(n) as Set<string>)].every((p) => done.has(p)));
    const node = ready.sort()[0];
    if (node === undefined) throw new Error("the edges form a cycle");
    const spec = specs.get(node) as EventSpec;
    const prev = [...(prevs.get(node) as Set<string>)];

    const before = await resolveState(
      version,
      prev.map((p) => stateAfter.get(p) as Map<string, string>),
      dag.source(),
    );
    const auth: string[] = [];
    for (const [type, stateKey] of authEventTypes({ ...spec, stateKey: spec.stateKey }, version)) {
      const id = before.get(stateTuple(type, stateKey));
      if (id !== undefined) auth.push(dag.nodeOf(id));
    }
    const event = dag.add({ ...spec, prev, auth });

    const decision = checkAuthRules(event, lookupIn(dag, before, version), version);
    if (!decision.allowed) throw new Error(`scenario event ${node} fails auth: ${decision.rule} (${decision.reason})`);

    const after = new Map(before);
    if (event.stateKey !== undefined) after.set(stateTuple(event.type, event.stateKey), event.eventId);
    stateBefore.set(node, before);
    stateAfter.set(node, after);
    done.add(node);
  }
  return { dag, stateAfter, stateBefore };
}

/** The auth rules' view of `state` (plus the v12 create event). */
export function lookupIn(dag: Dag, state: StateMap, version: RoomVersion) {
  return (type: string, stateKey: string): RoomEvent | undefined => {
    const id = state.get(stateTuple(type, stateKey));
    if (id !== undefined) return dag.events.get(id);
    if (type === "m.room.create" && version.roomIdFromCreateEvent) return dag.events.get(`$${dag.roomId.slice(1)}`);
    return undefined;
  };
}

/**
 * What the Synapse suite asserts: the state at END restricted to the keys of
 * `expectedNodes` plus every key whose value differs from the state at START,
 * as node ids by key.
 */
export function changedState(room: Room, endState: StateMap, expectedNodes: readonly string[]): Map<string, string> {
  const { dag } = room;
  const start = room.stateAfter.get("START") as Map<string, string>;
  const expectedKeys = new Set(expectedNodes.map((n) => {
    const e = dag.node(n);
    return stateTuple(e.type, e.stateKey as string);
  }));
  const out = new Map<string, string>();
  for (const [key, id] of endState) {
    if (expectedKeys.has(key) || start.get(key) !== id) out.set(key, dag.nodeOf(id));
  }
  return out;
}

export function expectedState(room: Room, nodes: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of nodes) {
    const e = room.dag.node(n);
    out.set(stateTuple(e.type, e.stateKey as string), n);
  }
  return out;
}
