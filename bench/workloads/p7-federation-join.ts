// P7: joining a large room over federation. A Synapse host holds a public
// room of N members (bench/lib/join-host.ts); a user of our server joins it
// (POST /join/{roomId}?server_name=<host>), then, once ours is stopped, a user
// of a second Synapse joins the same room the same way. The joiners never run
// at once. For each: the join request's wall time to its 200, the time until
// the joiner's own /sync shows the room in `join`, the time until /members
// lists every joined member, and, for Synapse, whether the join was
// partial-state (it asks the host to omit members, answers the client early
// and fetches the rest in the background) and when its room stopped being
// partial. Our server always does a full join: its 200 comes with the whole
// state stored. Each joiner's process (peak RSS, CPU), its PostgreSQL backends
// and SQL statements (through the counting proxy), and the host's CPU are
// measured over the window from the join request to full state.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import pg from "pg";
import { repoRoot } from "../../spec/support/repo-root.ts";
import { testServerUrl } from "../../spec/support/test-env.ts";
import { measured, type Context, type Measured } from "../lib/context.ts";
import { JsonHttp } from "../lib/http.ts";
import { hostTemplate, joinedCount, startJoinHost, type JoinHost } from "../lib/join-host.ts";
import { ELEMENT_FILTER, registerUsers, syncPath, type User } from "../lib/matrix.ts";
import { sleep } from "../lib/pool.ts";
import { processWindow } from "../lib/proc.ts";
import { startBenchSynapse, startMyelin, SYNAPSE_VERSION, type BenchServer, type ServerKind } from "../lib/servers.ts";

const enc = encodeURIComponent;
const POLL_MS = 50;

export interface JoinFigures {
  /** POST /join to its 200. */
  joinMs: number;
  /** Until an incremental /sync (Element's filter: lazy-loaded members) has the room under rooms.join. */
  syncMs: number;
  /** Until /members?membership=join lists every joined member (the host's count plus the joiner). */
  membersMs: number;
  /** Until the joiner holds the room's full state: the 200 for ours; the end of the background resync for a partial-state join. */
  fullStateMs: number;
  /** Synapse's join asked for a partial state (its log and its partial_state_rooms table say so). */
  partialState: boolean;
  /** Members expected in /members (joined on the host before the join, plus the joiner). */
  expectedMembers: number;
  /** Size of the /members answer once complete. */
  membersBytes: number;
  /** The host Synapse's CPU in the window (it answers make_join and send_join, then the resync's /state requests). */
  hostCpuSeconds: number;
  /** Ours only: the phases our server logged for the join (federation/membership/remote-membership.ts, debug level). */
  phases?: Record<string, number | string>;
  /** Ours only: the federation requests our server logged during the join (make_join, send_join, key fetches). */
  federationRequests?: Array<{ method: string; path: string; status: number; bytes?: number; durationMs: number }>;
}

export interface P7Size {
  members: number;
  hostCached: boolean;
  hostPopulateSeconds: number;
  roomVersion: string;
  myelin?: Measured<JoinFigures> & { startMs: number };
  synapse?: Measured<JoinFigures> & { startMs: number };
  errors: Record<string, string>;
}

export interface P7Result {
  sizes: P7Size[];
  hostSynapse: string;
  /** Each joiner's name and version, e.g. "Myelin 0.1.0 (abc1234)". */
  joiners: Partial<Record<ServerKind, string>>;
}

export interface P7Options {
  sizes: number[];
  kinds: readonly ServerKind[];
  stamp: string;
  proxyPort: number;
  probe: Context["probe"];
  proxy: Context["proxy"];
  /** The longest a join may take, request to full state, before the workload gives up. */
  joinTimeoutMs: number;
  /** Ours: write a V8 CPU profile per size into this folder. */
  cpuProfileDir?: (members: number) => string | undefined;
  log(message: string): void;
}

/** What our server needs to federate on loopback with Synapse's self-signed certificates (Synapse's federation_verify_certificates is off too). */
const OUR_FEDERATION = {
  federation: { verify_certificates: false, ip_range_allowlist: ["127.0.0.1"], rate_limit: { per_second: 0, burst_count: 1 } },
  // The join's phase timings are debug lines; the server logs little else at debug.
  logging: { level: "debug" },
};

/** A Synapse joiner's partial-state flag, read from its database directly (not through the counting proxy). */
async function partialStateProbe(databaseName: string): Promise<{ isPartial(roomId: string): Promise<boolean>; close(): Promise<void> }> {
  const url = new URL(testServerUrl);
  url.pathname = `/${databaseName}`;
  const client = new pg.Client({ connectionString: url.toString(), application_name: "myelin-bench-p7" });
  await client.connect();
  return {
    isPartial: async (roomId) => ((await client.query("SELECT 1 FROM partial_state_rooms WHERE room_id = $1", [roomId])).rowCount ?? 0) > 0,
    close: () => client.end(),
  };
}

async function until<T>(what: string, deadline: number, attempt: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** Our server's debug lines about the join, picked out of its JSON log. */
function ourJoinLog(server: BenchServer, roomId: string): Pick<JoinFigures, "phases" | "federationRequests"> {
  const lines = server
    .logs()
    .split("\n")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, any>];
      } catch {
        return [];
      }
    });
  const phaseLine = lines.find((l) => l.msg === "remote join phases" && l.roomId === roomId);
  const phases = phaseLine ? Object.fromEntries(Object.entries(phaseLine).filter(([k, v]) => (typeof v === "number" && k !== "level" && k !== "time" && k !== "pid") || k === "roomVersion")) : undefined;
  const federationRequests = lines
    .filter((l) => l.msg === "federation request")
    .map((l) => ({ method: l.method, path: String(l.path).replace(/![^/]+|\$[^/]+|@[^/]+/g, "…"), status: l.status, bytes: l.bytes, durationMs: l.durationMs }));
  return { phases, federationRequests };
}

async function measureJoin(p: { kind: ServerKind; joiner: BenchServer; user: User; host: JoinHost; probe: Context["probe"]; proxy: Context["proxy"]; timeoutMs: number }): Promise<Measured<JoinFigures>> {
  const { joiner, user, host } = p;
  const JOIN_TIMEOUT_MS = p.timeoutMs;
  const http = new JsonHttp(joiner.baseUrl, 16);
  const partial = p.kind === "synapse" ? await partialStateProbe(joiner.databaseName) : undefined;
  try {
    const expectedMembers = (await joinedCount(host.synapse, host.creator, host.roomId)) + 1;
    // A since token from a sync that asks for no rooms: the joiner then follows from now.
    const first = await http.ok("GET", syncPath({ timeoutMs: 0, filter: { room: { rooms: [] } } }), { token: user.access_token, timeoutMs: 60_000 });
    const hostWindow = processWindow(host.synapse.pid);
    return await measured({ server: joiner, probe: p.probe, proxy: p.proxy }, async () => {
      const deadline = Date.now() + JOIN_TIMEOUT_MS;
      const start = performance.now();
      const elapsed = () => Math.round(performance.now() - start);
      const res = await http.request("POST", `/_matrix/client/v3/join/${enc(host.roomId)}?server_name=${enc(host.synapse.serverName)}`, { token: user.access_token, body: {}, timeoutMs: JOIN_TIMEOUT_MS });
      if (res.status !== 200) throw new Error(`the join answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
      const joinMs = elapsed();
      const partialAt200 = partial ? await partial.isPartial(host.roomId) : false;

      const synced = (async () => {
        let since = first.next_batch as string;
        return until("the room in the joiner's sync", deadline, async () => {
          const body = await http.ok("GET", syncPath({ since, timeoutMs: 5000, filter: ELEMENT_FILTER }), { token: user.access_token, timeoutMs: 120_000 });
          since = body.next_batch;
          return body.rooms?.join?.[host.roomId] ? elapsed() : undefined;
        });
      })();
      const listed = until("every member in /members", deadline, async () => {
        const members = await http.request("GET", `/_matrix/client/v3/rooms/${enc(host.roomId)}/members?membership=join`, { token: user.access_token, timeoutMs: JOIN_TIMEOUT_MS });
        const count = members.status === 200 ? ((members.body.chunk as unknown[] | undefined)?.length ?? 0) : 0;
        return count >= expectedMembers ? { at: elapsed(), bytes: members.bytes } : undefined;
      });
      const full = partial ? until("the end of the partial-state resync", deadline, async () => ((await partial.isPartial(host.roomId)) ? undefined : elapsed())) : Promise.resolve(joinMs);
      const [syncMs, members, fullStateMs] = await Promise.all([synced, listed, full]);
      const resynced = partial ? joiner.logs().includes(`Syncing state for room ${host.roomId}`) : false;
      return {
        joinMs,
        syncMs,
        membersMs: members.at,
        fullStateMs,
        partialState: partialAt200 || resynced,
        expectedMembers,
        membersBytes: members.bytes,
        hostCpuSeconds: hostWindow.end().cpuSeconds,
        ...(p.kind === "myelin" ? ourJoinLog(joiner, host.roomId) : {}),
      };
    });
  } finally {
    http.close();
    await partial?.close();
  }
}

const joinerLabels: Partial<Record<ServerKind, string>> = {};

async function oneJoiner(kind: ServerKind, members: number, host: JoinHost, options: P7Options): Promise<Measured<JoinFigures> & { startMs: number }> {
  const start = kind === "myelin" ? startMyelin : startBenchSynapse;
  const server = await start({
    databaseName: `myelin_bench_${options.stamp}_p7_${members}_${kind}`,
    databasePort: options.proxyPort,
    probe: options.probe,
    streamConnections: 100,
    cpuProfileDir: kind === "myelin" ? options.cpuProfileDir?.(members) : undefined,
    ...(kind === "myelin" ? { config: OUR_FEDERATION } : {}),
  });
  joinerLabels[kind] = server.label;
  try {
    const [user] = await registerUsers(server.baseUrl, server.sharedSecret, "p7joiner", 1);
    const figures = await measureJoin({ kind, joiner: server, user: user!, host, probe: options.probe, proxy: options.proxy, timeoutMs: options.joinTimeoutMs });
    const r = figures.result;
    options.log(
      `P7 ${members}: ${server.label} joined in ${r.joinMs} ms (${r.partialState ? "partial state" : "full state"}), sync ${r.syncMs} ms, /members complete ${r.membersMs} ms, full state ${r.fullStateMs} ms; peak RSS ${figures.server.peakRssMiB.toFixed(0)} MiB, CPU ${figures.server.cpuSeconds.toFixed(1)} s, host CPU ${r.hostCpuSeconds.toFixed(1)} s, ${figures.sql.statements} SQL statements`,
    );
    return { ...figures, startMs: server.startMs };
  } catch (err) {
    // The whole log, for reading by hand (git-ignored).
    const saved = join(repoRoot, "bench/results/tmp", `p7-${options.stamp}-${members}-${kind}.log`);
    mkdirSync(dirname(saved), { recursive: true });
    writeFileSync(saved, server.logs());
    throw new Error(`${(err as Error).message} (whole log: ${saved})\n--- ${kind} log ---\n${server.logTail(15)}`, { cause: err });
  } finally {
    await server.stop();
  }
}

export async function runP7(options: P7Options): Promise<P7Result> {
  const sizes: P7Size[] = [];
  for (const members of options.sizes) {
    const template = await hostTemplate(members, options.log);
    const size: P7Size = { members, hostCached: !template.populated, hostPopulateSeconds: Math.round(template.populateSeconds), roomVersion: "", errors: {} };
    for (const kind of options.kinds) {
      // Each joiner gets its own copy of the host: the same room, the same state, the host's caches cold for both.
      const host = await startJoinHost(template, `myelin_bench_${options.stamp}_p7_${members}_host_${kind}`);
      try {
        if (!size.roomVersion) size.roomVersion = await roomVersionOf(host);
        size[kind] = await oneJoiner(kind, members, host, options);
      } catch (err) {
        size.errors[kind] = (err as Error).stack ?? String(err);
        options.log(`P7 ${members}: ${kind} failed: ${(err as Error).message.split("\n")[0]}`);
      } finally {
        await host.synapse.stop();
      }
    }
    sizes.push(size);
  }
  return { sizes, hostSynapse: `Synapse ${SYNAPSE_VERSION}`, joiners: { ...joinerLabels } };
}

async function roomVersionOf(host: JoinHost): Promise<string> {
  const http = new JsonHttp(host.synapse.clientUrl, 2);
  try {
    const create = await http.ok("GET", `/_matrix/client/v3/rooms/${enc(host.roomId)}/state/m.room.create/`, { token: host.creator.access_token });
    return String(create.room_version ?? "1");
  } finally {
    http.close();
  }
}
