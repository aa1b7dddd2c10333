// The figures of a run, side by side: one row per figure with both servers'
// values and their ratio (ours ÷ Synapse), as a markdown table; and the list
// of figures a run must produce (the quick run checks it).
import type { DeliveryRun } from "./delivery-run.ts";
import type { ProfileSummary } from "./cpu-profile.ts";
import type { NodeMemory } from "./node-memory.ts";
import type { ServerKind } from "./servers.ts";
import type { CeilingFigures } from "../workloads/p2-ceiling.ts";
import type { P1Result } from "../workloads/p1-latency.ts";
import type { runP2 } from "../workloads/p2-throughput.ts";
import type { Measured } from "./context.ts";
import type { P3Figures } from "../workloads/p3-initial-sync.ts";
import type { IdleFigures, SocketFigures } from "../workloads/p4-memory.ts";
import type { P5Result } from "../workloads/p5-fanout.ts";
import type { P6Figures } from "../workloads/p6-state-growth.ts";
import type { P7Result } from "../workloads/p7-federation-join.ts";

export interface ServerResults {
  label: string;
  startMs: number;
  settings: Record<string, unknown>;
  idle?: IdleFigures;
  /** Our server only: RSS against the V8 heap, at idle, after registration, after P1. */
  nodeMemory?: Record<string, NodeMemory>;
  /** RSS once the users are registered, before P1 (password hashing leaves memory behind). */
  afterRegistrationRssMiB?: number;
  p1?: P1Result;
  p2?: Awaited<ReturnType<typeof runP2>>;
  p3?: Measured<P3Figures>;
  p4?: SocketFigures;
  p5?: P5Result;
  p6?: Measured<P6Figures>;
  /** With --profile: where our server spent its CPU time over the whole run. */
  cpuProfile?: ProfileSummary & { file: string };
  /** Workloads that failed, with the error. */
  errors: Record<string, string>;
}

export interface Row {
  workload: string;
  figure: string;
  unit: string;
  /** Which direction is better, for reading the ratio. */
  better: "lower" | "higher";
  myelin: number | undefined;
  /** undefined where Synapse has no counterpart (our stream is compared with its long-poll). */
  synapse: number | undefined;
  /** True when only our server has this figure (P4's idle streams). */
  oursOnly?: boolean;
  ratio?: number;
}

function byTransport(runs: DeliveryRun[] | undefined, transport: string): DeliveryRun | undefined {
  return runs?.find((r) => r.transport === transport);
}

function deliveryRows(workload: string, ours: DeliveryRun | undefined, theirs: DeliveryRun | undefined, transport: string): Row[] {
  const vs = transport === "stream" ? " (ours: stream; Synapse: long-poll)" : " (long-poll)";
  const lower = (figure: string, unit: string, get: (r: DeliveryRun) => number): Row => ({
    workload,
    figure: figure + vs,
    unit,
    better: "lower",
    myelin: ours && get(ours),
    synapse: theirs && get(theirs),
  });
  return [
    lower("delivery p50", "ms", (r) => r.result.latency.p50),
    lower("delivery p99", "ms", (r) => r.result.latency.p99),
    lower("delivery max", "ms", (r) => r.result.latency.max),
    { ...lower("delivered", "%", (r) => (100 * r.result.delivered) / Math.max(1, r.result.expected)), better: "higher" },
    lower("send p50", "ms", (r) => r.result.send.p50),
    lower("server peak RSS", "MiB", (r) => r.server.peakRssMiB),
    lower("server CPU", "s", (r) => r.server.cpuSeconds),
    lower("PostgreSQL CPU", "s", (r) => r.postgres.cpuSeconds),
    lower("SQL statements per message", "", (r) => r.statementsPerMessage),
  ];
}

export function rows(m: ServerResults, s: ServerResults, ceiling: CeilingFigures | undefined): Row[] {
  const out: Row[] = [];
  for (const transport of ["long-poll", "stream"]) {
    out.push(...deliveryRows("P1", byTransport(m.p1?.runs, transport), byTransport(s.p1?.runs, "long-poll"), transport));
  }
  const p2 = (label: string, unit: string, better: Row["better"], get: (r: NonNullable<ServerResults["p2"]>) => number): Row => ({
    workload: "P2",
    figure: label,
    unit,
    better,
    myelin: m.p2 && get(m.p2),
    synapse: s.p2 && get(s.p2),
  });
  out.push(
    p2("persisted messages/s", "/s", "higher", (r) => r.result.messagesPerSecond),
    p2("share of the PostgreSQL batched-insert ceiling", "%", "higher", (r) => (ceiling ? (100 * r.result.messagesPerSecond) / ceiling.batchedRowsPerSecond : Number.NaN)),
    p2("send p50", "ms", "lower", (r) => r.result.send.p50),
    p2("send p99", "ms", "lower", (r) => r.result.send.p99),
    p2("server CPU per message", "ms", "lower", (r) => (1000 * r.server.cpuSeconds) / Math.max(1, r.result.persisted)),
    p2("PostgreSQL CPU per message", "ms", "lower", (r) => (1000 * r.postgres.cpuSeconds) / Math.max(1, r.result.persisted)),
    p2("SQL statements per message", "", "lower", (r) => r.statementsPerMessage),
    p2("server peak RSS", "MiB", "lower", (r) => r.server.peakRssMiB),
  );
  const p3 = (label: string, unit: string, get: (r: P3Figures) => number): Row => ({ workload: "P3", figure: label, unit, better: "lower", myelin: m.p3 && get(m.p3.result), synapse: s.p3 && get(s.p3.result) });
  out.push(
    p3("lazy members: first request", "ms", (r) => r.lazy.firstMs),
    p3("lazy members: median", "ms", (r) => r.lazy.medianMs),
    p3("lazy members: response size", "KiB", (r) => r.lazy.bytes / 1024),
    p3("full member state: first request", "ms", (r) => r.full.firstMs),
    p3("full member state: median", "ms", (r) => r.full.medianMs),
    p3("full member state: response size", "KiB", (r) => r.full.bytes / 1024),
  );
  const p1Peak = (r: ServerResults) => (r.p1 ? Math.max(...r.p1.runs.filter((x) => x.transport === "long-poll").map((x) => x.server.peakRssMiB)) : undefined);
  const p1PgPeak = (r: ServerResults) => (r.p1 ? Math.max(...r.p1.runs.filter((x) => x.transport === "long-poll").map((x) => x.postgres.peakPssMiB)) : undefined);
  out.push(
    { workload: "P4", figure: "idle RSS after start", unit: "MiB", better: "lower", myelin: m.idle?.rssMiB, synapse: s.idle?.rssMiB },
    { workload: "P4", figure: "RSS after registering the users", unit: "MiB", better: "lower", myelin: m.afterRegistrationRssMiB, synapse: s.afterRegistrationRssMiB },
    { workload: "P4", figure: "PostgreSQL backends' PSS, idle", unit: "MiB", better: "lower", myelin: m.idle?.postgresPssMiB, synapse: s.idle?.postgresPssMiB },
    { workload: "P4", figure: "peak RSS during P1 (long-poll)", unit: "MiB", better: "lower", myelin: p1Peak(m), synapse: p1Peak(s) },
    { workload: "P4", figure: "PostgreSQL backends' peak PSS during P1", unit: "MiB", better: "lower", myelin: p1PgPeak(m), synapse: p1PgPeak(s) },
    { workload: "P4", figure: `RSS with ${m.p4?.sockets ?? "N"} idle streams`, unit: "MiB", better: "lower", myelin: m.p4?.rssAfterMiB, synapse: undefined, oursOnly: true },
    { workload: "P4", figure: "RSS per idle stream", unit: "KiB", better: "lower", myelin: m.p4?.kibPerSocket, synapse: undefined, oursOnly: true },
  );
  const sizes = m.p5?.sizes.map((x) => x.members) ?? s.p5?.sizes.map((x) => x.members) ?? [];
  for (const size of sizes) {
    const ours = m.p5?.sizes.find((x) => x.members === size);
    const theirs = byTransport(s.p5?.sizes.find((x) => x.members === size)?.runs, "long-poll");
    for (const transport of ["long-poll", "stream"]) {
      const picked = deliveryRows(`P5 ${size}`, byTransport(ours?.runs, transport), theirs, transport).filter((r) => /p50|p99|delivered|statements|server CPU/.test(r.figure));
      out.push(...picked);
    }
  }
  const p6 = (label: string, unit: string, get: (r: P6Figures) => number): Row => ({ workload: "P6", figure: label, unit, better: "lower", myelin: m.p6 && get(m.p6.result), synapse: s.p6 && get(s.p6.result) });
  out.push(
    p6("bytes added per 1,000 state changes", "MiB", (r) => r.bytesPer1000Changes / 1024 / 1024),
    p6("state change send p50", "ms", (r) => r.send.p50),
    p6("state change send p99", "ms", (r) => r.send.p99),
  );
  withRatios(out);
  return out;
}

function withRatios(table: Row[]): void {
  for (const row of table) {
    if (row.myelin !== undefined && row.synapse !== undefined && row.synapse !== 0) row.ratio = row.myelin / row.synapse;
  }
}

/** P7's rows: each room size, ours joining against a second Synapse joining the same room (run outside the per-server loop: it needs three servers). */
export function p7Rows(p7: P7Result | undefined): Row[] {
  const out: Row[] = [];
  for (const size of p7?.sizes ?? []) {
    const row = (figure: string, unit: string, get: (r: NonNullable<typeof size.myelin>) => number): Row => ({
      workload: `P7 ${size.members}`,
      figure,
      unit,
      better: "lower",
      myelin: size.myelin && get(size.myelin),
      synapse: size.synapse && get(size.synapse),
    });
    const synapseMode = size.synapse ? (size.synapse.result.partialState ? "Synapse: partial state" : "Synapse: full state") : "Synapse: not run";
    out.push(
      row(`join: request to its 200 (ours: full state; ${synapseMode})`, "ms", (r) => r.result.joinMs),
      row("join: room in the joiner's /sync", "ms", (r) => r.result.syncMs),
      row("join: /members complete", "ms", (r) => r.result.membersMs),
      row("join: full state held", "ms", (r) => r.result.fullStateMs),
      row("joiner peak RSS", "MiB", (r) => r.server.peakRssMiB),
      row("joiner CPU", "s", (r) => r.server.cpuSeconds),
      row("joiner's PostgreSQL CPU", "s", (r) => r.postgres.cpuSeconds),
      row("joiner's SQL statements", "", (r) => r.sql.statements),
      row("host Synapse CPU", "s", (r) => r.result.hostCpuSeconds),
    );
  }
  withRatios(out);
  return out;
}

function format(value: number | undefined): string {
  if (value === undefined) return "—";
  if (!Number.isFinite(value)) return "missing";
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function markdownTable(table: Row[], labels: Record<ServerKind, string>): string {
  const lines = [
    `| workload | figure | unit | ${labels.myelin} | ${labels.synapse} | ours ÷ Synapse | better |`,
    "| --- | --- | --- | ---: | ---: | ---: | --- |",
  ];
  for (const r of table) {
    lines.push(`| ${r.workload} | ${r.figure} | ${r.unit} | ${format(r.myelin)} | ${format(r.synapse)} | ${r.ratio === undefined ? "—" : `${format(r.ratio)}×`} | ${r.better} |`);
  }
  return lines.join("\n");
}

/** Every figure a run must produce: a value for each server that has the row (the quick run fails otherwise). */
export function missingFigures(table: Row[]): string[] {
  const missing: string[] = [];
  for (const r of table) {
    if (r.myelin === undefined || !Number.isFinite(r.myelin)) missing.push(`${r.workload} ${r.figure}: Myelin`);
    if (!r.oursOnly && (r.synapse === undefined || !Number.isFinite(r.synapse))) missing.push(`${r.workload} ${r.figure}: Synapse`);
  }
  return missing;
}
