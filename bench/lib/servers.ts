// The two servers under test, started the way an operator starts them, each
// with its own database on the shared PostgreSQL (reached through the
// statement-counting proxy) and an equivalent configuration:
// rate limits off, presence on, INFO logging to a file, caches and
// connection pools at their defaults. Only one of them runs at a time.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import YAML from "yaml";
import { deleteRedisKeys } from "../../spec/support/redis-keys.ts";
import { repoRoot } from "../../spec/support/repo-root.ts";
import { freePort } from "../../spec/support/ports.ts";
import { mergeConfig } from "../../spec/support/server-process.ts";
import { startSynapse } from "../../spec/support/synapse.ts";
import { testRedisUrl, testServerUrl } from "../../spec/support/test-env.ts";
import { sleep } from "./pool.ts";
import type { PostgresProbe } from "./postgres.ts";

export type ServerKind = "myelin" | "synapse";

export interface BenchServer {
  kind: ServerKind;
  /** Name and version, e.g. "Synapse 1.163.2". */
  label: string;
  baseUrl: string;
  /** The current server process (ours may be restarted). */
  readonly pid: number;
  databaseName: string;
  sharedSecret: string;
  startMs: number;
  /** The settings that make the two configurations equivalent, for the results file. */
  settings: Record<string, unknown>;
  /** The last lines of the server's log, for error messages. */
  logTail(lines?: number): string;
  /** The whole log so far (P7 reads the joiner's). */
  logs(): string;
  /** `127.0.0.1:<federation port>` */
  serverName: string;
  /** Ours only: a fresh process on the same config and database (for memory figures untouched by earlier work). */
  restart?(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  databaseName: string;
  /** Port of the counting proxy in front of PostgreSQL. */
  databasePort: number;
  probe: PostgresProbe;
  /** Streams one process may hold (P4 opens 10,000 idle ones). */
  streamConnections: number;
  /** Ours only: write a V8 CPU profile into this folder on exit (node --cpu-prof). */
  cpuProfileDir?: string;
  /** Merged over the configuration (deeply): what one workload needs beyond the common settings (P7's federation). */
  config?: Record<string, unknown>;
}

const START_TIMEOUT_MS = 180_000;
const run = promisify(execFile);

export const SYNAPSE_VERSION = /^matrix-synapse==(\S+)$/m.exec(readFileSync(join(repoRoot, "spec/interop/synapse/requirements.txt"), "utf8"))![1]!;

function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function waitForHealth(baseUrl: string, alive: () => boolean, logTail: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the server exited during start-up:\n${logTail()}`);
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`no /health after ${START_TIMEOUT_MS} ms:\n${logTail()}`);
}

/** Our server: `node server/main.ts --generate-config`, the bench's changes to that file, then `node server/main.ts --config`. */
export async function startMyelin(options: StartOptions): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), "myelin-bench-"));
  const configPath = join(dir, "homeserver.yaml");
  const clientPort = await freePort();
  const federationPort = await freePort();
  // An IP literal with a port, as for Synapse: user and room IDs are as long on both sides.
  await run(process.execPath, [join(repoRoot, "server/main.ts"), "--generate-config", "--config", configPath, "--server-name", `127.0.0.1:${federationPort}`], { cwd: dir });
  const generated = YAML.parse(readFileSync(configPath, "utf8")) as Record<string, any>;
  const admin = new URL(testServerUrl);
  const databaseUrl = new URL(`postgres://127.0.0.1:${options.databasePort}/${options.databaseName}`);
  databaseUrl.username = admin.username;
  databaseUrl.password = admin.password;
  const redisPrefix = `myelin-bench-${randomBytes(4).toString("hex")}:`;
  const settings = {
    rate_limits: Object.fromEntries(["login", "registration", "message", "joins"].map((k) => [k, { per_second: 0, burst_count: 1 }])),
    presence: { enabled: true },
    logging: { level: "info", format: "json" },
    database: { url: databaseUrl.toString() },
    redis: { url: testRedisUrl, key_prefix: redisPrefix },
    stream: { max_connections: options.streamConnections },
  };
  const config = mergeConfig(
    {
      ...generated,
      ...settings,
      listeners: {
        client: { port: clientPort, bind_addresses: ["127.0.0.1"] },
        federation: { ...generated.listeners.federation, port: federationPort, bind_addresses: ["127.0.0.1"] },
      },
    },
    options.config ?? {},
  );
  writeFileSync(configPath, YAML.stringify(config), { mode: 0o600 });
  await options.probe.createDatabase(options.databaseName);

  const logFile = join(dir, "homeserver.log");
  const log = createWriteStream(logFile);
  const logTail = (lines = 30) => tailOf(logFile, lines);
  const profile = options.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const baseUrl = `http://127.0.0.1:${clientPort}`;

  /** One server process on the config and database; resolves once /health answers. */
  const launch = async () => {
    const child = spawn(process.execPath, [...profile, join(repoRoot, "server/main.ts"), "--config", configPath], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    const alive = () => child.exitCode === null && child.signalCode === null;
    const terminate = async () => {
      if (!alive()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    };
    try {
      await waitForHealth(baseUrl, alive, () => logTail(40));
    } catch (err) {
      await terminate();
      throw err;
    }
    return { pid: child.pid!, terminate };
  };

  const started = Date.now();
  let current: Awaited<ReturnType<typeof launch>> | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await current?.terminate();
      log.end();
      await options.probe.dropDatabase(options.databaseName);
      await deleteRedisKeys(redisPrefix);
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    current = await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  const startMs = Date.now() - started;
  const version = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version as string;
  return {
    kind: "myelin",
    label: `Myelin ${version} (${await gitCommit()})`,
    baseUrl,
    get pid() {
      return current!.pid;
    },
    databaseName: options.databaseName,
    sharedSecret: generated.registration_shared_secret as string,
    startMs,
    settings: { ...settings, ...options.config, database: { pool_max: "default (10)" }, redis: { key_prefix: "per run" } },
    logTail,
    logs: () => tailOf(logFile, Number.MAX_SAFE_INTEGER),
    serverName: `127.0.0.1:${federationPort}`,
    async restart() {
      await current!.terminate();
      current = await launch();
    },
    stop,
  };
}

/** Synapse through the interop harness (spec/support/synapse.ts), with its defaults where the harness shortens them for tests. */
export async function startBenchSynapse(options: StartOptions): Promise<BenchServer> {
  // Synapse's own defaults for the pool (the harness keeps tests at 1-5).
  const settings = { database: { args: { cp_min: 5, cp_max: 10 } } };
  const synapse = await startSynapse({ databaseName: options.databaseName, databasePort: options.databasePort, config: mergeConfig(settings, options.config ?? {}), startTimeoutMs: START_TIMEOUT_MS });
  return {
    kind: "synapse",
    label: `Synapse ${SYNAPSE_VERSION}`,
    baseUrl: synapse.clientUrl,
    pid: synapse.pid,
    databaseName: synapse.databaseName,
    sharedSecret: synapse.sharedSecret,
    startMs: synapse.startMs,
    settings: {
      ...settings,
      rc_all: "10,000/s, burst 10,000 (Synapse cannot switch rate limits off)",
      presence: { enabled: true },
      log_level: "INFO",
      caches: "defaults",
      bcrypt_rounds: "4 (registration and login only; no workload times either)",
    },
    logTail: (lines = 30) => synapse.logs().split("\n").slice(-lines).join("\n"),
    logs: () => synapse.logs(),
    serverName: synapse.serverName,
    stop: () => synapse.stop(),
  };
}

async function gitCommit(): Promise<string> {
  try {
    return (await run("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot })).stdout.trim();
  } catch {
    return "unknown commit";
  }
}
