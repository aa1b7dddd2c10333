// Auth chains, the auth difference and the conflicted state subgraph on small
// hand-made auth DAGs, plus batching and deep chains.
import { expect } from "chai";
import { getRoomVersion, type RoomVersion } from "../../../../server/protocol/room-versions.ts";
import { AuthGraph } from "../../../../server/protocol/state-res/auth-chain.ts";
import { CachingEventSource, InMemoryEventSource } from "../../../../server/protocol/state-res/event-source.ts";
import { separate } from "../../../../server/protocol/state-res/v2.ts";
import { ALICE, Dag } from "./dag.ts";

const V11 = getRoomVersion("11") as RoomVersion;

/** A DAG of topic-like state events (type = node id) with the given auth edges, parents listed first. */
function authDag(edges: Record<string, string[]>): Dag {
  const dag = new Dag(V11);
  dag.add({ id: "CREATE", sender: ALICE, type: "m.room.create", stateKey: "", content: {}, prev: [], auth: [] });
  for (const [node, auth] of Object.entries(edges)) {
    dag.add({ id: node, sender: ALICE, type: node, stateKey: "", content: {}, prev: [], auth });
  }
  return dag;
}

function nodes(dag: Dag, ids: Iterable<string>): string[] {
  return [...ids].map((id) => dag.nodeOf(id)).sort();
}

function difference(graph: AuthGraph, sets: Map<string, string>[]): Set<string> {
  const { unconflicted, conflictedKeys } = separate(sets);
  return graph.authDifference(sets, unconflicted, conflictedKeys);
}

async function loaded(dag: Dag): Promise<AuthGraph> {
  const graph = new AuthGraph(dag.source());
  await graph.include(dag.events.keys());
  return graph;
}

describe("auth chains", () => {
  it("holds the auth events, theirs, and so on, but not the event itself", async () => {
    const dag = authDag({ A: [], B: ["A"], C: ["B"], D: ["C", "A"] });
    const graph = await loaded(dag);
    expect(nodes(dag, graph.authChain(dag.id("D")))).to.deep.equal(["A", "B", "C"]);
    expect(nodes(dag, graph.authChain(dag.id("A")))).to.deep.equal([]);
  });

  it("loads one batch per auth depth and each event once", async () => {
    const dag = authDag({ A: [], B: ["A"], C: ["A"], D: ["B", "C"], E: ["D", "A"] });
    const source = new InMemoryEventSource(dag.events.values());
    const graph = new AuthGraph(new CachingEventSource(source));
    await graph.include([dag.id("E")]);
    expect(graph.size).to.equal(5);
    expect(source.calls).to.equal(3); // [E], [D, A], [B, C]
    expect(source.requested).to.equal(5);
  });

  it("records ids the source does not know", async () => {
    const dag = authDag({ A: [] });
    const graph = new AuthGraph(dag.source());
    await graph.include([dag.id("A"), "$missing:example.com"]);
    expect([...graph.missing]).to.deep.equal(["$missing:example.com"]);
  });

  it("walks a 20 000-deep chain without recursion", async () => {
    const edges: Record<string, string[]> = { N0: [] };
    for (let i = 1; i < 20_000; i++) edges[`N${i}`] = [`N${i - 1}`];
    const dag = authDag(edges);
    const graph = new AuthGraph(dag.source());
    await graph.include([dag.id("N19999")]);
    expect(graph.authChain(dag.id("N19999")).size).to.equal(19_999);
  });
});

describe("auth difference", () => {
  // Synapse's cases: a state set's own events count as part of its auth chain.
  it("is the events only some state sets' full auth chains contain (C → B → A)", async () => {
    const dag = authDag({ a: [], b: ["a"], c: ["b"] });
    const graph = await loaded(dag);
    const sets = [dag.stateOf(["a", "b"]), dag.stateOf(["c"])];
    expect(nodes(dag, difference(graph, sets))).to.deep.equal(["c"]);
  });

  it("covers a longer unshared chain (D → C → B → A)", async () => {
    const dag = authDag({ a: [], b: ["a"], c: ["b"], d: ["c"] });
    const graph = await loaded(dag);
    const sets = [dag.stateOf(["a", "b"]), dag.stateOf(["c", "d"])];
    expect(nodes(dag, difference(graph, sets))).to.deep.equal(["c", "d"]);
  });

  it("leaves out everything behind the unconflicted state", async () => {
    // x and y fork from base; u is unconflicted and cites x, so x is in every chain.
    const dag = authDag({ base: [], x: ["base"], y: ["base"], u: ["x"], k1: ["x"], k2: ["y"] });
    const graph = await loaded(dag);
    const sets = [dag.stateOf(["u", "k1"]), dag.stateOf(["u", "k2"])];
    expect(nodes(dag, difference(graph, sets))).to.deep.equal(["k1", "k2", "y"]);
  });
});

describe("conflicted state subgraph", () => {
  it("is every event on an auth path between two conflicted events, endpoints included", async () => {
    //   C1 → X → Y → C2 → W,   C1 → Z → W,   V → C2 (V cites C2 but is not cited by a conflicted event)
    const dag = authDag({ W: [], C2: ["W"], Y: ["C2"], X: ["Y"], Z: ["W"], C1: ["X", "Z"], V: ["C2"] });
    const graph = await loaded(dag);
    const subgraph = graph.conflictedSubgraph([dag.id("C1"), dag.id("C2")]);
    expect(nodes(dag, subgraph)).to.deep.equal(["C1", "C2", "X", "Y"]);
  });

  it("is just the conflicted events when no path joins them", async () => {
    const dag = authDag({ R: [], A: ["R"], B: ["R"] });
    const graph = await loaded(dag);
    expect(nodes(dag, graph.conflictedSubgraph([dag.id("A"), dag.id("B")]))).to.deep.equal(["A", "B"]);
  });
});
