// A tiny in-memory room for auth-rule tests: builds RoomEvent objects with fake
// but consistently shaped ids (v1–v2 "$n:server", later versions hash-like;
// v12 room id = "!" + create event id without "$"), keeps a state map and
// runs the auth rules against it. Table-driven cases run over every room
// version their rule applies to.
import { createHash } from "node:crypto";
import { expect } from "chai";
import {
  type AuthDecision,
  type AuthStateLookup,
  checkAuthRules,
  checkStateIndependentAuthRules,
} from "../../../../server/protocol/auth-rules.ts";
import { authEventTypes } from "../../../../server/protocol/auth-events-selection.ts";
import { type RoomEvent, stateTuple } from "../../../../server/protocol/events.ts";
import type { JsonObject } from "../../../../server/protocol/json.ts";
import { ROOM_VERSIONS, type RoomVersion } from "../../../../server/protocol/room-versions.ts";

export const ALICE = "@alice:a.example"; // creates every room
export const BOB = "@bob:b.example";
export const CAROL = "@carol:c.example";
export const DAVE = "@dave:a.example"; // same server as Alice
export const EVE = "@eve:e.example";

export const ALL_VERSIONS: readonly RoomVersion[] = [...ROOM_VERSIONS.values()];

export type VersionFilter = (v: RoomVersion) => boolean;
const num = (v: RoomVersion): number => Number(v.id);
export const all: VersionFilter = () => true;
export const from =
  (min: number): VersionFilter =>
  (v) => num(v) >= min;
export const upTo =
  (max: number): VersionFilter =>
  (v) => num(v) <= max;
export const between =
  (min: number, max: number): VersionFilter =>
  (v) => num(v) >= min && num(v) <= max;

export interface EventSpec {
  type: string;
  sender: string;
  stateKey?: string;
  content?: JsonObject;
  /** Default: the latest event of the room. */
  prevEventIds?: string[];
  /** Default: the ids the auth events selection picks from the current state. */
  authEventIds?: string[];
  redacts?: string;
  /** Replaces the default signatures (one from the sender's server). */
  signatures?: JsonObject;
  roomId?: string;
}

function serverOf(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

export interface RoomOptions {
  creator?: string;
  /** Merged into the create event's content. */
  createContent?: JsonObject;
}

let roomSerial = 0;

export class TestRoom {
  readonly version: RoomVersion;
  readonly roomId: string;
  readonly create: RoomEvent;
  readonly state = new Map<string, RoomEvent>();
  readonly events = new Map<string, RoomEvent>();
  latest: string;
  private counter = 0;
  private readonly serial = ++roomSerial;

  constructor(version: RoomVersion, options: RoomOptions = {}) {
    this.version = version;
    const creator = options.creator ?? ALICE;
    const content: JsonObject = { room_version: version.id };
    if (!version.implicitRoomCreator) content.creator = creator;
    Object.assign(content, options.createContent ?? {});
    const createId = this.nextEventId(creator);
    this.roomId = version.roomIdFromCreateEvent ? `!${createId.slice(1)}` : `!room:${serverOf(creator)}`;
    this.create = this.build(
      { type: "m.room.create", stateKey: "", sender: creator, content, prevEventIds: [], authEventIds: [] },
      createId,
    );
    this.apply(this.create);
    this.latest = this.create.eventId;
  }

  /** Fake event ids with the shape of the room version's format. */
  nextEventId(sender: string): string {
    this.counter += 1;
    if (this.version.eventFormat === "v1") return `$e${this.serial}.${this.counter}:${serverOf(sender)}`;
    const hash = createHash("sha256").update(`${this.version.id}/${this.serial}/${this.counter}`).digest();
    return `$${hash.toString(this.version.eventFormat === "v3" ? "base64" : "base64url").replace(/=+$/, "")}`;
  }

  /** Builds an event on top of the current state without applying it. */
  event(spec: EventSpec): RoomEvent {
    return this.build(spec, this.nextEventId(spec.sender));
  }

  private build(spec: EventSpec, eventId: string): RoomEvent {
    const content = spec.content ?? {};
    const authEventIds =
      spec.authEventIds ??
      authEventTypes({ type: spec.type, stateKey: spec.stateKey, sender: spec.sender, content }, this.version)
        .map(([type, stateKey]) => this.state.get(stateTuple(type, stateKey))?.eventId)
        .filter((id): id is string => id !== undefined);
    const prevEventIds = spec.prevEventIds ?? [this.latest];
    const roomId = spec.roomId ?? this.roomId;
    const isV12Create = spec.type === "m.room.create" && this.version.roomIdFromCreateEvent;
    const pdu: JsonObject = {
      type: spec.type,
      sender: spec.sender,
      content,
      origin_server_ts: 1_700_000_000_000 + this.counter,
      depth: this.counter,
      prev_events: prevEventIds,
      auth_events: authEventIds,
      signatures: spec.signatures ?? { [serverOf(spec.sender)]: { "ed25519:k": "c2lnbmF0dXJl" } },
    };
    if (!isV12Create || spec.roomId !== undefined) pdu.room_id = roomId;
    if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
    if (this.version.eventFormat === "v1") pdu.event_id = eventId;
    if (spec.redacts !== undefined) {
      if (this.version.redactsInContent) content.redacts = spec.redacts;
      else pdu.redacts = spec.redacts;
    }
    return {
      eventId,
      roomId,
      type: spec.type,
      stateKey: spec.stateKey,
      sender: spec.sender,
      content,
      originServerTs: pdu.origin_server_ts as number,
      depth: this.counter,
      prevEventIds,
      authEventIds,
      redacts: spec.redacts,
      pdu,
    };
  }

  apply(event: RoomEvent): RoomEvent {
    this.events.set(event.eventId, event);
    if (event.stateKey !== undefined) this.state.set(stateTuple(event.type, event.stateKey), event);
    this.latest = event.eventId;
    return event;
  }

  /** Builds an event and makes it part of the room without running auth (test setup). */
  put(spec: EventSpec): RoomEvent {
    return this.apply(this.event(spec));
  }

  member(userId: string, membership: string, sender: string = userId, extra: JsonObject = {}): RoomEvent {
    return this.put({ type: "m.room.member", stateKey: userId, sender, content: { membership, ...extra } });
  }

  joinRules(rule: string, extra: JsonObject = {}): RoomEvent {
    return this.put({ type: "m.room.join_rules", stateKey: "", sender: ALICE, content: { join_rule: rule, ...extra } });
  }

  powerLevels(content: JsonObject): RoomEvent {
    return this.put({ type: "m.room.power_levels", stateKey: "", sender: ALICE, content });
  }

  lookup: AuthStateLookup = (type, stateKey) => this.state.get(stateTuple(type, stateKey));

  check(event: RoomEvent): AuthDecision {
    return checkAuthRules(event, this.lookup, this.version);
  }

  /** The state-independent checks, with the event's auth events looked up among the room's events. */
  checkIndependent(event: RoomEvent, extraEvents: readonly RoomEvent[] = []): AuthDecision {
    const known = [...this.events.values(), ...extraEvents];
    const authEvents = event.authEventIds.flatMap((id) => known.filter((e) => e.eventId === id).slice(0, 1));
    return checkStateIndependentAuthRules(event, authEvents, this.version, this.create);
  }
}

export interface StandardRoomOptions extends RoomOptions {
  /** Join rule; null for no m.room.join_rules event. Default "public". */
  joinRule?: string | null;
  /** Extra entries of `users` in the power levels (Alice gets 100 before v12, where she is a creator). */
  users?: JsonObject;
  /** Other power level properties; null for no m.room.power_levels event. */
  powerLevels?: JsonObject | null;
  /** Memberships set up after Alice's join, e.g. { [BOB]: "join" }. */
  members?: Record<string, string>;
}

/** Create (by Alice), Alice's join, power levels, join rules, then the requested members. */
export function standardRoom(version: RoomVersion, options: StandardRoomOptions = {}): TestRoom {
  const room = new TestRoom(version, options);
  room.member(room.create.sender, "join");
  if (options.powerLevels !== null) {
    const users: JsonObject = version.privilegedCreators ? {} : { [room.create.sender]: 100 };
    room.powerLevels({ ...(options.powerLevels ?? {}), users: { ...users, ...(options.users ?? {}) } });
  }
  if (options.joinRule !== null) room.joinRules(options.joinRule ?? "public");
  for (const [userId, membership] of Object.entries(options.members ?? {})) {
    room.member(userId, membership, membership === "invite" || membership === "ban" ? room.create.sender : userId);
  }
  return room;
}

export type Expectation = "allow" | { deny: string };

export interface AuthCase {
  /** Names the rule under test. */
  name: string;
  versions?: VersionFilter;
  room?: StandardRoomOptions;
  /** Builds the room instead of standardRoom(version, room). */
  build?: (version: RoomVersion) => TestRoom;
  /** Extra state on top of the standard room. */
  given?: (room: TestRoom) => void;
  /** The event to authorise against the room's state. */
  event: (room: TestRoom) => RoomEvent;
  expect: Expectation;
  /** Which checks to run; default the state-dependent ones. */
  check?: "state" | "independent";
}

export function expectDecision(decision: AuthDecision, expected: Expectation): void {
  if (expected === "allow") {
    expect(decision, decision.allowed ? "" : `denied by ${decision.rule}: ${decision.reason}`).to.deep.equal({ allowed: true });
  } else {
    expect(decision.allowed, "expected a denial").to.equal(false);
    if (!decision.allowed) expect(decision.rule, decision.reason).to.equal(expected.deny);
  }
}

/** Registers one mocha test per (case, applicable room version). */
export function runCases(cases: readonly AuthCase[]): void {
  for (const c of cases) {
    const versions = ALL_VERSIONS.filter(c.versions ?? all);
    if (versions.length === 0) throw new Error(`case "${c.name}" applies to no room version`);
    for (const version of versions) {
      it(`${c.name} [v${version.id}]`, () => {
        const room = c.build ? c.build(version) : standardRoom(version, c.room);
        c.given?.(room);
        const event = c.event(room);
        const decision = c.check === "independent" ? room.checkIndependent(event) : room.check(event);
        expectDecision(decision, c.expect);
      });
    }
  }
}

export const deny = (rule: string): Expectation => ({ deny: rule });
