// P7's host: a Synapse holding one public room of N members, the room other
// servers join. Populating it (N registrations and N joins through Synapse's
// own APIs) takes minutes at 5,000 members, so a populated host is kept
// between runs: its database as a PostgreSQL template
// (`myelin_bench_p7_cache_<members>_<hash>`, copied with CREATE DATABASE …
// TEMPLATE), and what the copy needs to be served again under
// the git-ignored bench/results/tmp/p7-cache/: the federation port (the server
// name is `127.0.0.1:<port>`, which Synapse refuses to change under a
// database), the signing key (every event of the room carries its
// signature), the room ID and the creator's token. The cache key holds the
// Synapse version and the member count; a run that cannot reuse the cache
// (no file, no template, the port taken) populates afresh and replaces it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { withAdmin } from "../../spec/support/admin-db.ts";
import { repoRoot } from "../../spec/support/repo-root.ts";
import { startSynapse, type RunningSynapse } from "../../spec/support/synapse.ts";
import { JsonHttp } from "./http.ts";
import { createRoom, joinRoom, registerUsers, type User } from "./matrix.ts";
import { mapLimit } from "./pool.ts";
import { SYNAPSE_VERSION } from "./servers.ts";

/** Bump when the population changes (room settings, user names): older caches are then ignored. */
const CACHE_FORMAT = 1;
const CACHE_DIR = join(repoRoot, "bench/results/tmp/p7-cache");
const START_TIMEOUT_MS = 180_000;
/** Registrations and joins in flight while populating (Synapse serialises a room's joins; a few in flight keep it busy). */
const POPULATE_CONCURRENCY = 8;

export interface JoinHost {
  synapse: RunningSynapse;
  roomId: string;
  /** Members the room was populated with (the creator included). */
  members: number;
  creator: User;
  /** Reused from the cache, or populated in this run. */
  cached: boolean;
  /** Seconds spent populating (0 when cached). */
  populateSeconds: number;
  /** The template database the host was copied from. */
  template: string;
}

export interface CacheEntry {
  format: number;
  synapse: string;
  members: number;
  federationPort: number;
  signingKey: string;
  roomId: string;
  creator: User;
  template: string;
}

/** Synapse settings of the host: its default pool, and registration cheap (bcrypt 4 rounds and no rate limits are the harness's already). */
const HOST_CONFIG = { database: { args: { cp_min: 5, cp_max: 10 } } };

function cacheKey(members: number): string {
  return `synapse-${SYNAPSE_VERSION}-members-${members}-format-${CACHE_FORMAT}`;
}

function templateName(members: number): string {
  return `myelin_bench_p7_cache_${members}_${createHash("sha256").update(cacheKey(members)).digest("hex").slice(0, 8)}`;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once("error", () => done(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => done(true)));
  });
}

async function databaseExists(name: string): Promise<boolean> {
  return withAdmin(async (c) => (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1);
}

function readCache(members: number): CacheEntry | undefined {
  const file = join(CACHE_DIR, `${cacheKey(members)}.json`);
  if (!existsSync(file)) return undefined;
  try {
    const entry = JSON.parse(readFileSync(file, "utf8")) as CacheEntry;
    return entry.format === CACHE_FORMAT && entry.synapse === SYNAPSE_VERSION && entry.members === members ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** The room's joined members as the host counts them (the creator's view). */
export async function joinedCount(synapse: RunningSynapse, creator: User, roomId: string): Promise<number> {
  const http = new JsonHttp(synapse.clientUrl, 4);
  try {
    const body = await http.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`, { token: creator.access_token, timeoutMs: 120_000 });
    return Object.keys(body.joined ?? {}).length;
  } finally {
    http.close();
  }
}

/** Where a room of `members` members can be served from: the cache, filled first when it cannot be used. */
export interface HostTemplate {
  entry: CacheEntry;
  /** Populated in this run (false: reused from an earlier run). */
  populated: boolean;
  /** Seconds spent populating (0 when reused). */
  populateSeconds: number;
}

/**
 * The template of a host with a room of `members` members (creator
 * included): reused when the cache entry, its template database and its
 * port are all there, else populated now (a Synapse started on a free port,
 * the users registered and joined through its APIs, then stopped and its
 * database copied as the template).
 */
export async function hostTemplate(members: number, log: (message: string) => void): Promise<HostTemplate> {
  const template = templateName(members);
  const cached = readCache(members);
  if (cached && cached.template === template && (await databaseExists(template)) && (await portIsFree(cached.federationPort))) {
    log(`P7 host: ${members} members from the cached template ${template}`);
    return { entry: cached, populated: false, populateSeconds: 0 };
  }
  if (cached) log(`P7 host: the cache for ${members} members is unusable (template missing or port ${cached.federationPort} taken); populating afresh`);

  const started = performance.now();
  const synapse = await startSynapse({ databaseName: `${template}_populating`, config: HOST_CONFIG, startTimeoutMs: START_TIMEOUT_MS });
  try {
    const http = new JsonHttp(synapse.clientUrl, 64);
    const [creator] = await registerUsers(synapse.clientUrl, synapse.sharedSecret, "p7owner", 1);
    const roomId = await createRoom(http, creator!, { name: `P7 room of ${members}` });
    const joiners = await registerUsers(synapse.clientUrl, synapse.sharedSecret, "p7m", members - 1, POPULATE_CONCURRENCY);
    log(`P7 host ${synapse.serverName}: started and ${joiners.length + 1} users registered in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    let done = 0;
    await mapLimit(joiners, POPULATE_CONCURRENCY, async (user) => {
      await joinRoom(http, user, roomId);
      done += 1;
      if (done % 1000 === 0) log(`P7 host: ${done} of ${joiners.length} joined (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    });
    http.close();
    const counted = await joinedCount(synapse, creator!, roomId);
    if (counted !== members) throw new Error(`the host's room has ${counted} joined members, not ${members}`);
    const populateSeconds = (performance.now() - started) / 1000;
    log(`P7 host: ${members} members in ${populateSeconds.toFixed(0)} s; saving the database as template ${template}`);

    // A template must have no connections: the host stops before it is copied.
    await synapse.pause();
    await withAdmin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(template)} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${pg.escapeIdentifier(template)} TEMPLATE ${pg.escapeIdentifier(synapse.databaseName)}`);
    });
    mkdirSync(CACHE_DIR, { recursive: true });
    const entry: CacheEntry = {
      format: CACHE_FORMAT,
      synapse: SYNAPSE_VERSION,
      members,
      federationPort: synapse.federationPort,
      signingKey: readFileSync(join(synapse.dir, "signing.key"), "utf8"),
      roomId,
      creator: creator!,
      template,
    };
    // The file holds a throwaway benchmark server's signing key: owner-readable only, and git-ignored.
    writeFileSync(join(CACHE_DIR, `${cacheKey(members)}.json`), `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600 });
    return { entry, populated: true, populateSeconds };
  } finally {
    await synapse.stop();
  }
}

/**
 * A running host on a fresh copy of the template (`databaseName`, dropped by
 * `synapse.stop()`): each joiner joins the same room in the same state, and
 * finds no server of an earlier joiner in it.
 */
export async function startJoinHost(from: HostTemplate, databaseName: string): Promise<JoinHost> {
  const { entry } = from;
  const synapse = await startSynapse({
    databaseName,
    databaseTemplate: entry.template,
    federationPort: entry.federationPort,
    signingKey: entry.signingKey,
    config: HOST_CONFIG,
    startTimeoutMs: START_TIMEOUT_MS,
  });
  return { synapse, roomId: entry.roomId, members: entry.members, creator: entry.creator, cached: !from.populated, populateSeconds: from.populateSeconds, template: entry.template };
}
