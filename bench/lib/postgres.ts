// What the bench reads from PostgreSQL itself: per-database activity counters
// (pg_stat_database), sizes, and the backend processes serving a database
// (their memory and CPU are PostgreSQL's, counted apart from each server's).
import pg from "pg";
import { testServerUrl } from "../../spec/support/test-env.ts";
import { sleep } from "./pool.ts";
import { cpuSeconds, pssMiB } from "./proc.ts";

export interface DatabaseActivity {
  xact_commit: number;
  xact_rollback: number;
  tup_returned: number;
  tup_fetched: number;
  tup_inserted: number;
  tup_updated: number;
  tup_deleted: number;
  blks_read: number;
  blks_hit: number;
}

const ACTIVITY_COLUMNS = ["xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "blks_read", "blks_hit"] as const;

/** One admin connection to the maintenance database, kept for the whole run. */
export class PostgresProbe {
  private readonly client: pg.Client;
  private constructor(client: pg.Client) {
    this.client = client;
  }

  static async open(): Promise<PostgresProbe> {
    const client = new pg.Client({ connectionString: testServerUrl, application_name: "myelin-bench-probe" });
    await client.connect();
    return new PostgresProbe(client);
  }

  async version(): Promise<string> {
    return (await this.client.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;
  }

  async setting(name: string): Promise<string> {
    return (await this.client.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = $1", [name])).rows[0]?.setting ?? "";
  }

  /**
   * pg_stat_database counters. The statistics collector publishes them with a
   * delay (PostgreSQL 15: when a backend goes idle, at most once a second), so
   * a caller waits a little after a workload before reading.
   */
  async activity(database: string): Promise<DatabaseActivity> {
    await this.client.query("SELECT pg_stat_clear_snapshot()");
    const row = (await this.client.query(`SELECT ${ACTIVITY_COLUMNS.join(", ")} FROM pg_stat_database WHERE datname = $1`, [database])).rows[0] ?? {};
    return Object.fromEntries(ACTIVITY_COLUMNS.map((c) => [c, Number(row[c] ?? 0)])) as unknown as DatabaseActivity;
  }

  async databaseBytes(database: string): Promise<number> {
    return Number((await this.client.query("SELECT pg_database_size($1) AS bytes", [database])).rows[0].bytes);
  }

  /** Process IDs of the backends connected to `database`. */
  async backendPids(database: string): Promise<number[]> {
    return (await this.client.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1", [database])).rows.map((r) => r.pid);
  }

  async createDatabase(name: string, options = ""): Promise<void> {
    await this.client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE template0 ENCODING 'UTF8' ${options}`);
  }

  async dropDatabase(name: string): Promise<void> {
    await this.client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** `after - before`, counter by counter. */
export function activityBetween(before: DatabaseActivity, after: DatabaseActivity): DatabaseActivity {
  return Object.fromEntries(ACTIVITY_COLUMNS.map((c) => [c, after[c] - before[c]])) as unknown as DatabaseActivity;
}

/** Waits for the statistics collector to publish what the last workload did. */
export const settleStats = () => sleep(1200);

export interface BackendWindow {
  /** Peak of the summed PSS of the database's backends, MiB. */
  peakPssMiB: number;
  /** CPU time the database's backends used in the window, seconds. */
  cpuSeconds: number;
  backends: number;
}

/** Samples the database's backends once a second until `end()`. */
export function backendWindow(probe: PostgresProbe, database: string): { end(): Promise<BackendWindow> } {
  const firstCpu = new Map<number, number>();
  const lastCpu = new Map<number, number>();
  let peak = 0;
  let stopped = false;
  const sample = async (atStart: boolean) => {
    const pids = await probe.backendPids(database);
    let pss = 0;
    for (const pid of pids) {
      const cpu = cpuSeconds(pid);
      // A backend that appears during the window used all its CPU time in it.
      if (!firstCpu.has(pid)) firstCpu.set(pid, atStart ? cpu : 0);
      lastCpu.set(pid, cpu);
      pss += pssMiB(pid);
    }
    peak = Math.max(peak, pss);
  };
  const loop = (async () => {
    await sample(true);
    while (!stopped) {
      await sleep(1000);
      await sample(false);
    }
  })();
  return {
    async end() {
      stopped = true;
      await loop;
      let cpu = 0;
      for (const [pid, last] of lastCpu) cpu += Math.max(0, last - (firstCpu.get(pid) ?? 0));
      return { peakPssMiB: peak, cpuSeconds: cpu, backends: lastCpu.size };
    },
  };
}
