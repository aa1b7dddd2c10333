// The orderings of state resolution v2: the heap behind Kahn's algorithm, the
// reverse topological power ordering and the mainline ordering.
import { expect } from "chai";
import fc from "fast-check";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { AuthGraph } from "../../../../server/protocol/state-res/auth-chain.ts";
import { BinaryHeap } from "../../../../server/protocol/state-res/heap.ts";
import { mainlineOrder } from "../../../../server/protocol/state-res/mainline.ts";
import { reverseTopologicalPowerOrder } from "../../../../server/protocol/state-res/power-order.ts";
import { senderPowerLevel } from "../../../../server/protocol/state-res/power.ts";
import { ALICE, BOB, CHARLIE, Dag, powerLevels, topic } from "./dag.ts";

const V11 = getRoomVersion("11") as RoomVersion;
const V12 = getRoomVersion("12") as RoomVersion;

async function graphOf(dag: Dag): Promise<AuthGraph> {
  const graph = new AuthGraph(dag.source());
  await graph.include(dag.events.keys());
  return graph;
}

describe("binary heap", () => {
  it("pops in comparator order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (values) => {
        const heap = new BinaryHeap<number>((a, b) => a - b);
        for (const v of values) heap.push(v);
        const out: number[] = [];
        for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
        expect(out).to.deep.equal([...values].sort((a, b) => a - b));
      }),
    );
  });
});

describe("reverse topological power ordering", () => {
  it("is the smallest topological order; equal power and time fall back to event ids", async () => {
    // Synapse's lexicographical sort case: l → o, m → n, m → o, n → o, p → o.
    const dag = new Dag(V11);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [], ts: 0 });
    const edges: [string, string[]][] = [["o", []], ["l", ["o"]], ["n", ["o"]], ["m", ["n", "o"]], ["p", ["o"]]];
    for (const [node, auth] of edges) dag.add({ ...topic(node, BOB), prev: [], auth, ts: 0 });
    const order = reverseTopologicalPowerOrder(["l", "m", "n", "o", "p"].map((n) => dag.id(n)), await graphOf(dag), V11, undefined);
    expect(order.map((id) => dag.nodeOf(id))).to.deep.equal(["o", "l", "n", "m", "p"]);
  });

  it("puts higher sender power first, then earlier timestamps, but never before an auth event", async () => {
    const dag = new Dag(V11);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [] });
    dag.add({ ...powerLevels("P", ALICE, { [ALICE]: 100, [BOB]: 50 }), prev: [], auth: ["CREATE"], ts: 1 });
    dag.add({ ...topic("bob_early", BOB), prev: [], auth: ["CREATE", "P"], ts: 2 });
    dag.add({ ...topic("charlie_earliest", CHARLIE), prev: [], auth: ["CREATE", "P"], ts: 0 });
    dag.add({ ...topic("alice_late", ALICE), prev: [], auth: ["CREATE", "P"], ts: 9 });
    dag.add({ ...topic("charlie_cited", CHARLIE), prev: [], auth: ["CREATE", "P"], ts: 8 });
    dag.add({ ...topic("alice_citing", ALICE), prev: [], auth: ["CREATE", "P", "charlie_cited"], ts: 3 });
    const graph = await graphOf(dag);
    const ids = ["bob_early", "charlie_earliest", "alice_late", "charlie_cited", "alice_citing"].map((n) => dag.id(n));
    const order = reverseTopologicalPowerOrder(ids, graph, V11, undefined).map((id) => dag.nodeOf(id));
    expect(order).to.deep.equal(["alice_late", "bob_early", "charlie_earliest", "charlie_cited", "alice_citing"]);
  });

  it("reads the sender's power from the event's own auth events, with v12 creators above all", async () => {
    const dag = new Dag(V12);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: { additional_creators: [CHARLIE] }, prev: [], auth: [] });
    dag.add({ ...powerLevels("P", ALICE, { [BOB]: 100 }), prev: [], auth: [] });
    dag.add({ ...topic("T", BOB), prev: [], auth: ["P"] });
    dag.add({ ...topic("U", CHARLIE), prev: [], auth: ["P"] });
    const graph = await graphOf(dag);
    const create = dag.node("CREATE");
    expect(senderPowerLevel(dag.node("T"), graph, V12, create)).to.equal(100);
    expect(senderPowerLevel(dag.node("U"), graph, V12, create)).to.equal(Number.POSITIVE_INFINITY);
    expect(senderPowerLevel(dag.node("P"), graph, V12, create)).to.equal(Number.POSITIVE_INFINITY);
  });

  it("gives the creator 100 when the event cites no power levels (before v12)", async () => {
    const dag = new Dag(V11);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [] });
    dag.add({ ...topic("A", ALICE), prev: [], auth: ["CREATE"] });
    dag.add({ ...topic("B", BOB), prev: [], auth: ["CREATE"] });
    const graph = await graphOf(dag);
    expect(senderPowerLevel(dag.node("A"), graph, V11, undefined)).to.equal(100);
    expect(senderPowerLevel(dag.node("B"), graph, V11, undefined)).to.equal(0);
  });
});

describe("mainline ordering", () => {
  it("orders by where each event's power levels chain meets the mainline, then time, then id", async () => {
    // Mainline of P2: P2 (0), P1 (1), P0 (2). Q branches off P0.
    const dag = new Dag(V11);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [] });
    dag.add({ ...powerLevels("P0", ALICE, {}), prev: [], auth: ["CREATE"] });
    dag.add({ ...powerLevels("P1", ALICE, {}), prev: [], auth: ["CREATE", "P0"] });
    dag.add({ ...powerLevels("P2", ALICE, {}), prev: [], auth: ["CREATE", "P1"] });
    dag.add({ ...powerLevels("Q", ALICE, {}), prev: [], auth: ["CREATE", "P0"] });
    dag.add({ ...topic("on_p2", ALICE), prev: [], auth: ["CREATE", "P2"], ts: 1 });
    dag.add({ ...topic("on_p1", ALICE), prev: [], auth: ["CREATE", "P1"], ts: 2 });
    dag.add({ ...topic("on_q", ALICE), prev: [], auth: ["CREATE", "Q"], ts: 3 });
    dag.add({ ...topic("on_p0", ALICE), prev: [], auth: ["CREATE", "P0"], ts: 4 });
    dag.add({ ...topic("on_none", ALICE), prev: [], auth: ["CREATE"], ts: 5 });
    dag.add({ ...topic("on_p1_earlier", ALICE), prev: [], auth: ["CREATE", "P1"], ts: 0 });
    const graph = await graphOf(dag);
    const ids = ["on_p2", "on_p1", "on_q", "on_p0", "on_none", "on_p1_earlier"].map((n) => dag.id(n));
    const order = mainlineOrder(ids, dag.id("P2"), graph).map((id) => dag.nodeOf(id));
    expect(order).to.deep.equal(["on_none", "on_q", "on_p0", "on_p1_earlier", "on_p1", "on_p2"]);
  });

  it("without resolved power levels orders by time and id alone", async () => {
    const dag = new Dag(V11);
    dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [] });
    dag.add({ ...topic("b", ALICE), prev: [], auth: ["CREATE"], ts: 1 });
    dag.add({ ...topic("a", ALICE), prev: [], auth: ["CREATE"], ts: 1 });
    dag.add({ ...topic("c", ALICE), prev: [], auth: ["CREATE"], ts: 0 });
    const order = mainlineOrder(["a", "b", "c"].map((n) => dag.id(n)), undefined, await graphOf(dag));
    expect(order.map((id) => dag.nodeOf(id))).to.deep.equal(["c", "a", "b"]);
  });
});
