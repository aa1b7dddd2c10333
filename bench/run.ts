// npm run bench [-- --quick] [--scale issue] [--only p1,p3] [--keep] [--servers myelin,synapse] [--profile] [--p5-sizes 1000] [--p7-sizes 1000]
//
// Runs the workloads of the performance issue (P1–P6) against our server and
// against Synapse, one server after the other (never both loaded at once),
// then P7 (joining a Synapse-hosted room over federation, ours and a second
// Synapse one after the other; `--only p7` runs it alone),
// with the same Node load generator, and writes bench/results/<date>.json
// (machine, versions, every figure, ratios) and <date>.md (the table).
// --quick is the one-minute smoke run CI executes: tiny sizes, results under
// bench/results/tmp/ (as for partial runs), and a non-zero exit when any
// figure is missing or a workload failed; it never asserts a timing.
// --scale issue runs the issue's sizes instead of the ones that fit 15
// minutes (bench/lib/scale.ts says why each differs); --profile records a
// V8 CPU profile of our server and summarises it.
// Method and caveats: bench/README.md.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../spec/support/repo-root.ts";
import { SYNAPSE_PYTHON } from "../spec/support/synapse.ts";
import { testServerUrl } from "../spec/support/test-env.ts";
import { settle, type Context } from "./lib/context.ts";
import { summariseProfile } from "./lib/cpu-profile.ts";
import { JsonHttp } from "./lib/http.ts";
import { registerUsers } from "./lib/matrix.ts";
import { startCountingProxy } from "./lib/pg-counter.ts";
import { PostgresProbe } from "./lib/postgres.ts";
import { nodeMemory } from "./lib/node-memory.ts";
import { memoryMiB } from "./lib/proc.ts";
import { markdownTable, missingFigures, p7Rows, rows, type ServerResults } from "./lib/report.ts";
import { FULL, ISSUE, QUICK, scaledBecause, type Scale } from "./lib/scale.ts";
import { startBenchSynapse, startMyelin, type BenchServer, type ServerKind } from "./lib/servers.ts";
import { runP1 } from "./workloads/p1-latency.ts";
import { runCeiling, type CeilingFigures } from "./workloads/p2-ceiling.ts";
import { runP2 } from "./workloads/p2-throughput.ts";
import { runP3 } from "./workloads/p3-initial-sync.ts";
import { idleMemory, idleSockets } from "./workloads/p4-memory.ts";
import { runP5 } from "./workloads/p5-fanout.ts";
import { runP6 } from "./workloads/p6-state-growth.ts";
import { runP7, type P7Result } from "./workloads/p7-federation-join.ts";

const ALL_WORKLOADS = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"];
const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scale: { type: "string", default: "full" },
    only: { type: "string" },
    // A partial run's results go to bench/results (to commit) rather than the git-ignored tmp/.
    keep: { type: "boolean", default: false },
    servers: { type: "string", default: "myelin,synapse" },
    profile: { type: "boolean", default: false },
    "p5-sizes": { type: "string" },
    "p7-sizes": { type: "string" },
  },
});
const baseScale: Scale = args.quick ? QUICK : args.scale === "issue" ? ISSUE : FULL;
/** --p5-sizes 1000 picks P5's room sizes (while working on it; such a run is a partial one, written to tmp/). */
const scale: Scale = args["p5-sizes"] ? { ...baseScale, p5: { ...baseScale.p5, sizes: args["p5-sizes"].split(",").map(Number) } } : baseScale;
// P7 runs only when asked for (--only p7, with --quick for its 20-member version): its two Synapse
// hosts, second Synapse and our server take about 40 s to start and stop here even with a
// 20-member room, more than the quick run may add, and populating its 5,000-member room the first
// time takes Synapse most of an hour, beyond the full run's 15 minutes (bench/README.md).
const DEFAULT_WORKLOADS = ALL_WORKLOADS.filter((w) => w !== "p7");
const only = new Set((args.only ?? DEFAULT_WORKLOADS.join(",")).split(","));
/** The per-server workloads (P1–P6); P7 runs after them, with servers of its own. */
const perServer = ALL_WORKLOADS.filter((w) => w !== "p7" && only.has(w));
/** --p7-sizes 1000 picks P7's room sizes (while working on it; such a run is a partial one, written to tmp/). */
const p7Sizes = args["p7-sizes"] ? args["p7-sizes"].split(",").map(Number) : scale.p7.sizes;
const kinds = args.servers.split(",").filter((k): k is ServerKind => k === "myelin" || k === "synapse");
const began = performance.now();
const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");

/** What an interrupted run must still undo: the running server (and its database), the proxy. */
const cleanups = new Set<() => Promise<void>>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the server under test and dropping its database`);
    void Promise.allSettled([...cleanups].map((undo) => undo())).then(() => process.exit(130));
  });
}

function log(message: string): void {
  console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${message}`);
}

function command(file: string, argv: string[]): string {
  try {
    return execFileSync(file, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch {
    return "unknown";
  }
}

/** Runs one workload; a failure is recorded, with the server's last log lines, and the run goes on with the next. */
async function step<T>(results: ServerResults, server: BenchServer, name: string, work: () => Promise<T>): Promise<T | undefined> {
  if (!only.has(name)) return undefined;
  try {
    return await work();
  } catch (err) {
    results.errors[name] = `${(err as Error).stack ?? String(err)}\n--- server log ---\n${server.logTail(15)}`;
    log(`${name} failed: ${(err as Error).message}`);
    return undefined;
  }
}

async function benchServer(kind: ServerKind, probe: PostgresProbe, proxyPort: number, proxy: Context["proxy"]): Promise<ServerResults> {
  const start = kind === "myelin" ? startMyelin : startBenchSynapse;
  const cpuProfileDir = args.profile && kind === "myelin" ? join(repoRoot, "bench/results/tmp", `profile-${stamp}`) : undefined;
  const server: BenchServer = await start({ databaseName: `myelin_bench_${stamp.replace("-", "_")}_${kind}`, databasePort: proxyPort, probe, streamConnections: scale.p4.idleSockets + 2000, cpuProfileDir });
  cleanups.add(server.stop);
  log(`${server.label} started in ${server.startMs} ms (pid ${server.pid})`);
  const http = new JsonHttp(server.baseUrl);
  const results: ServerResults = { label: server.label, startMs: server.startMs, settings: server.settings, errors: {} };
  try {
    await settle(server.pid, 5000);
    results.idle = await idleMemory({ server, probe });
    const breakdown = async (at: string) => {
      if (kind === "myelin") (results.nodeMemory ??= {})[at] = await nodeMemory(server.baseUrl, server.pid);
    };
    await breakdown("idle");
    log(`idle RSS ${results.idle.rssMiB.toFixed(0)} MiB (PostgreSQL backends ${results.idle.postgresPssMiB.toFixed(0)} MiB PSS)`);
    const registerStart = performance.now();
    const p5Users = Math.max(...scale.p5.sizes, scale.p3.members);
    const [p1, p5, [p3]] = [
      await registerUsers(server.baseUrl, server.sharedSecret, "p1u", Math.max(scale.p1.users, scale.p2.senders)),
      await registerUsers(server.baseUrl, server.sharedSecret, "p5u", p5Users),
      await registerUsers(server.baseUrl, server.sharedSecret, "p3u", 1),
    ];
    await settle(server.pid, 5000);
    results.afterRegistrationRssMiB = memoryMiB(server.pid).rss;
    await breakdown("after registration");
    log(`registered ${p1.length + p5.length + 1} users in ${((performance.now() - registerStart) / 1000).toFixed(1)} s; RSS now ${results.afterRegistrationRssMiB.toFixed(0)} MiB`);
    const ctx: Context = { server, http, probe, proxy, scale, users: { p1, p5, p3: p3! }, log: (m) => log(`${kind} ${m}`) };

    results.p1 = await step(results, server, "p1", () => runP1(ctx));
    await breakdown("after P1");
    results.p5 = await step(results, server, "p5", () => runP5(ctx));
    const p5Room = results.p5;
    if (p5Room) results.p6 = await step(results, server, "p6", () => runP6(ctx, p5Room.roomId, p5Room.sizes.at(-1)!.members));
    results.p2 = await step(results, server, "p2", () => runP2(ctx));
    results.p3 = await step(results, server, "p3", () => runP3(ctx));
    if (kind === "myelin") results.p4 = await step(results, server, "p4", () => idleSockets(ctx));
  } catch (err) {
    results.errors.setup = (err as Error).stack ?? String(err);
    log(`${kind} failed: ${(err as Error).message}\n${server.logTail(20)}`);
  } finally {
    http.close();
    await server.stop();
    cleanups.delete(server.stop);
  }
  if (cpuProfileDir) {
    // The main process's profile (P4's fresh process writes a second, smaller one).
    const file = readdirSync(cpuProfileDir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .sort((a, b) => statSync(join(cpuProfileDir, b)).size - statSync(join(cpuProfileDir, a)).size)[0];
    if (file) {
      results.cpuProfile = { file: join(cpuProfileDir, file), ...summariseProfile(join(cpuProfileDir, file)) };
      log(`CPU profile of our server: ${results.cpuProfile.file}\n${results.cpuProfile.byArea.map((a) => `  ${a.share}% ${a.area}`).join("\n")}`);
    }
  }
  return results;
}

/** With --profile: P7's profile of our server for one room size, summarised on the console (the file stays in tmp/). */
function summariseP7Profile(members: number): void {
  const dir = join(repoRoot, "bench/results/tmp", `profile-${stamp}-p7-${members}`);
  let file: string | undefined;
  try {
    file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  } catch {
    return;
  }
  if (!file) return;
  const summary = summariseProfile(join(dir, file), 25);
  writeFileSync(join(dir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  log(`P7 ${members}: CPU profile of our server ${join(dir, file)}\n${summary.byArea.map((a) => `  ${a.share}% ${a.area}`).join("\n")}\n${summary.byFunction.map((f) => `  ${f.ms} ms ${f.function}`).join("\n")}`);
}

async function main(): Promise<number> {
  if (kinds.includes("synapse")) {
    const venv = spawnSync("bash", [join(repoRoot, "scripts/synapse-venv.sh")], { stdio: "inherit" });
    if (venv.status !== 0) throw new Error("no usable .venv-synapse (scripts/synapse-venv.sh failed)");
  }
  const loadStart = loadavg();
  log(`${args.quick ? "quick" : "full"} run; load average ${loadStart.map((l) => l.toFixed(2)).join(" ")}`);
  const probe = await PostgresProbe.open();
  const target = new URL(testServerUrl);
  const proxy = await startCountingProxy({ host: target.hostname, port: Number(target.port || 5432) });
  cleanups.add(proxy.stop);
  const servers: Partial<Record<ServerKind, ServerResults>> = {};
  let ceiling: CeilingFigures | undefined;
  try {
    if (perServer.length > 0) for (const kind of kinds) servers[kind] = await benchServer(kind, probe, proxy.port, proxy);
    let p7: P7Result | undefined;
    const p7Errors: Record<string, string> = {};
    if (only.has("p7")) {
      try {
        p7 = await runP7({
          sizes: p7Sizes,
          joinTimeoutMs: args.quick ? 60_000 : 15 * 60_000,
          kinds,
          stamp: stamp.replace("-", "_"),
          proxyPort: proxy.port,
          probe,
          proxy,
          cpuProfileDir: args.profile ? (members) => join(repoRoot, "bench/results/tmp", `profile-${stamp}-p7-${members}`) : undefined,
          log,
        });
        for (const size of p7.sizes) for (const [kind, error] of Object.entries(size.errors)) p7Errors[`p7 ${size.members} ${kind}`] = error;
      } catch (err) {
        p7Errors.p7 = (err as Error).stack ?? String(err);
        log(`p7 failed: ${(err as Error).message}`);
      }
      if (args.profile) for (const size of p7?.sizes ?? []) summariseP7Profile(size.members);
    }
    if (only.has("p2")) {
      const p2 = kinds.map((k) => servers[k]?.p2?.result).filter((r) => r !== undefined);
      if (p2.length > 0) {
        ceiling = await runCeiling(probe, { rows: Math.max(...p2.map((r) => r.persisted)), rowBytes: Math.max(...p2.map((r) => r.meanEventBytes)), batch: scale.p2.ceilingBatch, stamp: stamp.replace("-", "_") });
        log(`PostgreSQL ceiling: ${ceiling.rows} rows of ${ceiling.rowBytes} bytes: ${ceiling.batchedRowsPerSecond.toFixed(0)} rows/s in transactions of ${ceiling.batch}, ${ceiling.singleRowCommitsPerSecond.toFixed(0)} rows/s one per transaction over 10 connections`);
      }
    }
    const versions = {
      myelin: servers.myelin?.label ?? p7?.joiners.myelin,
      synapse: servers.synapse?.label ?? p7?.joiners.synapse,
      postgres: await probe.version(),
      node: process.version,
      python: command(SYNAPSE_PYTHON, ["--version"]),
    };
    const empty: ServerResults = { label: "not run", startMs: 0, settings: {}, errors: {} };
    const table = [...(perServer.length > 0 ? rows(servers.myelin ?? empty, servers.synapse ?? empty, ceiling) : []), ...p7Rows(p7)];
    const loadEnd = loadavg();
    const seconds = (performance.now() - began) / 1000;
    const results = {
      schema: 1,
      date: new Date().toISOString(),
      mode: args.quick ? "quick" : "full",
      durationSeconds: Math.round(seconds),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        kernel: release(),
        loadAverageStart: loadStart,
        loadAverageEnd: loadEnd,
        note: "servers, PostgreSQL, Redis, the load generator and the counting proxy share this machine",
      },
      versions,
      method: {
        scale,
        issueScale: ISSUE,
        scaledBecause: args.quick ? "quick smoke run: tiny sizes, figures not comparable" : baseScale === ISSUE ? {} : scaledBecause,
        sqlCounting: "statements = CommandComplete messages PostgreSQL sent each server, counted by a wire-protocol proxy both servers connect through (bench/lib/pg-counter.ts); pg_stat_statements is not loaded on the shared server",
        latency: "from the start of the send request to the event's arrival at each receiving client (sender excluded), one clock in the load generator",
        ratio: "ours ÷ Synapse; below 1 is better for lower-is-better figures",
      },
      config: { myelin: servers.myelin?.settings, synapse: servers.synapse?.settings },
      ceiling,
      servers,
      p7,
      p7Errors,
      table,
    };
    // Only a complete full run is a result to commit, a P7-only one (P7 takes long enough to be run
    // apart; its file is named p7-…), a P5-only one at the issue's sizes (the fan-out target is
    // stated at 1,000 members, which the full run scales down; p5-…), or a partial run asked for
    // with --keep; quick and other partial runs go to the git-ignored tmp/.
    const everything = DEFAULT_WORKLOADS.every((w) => only.has(w));
    const p7Only = only.size === 1 && only.has("p7");
    const p5IssueOnly = only.size === 1 && only.has("p5") && baseScale === ISSUE;
    const committable = !args.quick && !args.profile && !args["p7-sizes"] && !args["p5-sizes"] && kinds.length === 2 && (everything || p7Only || p5IssueOnly);
    const kept = committable || (args.keep && !args.quick && !args.profile);
    const dir = join(repoRoot, kept ? "bench/results" : "bench/results/tmp");
    mkdirSync(dir, { recursive: true });
    const prefix = args.quick ? "quick-" : committable ? (p7Only ? "p7-" : p5IssueOnly ? "p5-" : "") : "partial-";
    const base = join(dir, `${prefix}${stamp}${baseScale === ISSUE ? "-issue-scale" : ""}`);
    const markdown = [
      `# Benchmark ${results.date} (${results.mode}${p7Only ? ", P7 only" : p5IssueOnly ? ", P5 only" : ""})`,
      "",
      `${versions.myelin ?? "ours not run"} vs ${versions.synapse ?? "Synapse not run"}; PostgreSQL ${versions.postgres}; Node ${versions.node}; ${results.machine.cpus} × ${results.machine.cpuModel}; load average ${loadStart.map((l) => l.toFixed(2)).join(" ")} at start, ${loadEnd.map((l) => l.toFixed(2)).join(" ")} at end; ${Math.round(seconds)} s.`,
      "",
      markdownTable(table, { myelin: "ours", synapse: "Synapse" }),
      "",
      ceiling ? `PostgreSQL ceiling: ${ceiling.rows} rows of ${ceiling.rowBytes} bytes, ${ceiling.batchedRowsPerSecond.toFixed(0)} rows/s in transactions of ${ceiling.batch} rows; ${ceiling.singleRowCommitsPerSecond.toFixed(0)} rows/s with one row per transaction over 10 connections (synchronous_commit ${ceiling.synchronousCommit}).` : "",
      "",
    ].join("\n");
    writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdown);
    console.log(`\n${markdown}`);
    log(`wrote ${base}.json and ${base}.md`);

    const errors = [...Object.entries(servers).flatMap(([kind, r]) => Object.keys(r?.errors ?? {}).map((w) => `${kind} ${w}`)), ...Object.keys(p7Errors)];
    if (errors.length > 0) console.error(`failed workloads: ${errors.join(", ")}`);
    if (args.quick) {
      const missing = DEFAULT_WORKLOADS.every((w) => only.has(w)) && kinds.length === 2 ? missingFigures(table) : [];
      if (missing.length > 0) console.error(`missing figures:\n  ${missing.join("\n  ")}`);
      return errors.length > 0 || missing.length > 0 ? 1 : 0;
    }
    return errors.length > 0 ? 1 : 0;
  } finally {
    await proxy.stop();
    await probe.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
