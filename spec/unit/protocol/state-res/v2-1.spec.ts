// State resolution v2.1 (room version 12, MSC4297) against v2 (room version
// 11) on the two state resets that motivated it. In both, one state set comes
// from a faulty partial sync and holds an outdated event for one key. v2 resets
// state; v2.1 resolves to the correct state.
import { expect } from "chai";
import { stateTuple } from "../../../../server/protocol/events.ts";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { AuthGraph } from "../../../../server/protocol/state-res/auth-chain.ts";
import { InMemoryEventSource } from "../../../../server/protocol/state-res/event-source.ts";
import { resolveState } from "../../../../server/protocol/state-res/index.ts";
import { resolveV2, separate } from "../../../../server/protocol/state-res/v2.ts";
import { checkAuthRules } from "../../../../server/protocol/auth-rules.ts";
import { ALICE, BOB, buildRoom, CHARLIE, joinRules, member, powerLevels, topic, type Room } from "./dag.ts";

const V11 = getRoomVersion("11") as RoomVersion;
const V12 = getRoomVersion("12") as RoomVersion;
const JOIN_RULES = stateTuple("m.room.join_rules", "");
const POWER_LEVELS = stateTuple("m.room.power_levels", "");

/** Power level users; v12 creators (Alice) may not appear. */
function users(v: RoomVersion, levels: Record<string, number>): Record<string, number> {
  const out = { ...levels };
  if (v.privilegedCreators) delete out[ALICE];
  return out;
}

/** The correct state after `last`, and a copy whose `key` was swapped for an outdated event. */
function forkedStates(room: Room, last: string, key: string, outdated: string): [Map<string, string>, Map<string, string>] {
  const correct = room.stateAfter.get(last) as Map<string, string>;
  return [correct, new Map(correct).set(key, room.dag.id(outdated))];
}

// Problem A: Bob (an admin) changes the join rules twice, then leaves. Both
// sets agree that Bob left, so v2 replays the join rules onto a state where he
// is not a member, rejects both, and the room loses its join rules.
async function joinRulesReset(v: RoomVersion): Promise<{ room: Room; sets: Map<string, string>[] }> {
  const room = await buildRoom(
    v,
    [
      powerLevels("PA", ALICE, users(v, { [ALICE]: 100, [BOB]: 100 })),
      joinRules("JR1", BOB, "invite"),
      joinRules("JR2", BOB, "public"),
      member("LB", BOB, BOB, "leave"),
    ],
    [["END", "LB", "JR2", "JR1", "PA", "START"]],
  );
  return { room, sets: forkedStates(room, "LB", JOIN_RULES, "JR1") };
}

// Problem B: Alice promotes Bob, Bob promotes Charlie, Charlie sets the topic.
// One set claims the power levels are still the initial ones. Every event in
// the promotion chain is in both auth chains, so the auth difference is empty
// and v2 replays only the two conflicted power levels: Bob's is rejected
// against the initial ones.
async function promotionChainReset(v: RoomVersion): Promise<{ room: Room; sets: Map<string, string>[] }> {
  const room = await buildRoom(
    v,
    [
      powerLevels("PA", ALICE, users(v, { [ALICE]: 100, [BOB]: 50 })),
      powerLevels("PB", BOB, users(v, { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 })),
      topic("TC", CHARLIE),
    ],
    [["END", "TC", "PB", "PA", "START"]],
  );
  return { room, sets: forkedStates(room, "TC", POWER_LEVELS, "IPOWER") };
}

describe("state resolution v2.1 (room version 12)", () => {
  describe("problem A: conflicted events unauthorised by the unconflicted state", () => {
    it("v2 drops the join rules altogether", async () => {
      const { room, sets } = await joinRulesReset(V11);
      const resolved = await resolveState(V11, sets, room.dag.source());
      expect(resolved.has(JOIN_RULES)).to.equal(false);
      expect(resolved.get(stateTuple("m.room.member", BOB))).to.equal(room.dag.id("LB"));
    });

    it("v2.1 replays them from an empty state and keeps the latest join rules", async () => {
      const { room, sets } = await joinRulesReset(V12);
      const resolved = await resolveState(V12, sets, room.dag.source());
      expect(resolved.get(JOIN_RULES)).to.equal(room.dag.id("JR2"));
      expect(resolved).to.deep.equal(sets[0]);
    });

    it("the v2 algorithm on the same room version 12 events still drops them (the algorithm, not the auth rules, fixes it)", async () => {
      const { room, sets } = await joinRulesReset(V12);
      const resolved = await resolveV2(V12, sets, room.dag.source(), checkAuthRules, "v2");
      expect(resolved.has(JOIN_RULES)).to.equal(false);
    });
  });

  describe("problem B: conflicted events need events between them", () => {
    it("v2 resets the power levels to the outdated ones", async () => {
      const { room, sets } = await promotionChainReset(V11);
      const resolved = await resolveState(V11, sets, room.dag.source());
      expect(resolved.get(POWER_LEVELS)).to.equal(room.dag.id("IPOWER"));
      // The topic is unconflicted and stays, though Charlie no longer has the power to set it.
      expect(resolved.get(stateTuple("m.room.topic", ""))).to.equal(room.dag.id("TC"));
    });

    it("the conflicted subgraph holds Alice's promotion of Bob, which the auth difference lacks", async () => {
      const { room, sets } = await promotionChainReset(V12);
      const graph = new AuthGraph(room.dag.source());
      const ids = new Set(sets.flatMap((s) => [...s.values()]));
      await graph.include(ids);
      const { unconflicted, conflictedKeys, conflicted } = separate(sets);
      expect([...conflicted].map((id) => room.dag.nodeOf(id)).sort()).to.deep.equal(["IPOWER", "PB"]);
      expect(graph.authDifference(sets, unconflicted, conflictedKeys).size).to.equal(0);
      const subgraph = [...graph.conflictedSubgraph(conflicted)].map((id) => room.dag.nodeOf(id)).sort();
      // Every auth path from PB down to IPOWER: through PA, and through Bob's
      // join (which cites IPOWER and the join rules, which cite IPOWER too).
      expect(subgraph).to.deep.equal(["IJR", "IMB", "IPOWER", "PA", "PB"]);
    });

    it("v2.1 replays the promotion chain and keeps Bob's power levels", async () => {
      const { room, sets } = await promotionChainReset(V12);
      const resolved = await resolveState(V12, sets, room.dag.source());
      expect(resolved.get(POWER_LEVELS)).to.equal(room.dag.id("PB"));
      expect(resolved).to.deep.equal(sets[0]);
    });

    it("the v2 algorithm on the same room version 12 events still resets them", async () => {
      const { room, sets } = await promotionChainReset(V12);
      const resolved = await resolveV2(V12, sets, room.dag.source(), checkAuthRules, "v2");
      expect(resolved.get(POWER_LEVELS)).to.equal(room.dag.id("IPOWER"));
    });
  });

  it("does not take a rejected auth event as the fallback for a missing key", async () => {
    const { room, sets } = await joinRulesReset(V12);
    // Claim Bob's join was rejected: replayed from an empty state, his join
    // rules changes can no longer show he was a member.
    const source = new InMemoryEventSource(room.dag.events.values(), [room.dag.id("IMB")]);
    const resolved = await resolveState(V12, sets, source);
    expect(resolved.has(JOIN_RULES)).to.equal(false);
  });

  it("fetches each event once per resolution, one batch per auth depth", async () => {
    const { room, sets } = await promotionChainReset(V12);
    const source = room.dag.source();
    await resolveState(V12, sets, source);
    expect(source.requested).to.be.at.most(room.dag.events.size);
    expect(source.calls).to.be.below(room.dag.events.size / 2);
  });
});
