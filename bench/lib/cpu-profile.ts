// Summarises a V8 CPU profile (node --cpu-prof) of our server: self time by
// function and by area of the code (our folders, dependencies, Node itself,
// garbage collection), so a figure where we lose can name where the time went.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "../../spec/support/repo-root.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  /**
   * Self time by area: server/sync, server/storage, node_modules/pg, (garbage
   * collector) … Time in native code and in Node's own modules (a socket
   * write, JSON parsing) counts for the nearest caller outside them.
   */
  byArea: Array<{ area: string; ms: number; share: number }>;
  byFunction: Array<{ function: string; ms: number; share: number }>;
}

function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith("(") ? name : "(native)";
  if (url.startsWith("node:")) return "node:internal";
  const path = url.startsWith("file:") ? relative(repoRoot, fileURLToPath(url)) : url;
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (modules) return `node_modules/${modules[1]}`;
  const parts = path.split("/");
  return parts.length > 2 ? parts.slice(0, 2).join("/") : parts[0]!;
}

export function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const caller = (id: number): ProfileNode => {
    let node = byId.get(id)!;
    const inside = (n: ProfileNode) => !n.callFrame.url || n.callFrame.url.startsWith("node:");
    while (inside(node) && !node.callFrame.functionName.startsWith("(") && parent.has(node.id)) node = byId.get(parent.get(node.id)!)!;
    return node;
  };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") continue;
    total += us;
    const js = caller(id).callFrame;
    const area = areaOf(js.url, js.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = frame.url ? `${areaOf(frame.url, "")}/${frame.url.split("/").pop()}:${frame.lineNumber + 1}` : "";
    const key = `${frame.functionName || "(anonymous)"} ${where}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const ranked = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: Math.round(total / 1000),
    byArea: ranked(areas).map(([area, us]) => ({ area, ms: Math.round(us / 1000), share: Math.round((1000 * us) / total) / 10 })),
    byFunction: ranked(functions).map(([fn, us]) => ({ function: fn, ms: Math.round(us / 1000), share: Math.round((1000 * us) / total) / 10 })),
  };
}
