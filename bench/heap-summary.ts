// Summarises V8 heap snapshots (not a test): run with
//   bash scripts/run.sh bench/heap-summary.ts BEFORE.heapsnapshot [AFTER.heapsnapshot] [--top 40]
// Prints self size and count per constructor (node type + name), and with two
// snapshots the growth between them, largest first; then the largest Map and
// Set objects of the last snapshot by their entry tables, which is where an
// unbounded cache shows up.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  size: number;
}

function load(path: string): Snapshot {
  return JSON.parse(readFileSync(path, "utf8")) as Snapshot;
}

function groups(s: Snapshot): Map<string, Group> {
  const fields = s.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, Group>();
  for (let i = 0; i < s.nodes.length; i += stride) {
    const type = types[s.nodes[i + typeAt]!]!;
    let name = s.strings[s.nodes[i + nameAt]!]!;
    // Strings and code are grouped by type only: their names are their contents.
    if (type === "string" || type === "concatenated string" || type === "sliced string" || type === "code" || type === "number") name = "";
    const key = `${type}:${name.slice(0, 80)}`;
    const g = out.get(key) ?? { count: 0, size: 0 };
    g.count += 1;
    g.size += s.nodes[i + sizeAt]!;
    out.set(key, g);
  }
  return out;
}

/** Map/Set objects with the size of the table they point to ("table" internal edge). */
function largestCollections(s: Snapshot, top: number): Array<{ name: string; tableBytes: number; id: number }> {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const stride = nf.length;
  const estride = ef.length;
  const types = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ["type", "name", "id", "self_size", "edge_count"].map((f) => nf.indexOf(f)) as [number, number, number, number, number];
  const [eTypeAt, eNameAt, eToAt] = ["type", "name_or_index", "to_node"].map((f) => ef.indexOf(f)) as [number, number, number];
  const out: Array<{ name: string; tableBytes: number; id: number }> = [];
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += stride) {
    const edges = s.nodes[i + edgeCountAt]!;
    const name = s.strings[s.nodes[i + nameAt]!]!;
    if (types[s.nodes[i + typeAt]!] === "object" && (name === "Map" || name === "Set")) {
      for (let e = edge; e < edge + edges * estride; e += estride) {
        const et = edgeTypes[s.edges[e + eTypeAt]!];
        if (et === "internal" && s.strings[s.edges[e + eNameAt]!] === "table") {
          out.push({ name, tableBytes: s.nodes[s.edges[e + eToAt]! + sizeAt]!, id: s.nodes[i + idAt]! });
        }
      }
    }
    edge += edges * estride;
  }
  return out.sort((a, b) => b.tableBytes - a.tableBytes).slice(0, top);
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "40" } } });
const top = Number(values.top);
const [firstPath, secondPath] = positionals;
if (!firstPath) throw new Error("usage: heap-summary.ts BEFORE.heapsnapshot [AFTER.heapsnapshot]");
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const first = load(firstPath);
const a = groups(first);
const total = (g: Map<string, Group>) => [...g.values()].reduce((sum, x) => sum + x.size, 0);
let last = first;
if (!secondPath) {
  console.log(`${firstPath}: ${kib(total(a))} in ${first.nodes.length / first.snapshot.meta.node_fields.length} nodes`);
  for (const [key, g] of [...a].sort((x, y) => y[1].size - x[1].size).slice(0, top)) console.log(`${kib(g.size).padStart(14)} ${String(g.count).padStart(8)}  ${key}`);
} else {
  const second = load(secondPath);
  last = second;
  const b = groups(second);
  console.log(`self size ${kib(total(a))} -> ${kib(total(b))}`);
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
    const before = a.get(key) ?? { count: 0, size: 0 };
    const after = b.get(key) ?? { count: 0, size: 0 };
    return { key, dSize: after.size - before.size, dCount: after.count - before.count, after };
  });
  console.log("growth by constructor (self size, count):");
  for (const r of rows.sort((x, y) => y.dSize - x.dSize).slice(0, top)) {
    console.log(`${kib(r.dSize).padStart(14)} ${String(r.dCount).padStart(8)}  ${r.key}  (now ${kib(r.after.size)}, ${r.after.count})`);
  }
}
console.log("largest Map/Set tables:");
for (const c of largestCollections(last, 15)) console.log(`${kib(c.tableBytes).padStart(14)}  ${c.name} @${c.id}`);
