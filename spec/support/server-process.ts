// Starts the real homeserver (`node server/main.ts`) as a child process, the
// way an operator would, with its own config in a temporary directory, and
// collects its log lines. Integration tests talk to it over real HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import YAML from "yaml";
import { repoRoot } from "./repo-root.ts";
import { testDatabaseUrl, testRedisPrefix } from "./test-env.ts";

export interface StartOptions {
  /** Merged over the default test config. */
  config?: Record<string, unknown>;
  /** Config that depends on the server's temporary directory. */
  configFor?: (dir: string) => Record<string, unknown>;
  /** Written verbatim instead of the generated config (for bad-config tests). */
  rawConfig?: string;
  env?: Record<string, string | undefined>;
  args?: string[];
  federation?: boolean;
  /** Resolve when the process exits instead of when it listens. */
  expectExit?: boolean;
  /** A worker-only process (--role worker:media) has no listener: resolve on its "workers started" line instead. */
  workerOnly?: boolean;
}

export interface RunningServer {
  dir: string;
  baseUrl: string;
  federationUrl?: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Parsed JSON log lines. */
  logs(): Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function defaultTestConfig(dir: string, federation: boolean): Record<string, unknown> {
  return {
    server_name: "localhost",
    signing_key_path: join(dir, "signing.key"),
    registration_shared_secret: "test-shared-secret-0123456789",
    database: { pool_max: 4 },
    redis: { key_prefix: testRedisPrefix },
    listeners: {
      client: { port: 0, bind_addresses: ["127.0.0.1"] },
      federation: {
        enabled: federation,
        port: 0,
        bind_addresses: ["127.0.0.1"],
        tls_certificate_path: join(dir, "tls.crt"),
        tls_private_key_path: join(dir, "tls.key"),
      },
    },
    logging: { level: "info", format: "json" },
    registration: { enabled: true },
    // Generous limits so suites are not throttled; rate limiting has its own tests.
    rate_limits: Object.fromEntries(["login", "registration", "message", "joins", "to_device"].map((k) => [k, { per_second: 1000, burst_count: 1000 }])),
  };
}

/** Deep merge of plain objects (arrays and scalars in `over` replace); config overrides use it. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && prior && typeof prior === "object" && !Array.isArray(prior)
        ? mergeConfig(prior as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** `undefined` in an override removes the variable (spawn would pass the string "undefined"). */
function withoutUndefined(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "myelin-test-"));
  const configPath = join(dir, "homeserver.yaml");
  const text = options.rawConfig ?? YAML.stringify(mergeConfig(mergeConfig(defaultTestConfig(dir, options.federation ?? false), options.config ?? {}), options.configFor?.(dir) ?? {}));
  writeFileSync(configPath, text);

  const child = spawn(process.execPath, [resolve(repoRoot, "server/main.ts"), "--config", configPath, ...(options.args ?? [])], {
    cwd: dir,
    env: withoutUndefined({ ...process.env, DATABASE_URL: testDatabaseUrl, ...options.env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const listening: Record<string, string> = {};
  let workersStarted = false;
  let notify: () => void = () => undefined;
  const lines = (sink: string[], onLine?: (line: string) => void) => {
    let partial = "";
    return (chunk: Buffer) => {
      partial += chunk.toString("utf8");
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        sink.push(line);
        onLine?.(line);
      }
    };
  };
  child.stdout!.on(
    "data",
    lines(stdout, (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
        if (entry.msg === "workers started") {
          workersStarted = true;
          notify();
        }
        if (entry.msg === "listening" && entry.listener) {
          listening[entry.listener] = `${entry.listener === "federation" ? "https" : "http"}://127.0.0.1:${entry.port}`;
          notify();
        }
      } catch {
        // not a JSON line
      }
    }),
  );
  child.stderr!.on("data", lines(stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once("exit", (code, signal) => {
      notify();
      done({ code, signal });
    });
  });

  const server: RunningServer = {
    dir,
    baseUrl: "",
    child,
    stdout,
    stderr,
    logs: () =>
      stdout.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.expectExit) {
    await exited;
    return server;
  }
  const wantFederation = options.federation ?? false;
  await new Promise<void>((ready, fail) => {
    const check = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        fail(new Error(`server exited early (${child.exitCode ?? child.signalCode}): ${stderr.join("\n")}`));
      } else if (options.workerOnly ? workersStarted : listening.client && (!wantFederation || listening.federation)) {
        ready();
      }
    };
    notify = check;
    check();
  });
  server.baseUrl = listening.client ?? "";
  if (listening.federation) server.federationUrl = listening.federation;
  return server;
}
