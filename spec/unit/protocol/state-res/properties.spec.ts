// Properties of resolution on random rooms: a random sequence of topic,
// power, kick, ban, join and leave events on three forks (each event kept
// only if the auth rules allow it on its fork), with occasional merges.
// Resolving the forks' states must not depend on the order of the sets, and a
// single set (or the same set twice) resolves to itself.
import { expect } from "chai";
import fc from "fast-check";
import { authEventTypes } from "../../../../server/protocol/auth-events-selection.ts";
import { checkAuthRules } from "../../../../server/protocol/auth-rules.ts";
import { stateTuple } from "../../../../server/protocol/events.ts";
import type { JsonObject } from "../../../../server/protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { InMemoryEventSource } from "../../../../server/protocol/state-res/event-source.ts";
import { resolveState } from "../../../../server/protocol/state-res/index.ts";
import { ALICE, BOB, buildRoom, CHARLIE, type Dag, type EventSpec, EVELYN, initialEvents, lookupIn, ZARA } from "./dag.ts";

const USERS = [ALICE, BOB, CHARLIE, ZARA, EVELYN];
const ACTIONS = ["topic", "promote", "demote", "kick", "ban", "join", "leave", "merge"] as const;

interface Step {
  readonly fork: number;
  readonly other: number;
  readonly actor: string;
  readonly target: string;
  readonly action: (typeof ACTIONS)[number];
}

const step: fc.Arbitrary<Step> = fc.record({
  fork: fc.nat(2),
  other: fc.nat(2),
  actor: fc.constantFrom(...USERS),
  target: fc.constantFrom(...USERS),
  action: fc.constantFrom(...ACTIONS),
});

interface Fork {
  head: string;
  state: Map<string, string>;
}

/** Power levels content with these users; v12 creators (Alice) may not be listed. */
function powerContentFor(version: RoomVersion, users: JsonObject): JsonObject {
  const listed = { ...users };
  if (version.privilegedCreators) delete listed[ALICE];
  return { users: listed };
}

function powerContent(dag: Dag, state: Map<string, string>, target: string, level: number): JsonObject {
  const current = state.get(stateTuple("m.room.power_levels", ""));
  const users = (current === undefined ? {} : dag.events.get(current)?.content["users"]) as JsonObject;
  return powerContentFor(dag.version, { ...users, [target]: level });
}

/** Plays `steps` on three forks of a fresh room and returns the forks' final states. */
async function randomForks(version: RoomVersion, steps: readonly Step[]): Promise<{ dag: Dag; states: Map<string, string>[] }> {
  // Bob and Charlie start as moderators so that more random events pass auth.
  const initial = initialEvents(version).map((spec) =>
    spec.id === "IPOWER" ? { ...spec, content: powerContentFor(version, { [ALICE]: 100, [BOB]: 75, [CHARLIE]: 50 }) } : spec,
  );
  const room = await buildRoom(version, [], [["END", "START"]], initial);
  const { dag } = room;
  const start = room.stateAfter.get("START") as Map<string, string>;
  const forks: Fork[] = [0, 1, 2].map(() => ({ head: "START", state: new Map(start) }));
  let n = 0;
  for (const s of steps) {
    const fork = forks[s.fork] as Fork;
    const node = `E${n++}`;
    let spec: EventSpec;
    let prev = [fork.head];
    let before = fork.state;
    switch (s.action) {
      case "topic":
        spec = { id: node, sender: s.actor, type: "m.room.topic", stateKey: "", content: { topic: node } };
        break;
      case "promote":
      case "demote":
        spec = {
          id: node,
          sender: s.actor,
          type: "m.room.power_levels",
          stateKey: "",
          content: powerContent(dag, fork.state, s.target, s.action === "promote" ? 50 : 0),
        };
        break;
      case "kick":
      case "ban":
        spec = { id: node, sender: s.actor, type: "m.room.member", stateKey: s.target, content: { membership: s.action === "kick" ? "leave" : "ban" } };
        break;
      case "join":
      case "leave":
        spec = { id: node, sender: s.actor, type: "m.room.member", stateKey: s.actor, content: { membership: s.action } };
        break;
      case "merge": {
        const other = forks[s.other] as Fork;
        if (other === fork) continue;
        before = await resolveState(version, [fork.state, other.state], dag.source());
        prev = [fork.head, other.head];
        spec = { id: node, sender: s.actor, type: "m.room.message", content: { body: node } };
        break;
      }
    }
    const auth: string[] = [];
    for (const [type, stateKey] of authEventTypes({ ...spec, stateKey: spec.stateKey }, version)) {
      const id = before.get(stateTuple(type, stateKey));
      if (id !== undefined) auth.push(dag.nodeOf(id));
    }
    const event = dag.make({ ...spec, prev, auth });
    if (!checkAuthRules(event, lookupIn(dag, before, version), version).allowed) continue;
    dag.register(node, event);
    fork.head = node;
    fork.state = new Map(before);
    if (event.stateKey !== undefined) fork.state.set(stateTuple(event.type, event.stateKey), event.eventId);
  }
  return { dag, states: forks.map((f) => f.state) };
}

for (const id of ["1", "11", "12"]) {
  const version = getRoomVersion(id) as RoomVersion;
  describe(`state resolution properties (room version ${id})`, () => {
    it("does not depend on the order of the state sets", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40, size: "max" }), fc.nat(5), async (steps, rotation) => {
          const { dag, states } = await randomForks(version, steps);
          const reference = await resolveState(version, states, dag.source());
          const permutations = [
            [states[2], states[1], states[0]],
            [states[1], states[0], states[2]],
            [...states.slice(rotation % 3), ...states.slice(0, rotation % 3)],
          ] as Map<string, string>[][];
          for (const permuted of permutations) {
            expect(await resolveState(version, permuted, dag.source())).to.deep.equal(reference);
          }
        }),
        { numRuns: 100 },
      );
    });

    it("returns a single state set, or the same set twice, unchanged", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20, size: "max" }), async (steps) => {
          const { dag, states } = await randomForks(version, steps);
          for (const state of states) {
            expect(await resolveState(version, [state], dag.source())).to.deep.equal(state);
            expect(await resolveState(version, [state, new Map(state)], dag.source())).to.deep.equal(state);
          }
        }),
        { numRuns: 20 },
      );
    });

    it("returns any single map unchanged without looking at events", async () => {
      await fc.assert(
        fc.asyncProperty(fc.dictionary(fc.string(), fc.string()), async (entries) => {
          const state = new Map(Object.entries(entries).map(([k, v]) => [stateTuple("t", k), v]));
          const source = new InMemoryEventSource();
          expect(await resolveState(version, [state], source)).to.deep.equal(state);
          expect(source.calls).to.equal(0);
        }),
      );
    });
  });
}
