// State resolution v2 scenarios, after the classic Synapse/Ruma suites: each
// builds a room with forks, resolves the state at END and checks which event
// wins every key that changed since START. Run with the real auth rules on
// room versions 10 and 11 (v2), and on 12 (v2.1, where Alice as creator has
// implicit power): on these ordinary forks both algorithms agree.
import { expect } from "chai";
import { stateTuple } from "../../../../server/protocol/events.ts";
import type { JsonObject } from "../../../../server/protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { InMemoryEventSource } from "../../../../server/protocol/state-res/event-source.ts";
import { resolveState } from "../../../../server/protocol/state-res/index.ts";
import {
  ALICE,
  BOB,
  buildRoom,
  changedState,
  CHARLIE,
  Dag,
  EVELYN,
  type EventSpec,
  expectedState,
  member,
  powerLevels,
  topic,
  ZARA,
} from "./dag.ts";

/** Power levels for the scenario; v12 creators (Alice) cannot be listed, their power is implicit. */
function pl(v: RoomVersion, id: string, sender: string, users: Record<string, number>, extra: JsonObject = {}): EventSpec {
  const listed = { ...users };
  if (v.privilegedCreators) delete listed[ALICE];
  return powerLevels(id, sender, listed, extra);
}

function version(id: string): RoomVersion {
  return getRoomVersion(id) as RoomVersion;
}

async function check(v: RoomVersion, events: EventSpec[], edges: string[][], expected: string[]): Promise<void> {
  const room = await buildRoom(v, events, edges);
  const end = room.stateBefore.get("END") as Map<string, string>;
  expect(changedState(room, end, expected)).to.deep.equal(expectedState(room, expected));
}

for (const id of ["10", "11", "12"]) {
  const v = version(id);
  describe(`state resolution ${v.stateResolution} scenarios (room version ${id})`, () => {
    it("ban_vs_power_levels: Alice's ban of Bob beats Bob's concurrent power levels change", async () => {
      await check(
        v,
        [
          pl(v, "PA", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          member("MA", ALICE, ALICE, "join"),
          member("MB", ALICE, BOB, "ban"),
          pl(v, "PB", BOB, { [ALICE]: 100, [BOB]: 50 }),
        ],
        [
          ["END", "MB", "MA", "PA", "START"],
          ["END", "PB", "PA"],
        ],
        ["PA", "MA", "MB"],
      );
    });

    it("join_rule_evasion: a join concurrent with a switch to private is rejected", async () => {
      await check(
        v,
        [
          { id: "JR", sender: ALICE, type: "m.room.join_rules", stateKey: "", content: { join_rule: "private" } },
          member("ME", EVELYN, EVELYN, "join"),
        ],
        [
          ["END", "JR", "START"],
          ["END", "ME", "START"],
        ],
        ["JR"],
      );
    });

    it("offtopic_power_levels: a chain of power levels changes survives a fork that only saw the first", async () => {
      await check(
        v,
        [
          pl(v, "PA", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          pl(v, "PB", BOB, { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 }),
          pl(v, "PC", CHARLIE, { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 0 }),
        ],
        [
          ["END", "PC", "PB", "PA", "START"],
          ["END", "PA"],
        ],
        ["PC"],
      );
    });

    it("topic_basic: Bob's topic after his revoked power is dropped; the last allowed topic wins", async () => {
      await check(
        v,
        [
          topic("T1", ALICE),
          pl(v, "PA1", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          topic("T2", ALICE),
          pl(v, "PA2", ALICE, { [ALICE]: 100, [BOB]: 0 }),
          pl(v, "PB", BOB, { [ALICE]: 100, [BOB]: 50 }),
          topic("T3", BOB),
        ],
        [
          ["END", "PA2", "T2", "PA1", "T1", "START"],
          ["END", "T3", "PB", "PA1"],
        ],
        ["PA2", "T2"],
      );
    });

    it("topic_reset: banning Bob reverts the topic he set to the earlier one", async () => {
      await check(
        v,
        [
          topic("T1", ALICE),
          pl(v, "PA", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          topic("T2", BOB),
          member("MB", ALICE, BOB, "ban"),
        ],
        [
          ["END", "MB", "T2", "PA", "T1", "START"],
          ["END", "T1"],
        ],
        ["T1", "MB", "PA"],
      );
    });

    it("topic: a topic set after a message merge wins over topics based on older power levels", async () => {
      await check(
        v,
        [
          topic("T1", ALICE),
          pl(v, "PA1", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          topic("T2", ALICE),
          pl(v, "PA2", ALICE, { [ALICE]: 100, [BOB]: 0 }),
          pl(v, "PB", BOB, { [ALICE]: 100, [BOB]: 50 }),
          topic("T3", BOB),
          { id: "MZ1", sender: ZARA, type: "m.room.message", content: { body: "hi" } },
          topic("T4", ALICE),
        ],
        [
          ["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"],
          ["END", "MZ1", "T3", "PB", "PA1"],
        ],
        ["T4", "PA2"],
      );
    });

    it("mainline_sort: the topic based on the newest mainline power levels wins, although sent earlier", async () => {
      await check(
        v,
        [
          topic("T1", ALICE),
          pl(v, "PA1", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          topic("T2", ALICE),
          pl(v, "PA2", ALICE, { [ALICE]: 100, [BOB]: 50 }, { events: { "m.room.power_levels": 100 } }),
          pl(v, "PB", BOB, { [ALICE]: 100, [BOB]: 50 }),
          topic("T3", BOB),
          topic("T4", ALICE),
        ],
        [
          ["END", "T3", "PA2", "T2", "PA1", "T1", "START"],
          ["END", "T4", "PB", "PA1"],
        ],
        ["T3", "PA2"],
      );
    });

    // In the two races below the node ids make Bob's events the earlier ones
    // (nodes get timestamps in id order), so only the power ordering puts
    // Alice's ban first.
    it("kick/ban race: Alice bans Bob while Bob kicks Charlie; the ban wins and the kick is undone", async () => {
      await check(
        v,
        [
          pl(v, "PA", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          member("KICK", BOB, CHARLIE, "leave"),
          member("XBAN", ALICE, BOB, "ban"),
        ],
        [
          ["END", "XBAN", "PA", "START"],
          ["END", "KICK", "PA"],
        ],
        ["PA", "XBAN"],
      );
    });

    it("ban race: a moderator banned concurrently loses both the ban and the kick he sent meanwhile", async () => {
      await check(
        v,
        [
          pl(v, "PA", ALICE, { [ALICE]: 100, [BOB]: 50 }),
          member("BANC", BOB, CHARLIE, "ban"),
          member("KICKZ", BOB, ZARA, "leave"),
          member("XBANB", ALICE, BOB, "ban"),
        ],
        [
          ["END", "XBANB", "PA", "START"],
          ["END", "KICKZ", "BANC", "PA"],
        ],
        ["PA", "XBANB"],
      );
    });

    it("kick after a rejoin: the events a kick cites are replayed before it, not after it by mainline", async () => {
      // Charlie leaves and rejoins; Alice kicks him. The other fork only saw
      // his first join. His leave and rejoin are not power events, but the kick
      // cites the rejoin, so both sort (topologically) ahead of the kick.
      await check(
        v,
        [member("LC", CHARLIE, CHARLIE, "leave"), member("JC", CHARLIE, CHARLIE, "join"), member("KC", ALICE, CHARLIE, "leave")],
        [
          ["END", "KC", "JC", "LC", "START"],
          ["END", "START"],
        ],
        ["KC"],
      );
    });

    it("concurrent joins (no real conflict) are both kept", async () => {
      await check(
        v,
        [member("ME", EVELYN, EVELYN, "join"), topic("T1", ALICE)],
        [
          ["END", "ME", "START"],
          ["END", "T1", "START"],
        ],
        ["ME", "T1"],
      );
    });
  });
}

describe("state resolution v2: trivial and unconflicted inputs", () => {
  const v = version("11");

  it("returns the unconflicted state without fetching anything when all sets agree", async () => {
    const room = await buildRoom(v, [], [["END", "START"]]);
    const state = room.stateAfter.get("START") as Map<string, string>;
    const source = room.dag.source();
    const resolved = await resolveState(v, [state, new Map(state), new Map(state)], source);
    expect(resolved).to.deep.equal(state);
    expect(source.calls).to.equal(0);
  });

  it("returns an empty state for no state sets and a copy of a single one", async () => {
    const source = new InMemoryEventSource();
    expect(await resolveState(v, [], source)).to.deep.equal(new Map());
    const only = new Map([[stateTuple("m.room.topic", ""), "$nowhere"]]);
    const resolved = await resolveState(v, [only], source);
    expect(resolved).to.deep.equal(only);
    expect(resolved).to.not.equal(only);
  });

  it("resolves Bob and Charlie joining at the same time to both memberships", async () => {
    const dag = new Dag(v);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: { creator: ALICE }, prev: [], auth: [] });
    dag.add({ ...member("IMA", ALICE, ALICE, "join"), prev: ["CREATE"], auth: ["CREATE"] });
    dag.add({ id: "IJR", sender: ALICE, type: "m.room.join_rules", stateKey: "", content: { join_rule: "public" }, prev: ["IMA"], auth: ["CREATE", "IMA"] });
    dag.add({ ...member("IMB", BOB, BOB, "join"), prev: ["IJR"], auth: ["CREATE", "IJR"] });
    dag.add({ ...member("IMC", CHARLIE, CHARLIE, "join"), prev: ["IJR"], auth: ["CREATE", "IJR"] });
    const atBob = dag.stateOf(["CREATE", "IMA", "IJR", "IMB"]);
    const atCharlie = dag.stateOf(["CREATE", "IMA", "IJR", "IMC"]);
    const resolved = await resolveState(v, [atBob, atCharlie], dag.source());
    expect(resolved).to.deep.equal(dag.stateOf(["CREATE", "IMA", "IJR", "IMB", "IMC"]));
  });

  it("drops a conflicted event the source does not have", async () => {
    const room = await buildRoom(v, [topic("T1", ALICE)], [["END", "T1", "START"]]);
    const start = room.stateAfter.get("START") as Map<string, string>;
    const withGhost = new Map(start).set(stateTuple("m.room.topic", ""), "$ghost:example.com");
    const resolved = await resolveState(v, [room.stateAfter.get("T1") as Map<string, string>, withGhost], room.dag.source());
    expect(resolved.get(stateTuple("m.room.topic", ""))).to.equal(room.dag.id("T1"));
  });
});
