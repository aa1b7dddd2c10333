// The auth DAG (events linked by auth_events) as far as one resolution needs
// it, and the set computations state resolution v2 defines on it: auth
// chains, the auth difference and (v2.1) the conflicted state subgraph.
//
// Loading walks the DAG breadth-first and asks the source for a whole depth
// level at once, so a PostgreSQL-backed source makes one query per level
// rather than one per event. Loaded events are numbered and their auth edges
// kept as index arrays, so the walks (which cover the whole room state) run
// over typed arrays with an explicit stack: no recursion, no string hashing,
// each event and edge visited once per walk.
import type { RoomEvent, StateKeyTuple, StateMap } from "../events.ts";
import type { EventSource } from "./event-source.ts";

export class AuthGraph {
  private readonly index = new Map<string, number>();
  private readonly nodes: RoomEvent[] = [];
  /**
   * Auth edges in compressed form: the loaded auth events of node i (no
   * duplicates) are edgeTargets[edgeStart[i] .. edgeStart[i + 1]). Nodes are
   * numbered in load order and their edges appended in the same order.
   */
  private readonly edgeStart: number[] = [0];
  private readonly edgeTargets: number[] = [];
  private readonly missingIds = new Set<string>();
  private readonly source: EventSource;

  constructor(source: EventSource) {
    this.source = source;
  }

  get size(): number {
    return this.nodes.length;
  }

  get(id: string): RoomEvent | undefined {
    const at = this.index.get(id);
    return at === undefined ? undefined : this.nodes[at];
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Ids that were asked for (as roots or auth events) and that the source does not know. */
  get missing(): ReadonlySet<string> {
    return this.missingIds;
  }

  /** Loads `roots` and everything reachable from them through auth_events, one fetch per depth level. */
  async include(roots: Iterable<string>): Promise<void> {
    const added: number[] = [];
    const missing = this.missingIds;
    const isNew = (id: string): boolean => !this.index.has(id) && (missing.size === 0 || !missing.has(id));
    let queued = new Set<string>();
    for (const id of roots) if (isNew(id)) queued.add(id);
    while (queued.size > 0) {
      const batch = [...queued];
      const fetched = await this.source.getEvents(batch);
      const levelStart = added.length;
      for (const id of batch) {
        const event = fetched.get(id);
        if (event === undefined) {
          this.missingIds.add(id);
          continue;
        }
        this.index.set(id, this.nodes.length);
        added.push(this.nodes.length);
        this.nodes.push(event);
      }
      // Everything in this level is now loaded or known missing, so only the next level needs a queue.
      queued = new Set<string>();
      for (let k = levelStart; k < added.length; k++) {
        for (const authId of (this.nodes[added[k] as number] as RoomEvent).authEventIds) {
          if (isNew(authId)) queued.add(authId);
        }
      }
    }
    const targets = this.edgeTargets;
    for (const at of added) {
      const from = targets.length;
      for (const authId of (this.nodes[at] as RoomEvent).authEventIds) {
        const target = this.index.get(authId);
        if (target !== undefined && targets.indexOf(target, from) === -1) targets.push(target);
      }
      this.edgeStart.push(targets.length);
    }
  }

  private indicesOf(ids: Iterable<string>): number[] {
    const out: number[] = [];
    for (const id of ids) {
      const at = this.index.get(id);
      if (at !== undefined) out.push(at);
    }
    return out;
  }

  private idsOf(indices: Iterable<number>): Set<string> {
    const out = new Set<string>();
    for (const at of indices) out.add((this.nodes[at] as RoomEvent).eventId);
    return out;
  }

  /**
   * Marks the nodes reachable from `roots` through auth edges, roots included,
   * and lists them. The walk does not enter nodes marked in `stopAt`: callers
   * pass a set closed under auth edges, so everything behind it is in it too.
   */
  private walk(roots: Iterable<number>, stopAt?: Uint8Array): { marked: Uint8Array; list: number[] } {
    const marked = new Uint8Array(this.nodes.length);
    const list: number[] = [];
    for (const root of roots) {
      if (marked[root] === 0 && (stopAt === undefined || stopAt[root] === 0)) {
        marked[root] = 1;
        list.push(root);
      }
    }
    // `list` doubles as the work queue: nodes are appended once, when first marked.
    const { edgeStart, edgeTargets } = this;
    for (let k = 0; k < list.length; k++) {
      const at = list[k] as number;
      for (let e = edgeStart[at] as number; e < (edgeStart[at + 1] as number); e++) {
        const next = edgeTargets[e] as number;
        if (marked[next] === 0 && (stopAt === undefined || stopAt[next] === 0)) {
          marked[next] = 1;
          list.push(next);
        }
      }
    }
    return { marked, list };
  }

  /** The loaded events reachable from `roots` through auth_events, the roots included. */
  ancestors(roots: Iterable<string>): Set<string> {
    return this.idsOf(this.walk(this.indicesOf(roots)).list);
  }

  /** The auth chain of one event as the spec defines it: its auth events, theirs, and so on (not the event itself). */
  authChain(id: string): Set<string> {
    const event = this.get(id);
    const chain = event === undefined ? new Set<string>() : this.ancestors(event.authEventIds);
    chain.delete(id);
    return chain;
  }

  /**
   * ∪Cᵢ − ∩Cᵢ where Cᵢ is the full auth chain of state set i.
   *
   * Cᵢ counts the state events of set i themselves (as Synapse does): an
   * event that every set holds is then never in the difference merely because
   * only some sets' other events cite it.
   *
   * Every unconflicted event is in every set, so the chain behind the
   * unconflicted state lies in every Cᵢ. Only the walks from each set's events
   * under conflicted keys, stopping there, can find events that some Cᵢ
   * lacks; those walks cover just the forked part of the DAG.
   */
  authDifference(stateSets: readonly StateMap[], unconflicted: StateMap, conflictedKeys: readonly StateKeyTuple[]): Set<string> {
    const common = this.walk(this.indicesOf(unconflicted.values())).marked;
    const counts = new Uint32Array(this.nodes.length);
    const reached: number[] = [];
    for (const stateSet of stateSets) {
      const own: string[] = [];
      for (const key of conflictedKeys) {
        const id = stateSet.get(key);
        if (id !== undefined) own.push(id);
      }
      for (const at of this.walk(this.indicesOf(own), common).list) {
        const count = (counts[at] as number) + 1;
        counts[at] = count;
        if (count === 1) reached.push(at);
      }
    }
    return this.idsOf(reached.filter((at) => (counts[at] as number) < stateSets.length));
  }

  /**
   * v2.1: every event on an auth_events path from one conflicted event to
   * another, endpoints included: the events that are both an ancestor-or-self
   * and a descendant-or-self of conflicted events. Walk back from the
   * conflicted events, then forward from them inside what was found.
   */
  conflictedSubgraph(conflicted: Iterable<string>): Set<string> {
    const starts = this.indicesOf(conflicted);
    const { list } = this.walk(starts);

    // Reverse edges among the nodes behind, in compressed form: cited node → citing nodes.
    // (Every auth event of a node behind is behind too, so all its edges count.)
    const n = this.nodes.length;
    const { edgeStart, edgeTargets } = this;
    const offsets = new Int32Array(n + 1);
    for (const at of list) {
      for (let e = edgeStart[at] as number; e < (edgeStart[at + 1] as number); e++) {
        const next = edgeTargets[e] as number;
        offsets[next + 1] = (offsets[next + 1] as number) + 1;
      }
    }
    for (let i = 0; i < n; i++) offsets[i + 1] = (offsets[i + 1] as number) + (offsets[i] as number);
    const fill = offsets.slice(0, n);
    const citedBy = new Int32Array(offsets[n] as number);
    for (const at of list) {
      for (let e = edgeStart[at] as number; e < (edgeStart[at + 1] as number); e++) {
        const next = edgeTargets[e] as number;
        const slot = fill[next] as number;
        citedBy[slot] = at;
        fill[next] = slot + 1;
      }
    }

    const inSubgraph = new Uint8Array(n);
    const found: number[] = [];
    for (const at of starts) {
      if (inSubgraph[at] === 0) {
        inSubgraph[at] = 1;
        found.push(at);
      }
    }
    for (let k = 0; k < found.length; k++) {
      const at = found[k] as number;
      for (let e = offsets[at] as number; e < (offsets[at + 1] as number); e++) {
        const child = citedBy[e] as number;
        if (inSubgraph[child] === 0) {
          inSubgraph[child] = 1;
          found.push(child);
        }
      }
    }
    return this.idsOf(found);
  }
}
