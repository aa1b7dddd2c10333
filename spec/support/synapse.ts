// A real Synapse (the reference homeserver, pinned in
// spec/interop/synapse/requirements.txt, installed into .venv-synapse by
// scripts/synapse-venv.sh) running beside our server, for federation interop
// tests and side-by-side benchmarks. Each instance gets a temporary directory
// (config, keys, TLS pair, media, log), its own PostgreSQL database (dropped
// on stop) and an IP-literal server name with a port, `127.0.0.1:<port>`, so
// server discovery needs neither DNS nor .well-known. The generated config
// and the reason for each setting: documentation-living/testing.md.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { generate as generateCertificate } from "selfsigned";
import YAML from "yaml";
import { formatSigningKeyFile, generateSigningKey } from "../../server/protocol/signing.ts";
import { registerWithSharedSecret } from "./accounts.ts";
import { dropDatabase, withAdmin } from "./admin-db.ts";
import { freePort } from "./ports.ts";
import { mergeConfig } from "./server-process.ts";
import { repoRoot } from "./repo-root.ts";
import { testDatabaseName, testServerUrl } from "./test-env.ts";

export const SYNAPSE_PYTHON = join(repoRoot, ".venv-synapse/bin/python");

export interface SynapseOptions {
  /** Listener ports; free ones are picked when absent. */
  federationPort?: number;
  clientPort?: number;
  /** Merged over the generated homeserver.yaml (objects deeply, arrays and scalars replace). */
  config?: Record<string, unknown>;
  /** How long to wait for /health and the TLS listener (the first start creates Synapse's schema). */
  startTimeoutMs?: number;
  /** Keep the temporary directory after stop (for reading the config and full log by hand). */
  keepDir?: boolean;
  /** The database to create (and drop on stop); `<run database>_synapse<n>` when absent. */
  databaseName?: string;
  /**
   * The port Synapse connects to for PostgreSQL, when it is not the server's own
   * (the benchmarks put a statement-counting proxy in between). The database is
   * still created and dropped on the server itself.
   */
  databasePort?: number;
  /**
   * Create the database as a copy of this one (CREATE DATABASE … TEMPLATE) instead of an empty one:
   * a benchmark reuses a populated server. The copy keeps the template's collation.
   */
  databaseTemplate?: string;
  /** The signing key file's contents, for a server resumed from a copied database (its events carry this key's signatures). */
  signingKey?: string;
}

export interface SynapseUser {
  user_id: string;
  access_token: string;
  device_id: string;
  password: string;
}

export interface RunningSynapse {
  /** `127.0.0.1:<federationPort>` */
  serverName: string;
  /** http://127.0.0.1:<clientPort> */
  clientUrl: string;
  /** https://127.0.0.1:<federationPort> (self-signed certificate) */
  federationUrl: string;
  federationPort: number;
  dir: string;
  databaseName: string;
  /** How long the start took, spawn to both listeners answering. */
  startMs: number;
  /** The homeserver process, for reading its memory and CPU time from /proc. */
  readonly pid: number;
  /** registration_shared_secret, for /_synapse/admin/v1/register. */
  sharedSecret: string;
  /** Registers through the shared-secret admin API (/_synapse/admin/v1/register). */
  registerUser(localpart: string, admin?: boolean): Promise<SynapseUser>;
  /** Synapse's log file so far (INFO level), then anything it printed to stdout/stderr. */
  logs(): string;
  /** SIGTERM, SIGKILL after a timeout, then drops the database. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the process only: the database and directory stay for `resume`. */
  pause(): Promise<void>;
  /** Starts the process again after `pause`, with the same config and data. */
  resume(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 15_000;
const LOG_TAIL_LINES = 40;
/** Outbound requests may reach loopback only. */
const LOOPBACK_RANGES = ["127.0.0.0/8", "::1/128"];
/**
 * Every IPv4 range but 127.0.0.0/8, and all of IPv6. Synapse checks an IP
 * literal in a server name against the blocklist alone (its allowlist is
 * applied only to addresses that names resolve to), so loopback must be left
 * out of the blocklist rather than allowed back in.
 */
const ALL_BUT_LOOPBACK = ["0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7", "126.0.0.0/8", "128.0.0.0/1", "::/0"];
const UNLIMITED = { per_second: 10_000, burst_count: 10_000 };

export interface JsonResponse {
  status: number;
  body: any;
  text: string;
}

/**
 * One HTTPS request to a federation listener with a self-signed certificate
 * (verification off, as Synapse's own is in this harness). JSON in and out.
 */
export function federationRequest(method: string, url: string, json?: unknown, timeoutMs = 30_000): Promise<JsonResponse> {
  const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
  return new Promise((done, fail) => {
    const req = httpsRequest(
      url,
      {
        method,
        rejectUnauthorized: false,
        timeout: timeoutMs,
        headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = undefined;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON; callers look at status and text
          }
          done({ status: res.statusCode ?? 0, body, text });
        });
        res.on("error", fail);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
    req.on("error", fail);
    req.end(payload);
  });
}

/** The homeserver.yaml the harness writes before `options.config` is merged over it. */
export function synapseConfig(p: {
  dir: string;
  serverName: string;
  clientPort: number;
  federationPort: number;
  databaseName: string;
  sharedSecret: string;
  databasePort?: number;
}): Record<string, unknown> {
  const admin = new URL(testServerUrl);
  const connection: Record<string, unknown> = {
    user: decodeURIComponent(admin.username) || "postgres",
    host: admin.hostname,
    port: p.databasePort ?? Number(admin.port || 5432),
    database: p.databaseName,
    cp_min: 1,
    cp_max: 5,
  };
  if (admin.password) connection.password = decodeURIComponent(admin.password);
  return {
    server_name: p.serverName,
    public_baseurl: `http://127.0.0.1:${p.clientPort}/`,
    pid_file: join(p.dir, "homeserver.pid"),
    signing_key_path: join(p.dir, "signing.key"),
    log_config: join(p.dir, "log.config.yaml"),
    media_store_path: join(p.dir, "media"),
    report_stats: false,
    enable_metrics: false,
    registration_shared_secret: p.sharedSecret,
    macaroon_secret_key: randomBytes(24).toString("hex"),
    form_secret: randomBytes(24).toString("hex"),
    enable_registration: false,
    bcrypt_rounds: 4,
    database: { name: "psycopg2", args: connection },
    listeners: [
      {
        port: p.clientPort,
        bind_addresses: ["127.0.0.1"],
        type: "http",
        tls: false,
        x_forwarded: false,
        resources: [{ names: ["client"], compress: false }],
      },
      {
        port: p.federationPort,
        bind_addresses: ["127.0.0.1"],
        type: "http",
        tls: true,
        resources: [{ names: ["federation"], compress: false }],
      },
    ],
    tls_certificate_path: join(p.dir, "tls.crt"),
    tls_private_key_path: join(p.dir, "tls.key"),
    federation_verify_certificates: false,
    ip_range_blacklist: ALL_BUT_LOOPBACK,
    ip_range_whitelist: LOOPBACK_RANGES,
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    presence: { enabled: true },
    rc_message: UNLIMITED,
    rc_registration: UNLIMITED,
    rc_login: { address: UNLIMITED, account: UNLIMITED, failed_attempts: UNLIMITED },
    rc_joins: { local: UNLIMITED, remote: UNLIMITED },
    rc_joins_per_room: UNLIMITED,
    rc_invites: { per_room: UNLIMITED, per_user: UNLIMITED, per_issuer: UNLIMITED },
    rc_3pid_validation: UNLIMITED,
    rc_key_requests: UNLIMITED,
    rc_presence: { per_user: UNLIMITED },
    rc_room_creation: UNLIMITED,
    rc_admin_redaction: UNLIMITED,
    rc_delayed_event_mgmt: UNLIMITED,
    rc_media_create: UNLIMITED,
    rc_reports: UNLIMITED,
    rc_user_directory: UNLIMITED,
    rc_profile: UNLIMITED,
    rc_federation: { window_size: 1000, sleep_limit: 10_000, sleep_delay: 1, reject_limit: 10_000, concurrent: 1000 },
    federation_rr_transactions_per_room_per_second: 10_000,
  };
}

/** Python logging config: INFO to one unbuffered file the harness reads back. */
function logConfig(logFile: string): Record<string, unknown> {
  return {
    version: 1,
    formatters: { precise: { format: "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s" } },
    handlers: { file: { class: "logging.FileHandler", formatter: "precise", filename: logFile, encoding: "utf8" } },
    loggers: { "synapse.storage.SQL": { level: "INFO" } },
    root: { level: "INFO", handlers: ["file"] },
    disable_existing_loggers: false,
  };
}

let instances = 0;
/** Children still running when mocha exits (a crash, a forgotten stop) are killed with it. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function startSynapse(options: SynapseOptions = {}): Promise<RunningSynapse> {
  if (!existsSync(SYNAPSE_PYTHON)) {
    throw new Error(`no Synapse virtualenv at ${SYNAPSE_PYTHON}: run 'bash scripts/synapse-venv.sh' (scripts/test.sh does)`);
  }
  const clientPort = options.clientPort ?? (await freePort());
  const federationPort = options.federationPort ?? (await freePort());
  const serverName = `127.0.0.1:${federationPort}`;
  const dir = join(tmpdir(), `myelin-synapse-${federationPort}-${randomBytes(3).toString("hex")}`);
  mkdirSync(join(dir, "media"), { recursive: true });
  instances += 1;
  const databaseName = options.databaseName ?? `${testDatabaseName}_synapse${instances}`;
  const sharedSecret = randomBytes(24).toString("hex");
  const logFile = join(dir, "homeserver.log");

  writeFileSync(join(dir, "signing.key"), options.signingKey ?? formatSigningKeyFile(generateSigningKey()), { mode: 0o600 });
  const pems = await generateCertificate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    algorithm: "sha256",
    extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
  });
  writeFileSync(join(dir, "tls.crt"), pems.cert);
  writeFileSync(join(dir, "tls.key"), pems.private, { mode: 0o600 });
  writeFileSync(join(dir, "log.config.yaml"), YAML.stringify(logConfig(logFile)));
  const config = mergeConfig(synapseConfig({ dir, serverName, clientPort, federationPort, databaseName, sharedSecret, databasePort: options.databasePort }), options.config ?? {});
  const configPath = join(dir, "homeserver.yaml");
  writeFileSync(configPath, YAML.stringify(config), { mode: 0o600 });

  // Synapse refuses a database whose collation is not C (its ordering of text keys depends on it).
  const template = options.databaseTemplate;
  await withAdmin((c) =>
    c.query(
      template
        ? `CREATE DATABASE ${pg.escapeIdentifier(databaseName)} TEMPLATE ${pg.escapeIdentifier(template)}`
        : `CREATE DATABASE ${pg.escapeIdentifier(databaseName)} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`,
    ),
  );

  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const federationUrl = `https://127.0.0.1:${federationPort}`;
  const output: string[] = [];
  let child!: ChildProcess;
  let spawnError: Error | undefined;
  let exited: Promise<void>;
  const alive = () => child.exitCode === null && child.signalCode === null && !spawnError;

  /** Starts the Synapse process on the prepared directory and database (again, after `pause`). */
  const spawnProcess = async (): Promise<void> => {
    spawnError = undefined;
    child = spawn(SYNAPSE_PYTHON, ["-m", "synapse.app.homeserver", "-c", configPath], {
      cwd: dir,
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const current = child;
    running.add(current);
    current.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));
    current.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));
    current.once("error", (err) => (spawnError = err));
    exited = new Promise<void>((done) =>
      current.once("exit", () => {
        running.delete(current);
        done();
      }),
    );
    await waitUntilReady({ clientUrl, federationUrl, alive, timeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS });
  };

  /** Ends the process (SIGTERM, SIGKILL after a grace period); the database and directory stay. */
  const kill = async (): Promise<void> => {
    if (!alive()) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  let savedLog: string | undefined;
  const logs = () => {
    const file = savedLog ?? (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
    const printed = output.join("");
    return printed ? `${file}\n--- stdout/stderr ---\n${printed}` : file;
  };

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await kill();
      savedLog = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
      await dropDatabase(databaseName);
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const started = Date.now();
  try {
    await spawnProcess();
  } catch (err) {
    const why = spawnError ? `could not run ${SYNAPSE_PYTHON}: ${spawnError.message}` : (err as Error).message;
    const state = alive() ? "still running" : `exited (${child!.exitCode ?? child!.signalCode})`;
    await stop();
    throw new Error(`Synapse ${serverName} did not start: ${why}; process ${state}. Last log lines:\n${tail(logs(), LOG_TAIL_LINES)}`, {
      cause: err,
    });
  }
  const startMs = Date.now() - started;

  return {
    serverName,
    clientUrl,
    federationUrl,
    federationPort,
    dir,
    databaseName,
    startMs,
    /** The current process (a new one after `resume`). */
    get pid() {
      return child.pid!;
    },
    sharedSecret,
    logs,
    stop,
    pause: kill,
    resume: spawnProcess,
    async registerUser(localpart: string, admin = false): Promise<SynapseUser> {
      const password = randomBytes(12).toString("base64url");
      const user = await registerWithSharedSecret(clientUrl, sharedSecret, localpart, password, admin);
      return { ...user, password };
    },
  };
}

/** Polls the client /health and a TLS request to the federation listener until both answer. */
async function waitUntilReady(p: { clientUrl: string; federationUrl: string; alive: () => boolean; timeoutMs: number }): Promise<void> {
  const deadline = Date.now() + p.timeoutMs;
  let last = "no answer yet";
  let clientUp = false;
  while (Date.now() < deadline) {
    if (!p.alive()) throw new Error("the process exited early");
    try {
      if (!clientUp) {
        const health = await fetch(`${p.clientUrl}/health`, { signal: AbortSignal.timeout(5000) });
        clientUp = health.status === 200 && (await health.text()) === "OK";
        if (!clientUp) last = `client /health answered ${health.status}`;
      }
      if (clientUp) {
        const version = await federationRequest("GET", `${p.federationUrl}/_matrix/federation/v1/version`, undefined, 5000);
        if (version.status === 200) return;
        last = `federation /version answered ${version.status}`;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`not ready after ${p.timeoutMs} ms (${last})`);
}
