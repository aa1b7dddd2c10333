// Counting SQL statements without pg_stat_statements (which needs
// shared_preload_libraries, i.e. a restart of the shared PostgreSQL): both
// servers connect through a TCP proxy that reads the PostgreSQL wire protocol
// and counts, per database, the CommandComplete messages the server sends
// back. PostgreSQL sends exactly one per statement it executed, whichever
// protocol carried it (a simple Query holding several statements, as
// psycopg2's execute_batch sends, yields one each; an extended-protocol
// Execute yields one), so the count is the same measure for Synapse (psycopg2,
// simple protocol) and for us (node-postgres, extended protocol). BEGIN and
// COMMIT are statements too and are counted by their own tags.
//
// The proxy answers SSL and GSS encryption requests itself with "N", so every
// session stays readable; it forwards every byte unchanged otherwise.
import { fork, type ChildProcess } from "node:child_process";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

export interface StatementFigures {
  /** Round trips (a simple Query, or an extended-protocol batch up to its Sync). */
  calls: number;
  /** Statements they executed. */
  statements: number;
  rows: number;
  /** Sum of the round trips' times, sent to ReadyForQuery, as the server saw them. */
  ms: number;
}

export interface DatabaseCounts {
  /** Statements executed (CommandComplete messages). */
  statements: number;
  /** Statements by the first word of their command tag: SELECT, INSERT, UPDATE, DELETE, BEGIN, COMMIT, … */
  byCommand: Record<string, number>;
  /** Rows sent back (DataRow messages). */
  rows: number;
  /** Sessions opened. */
  connections: number;
  bytesToServer: number;
  bytesFromServer: number;
  /** By statement text with literals replaced by `?` (psycopg2 inlines parameters; node-postgres sends `$n`). */
  byStatement: Record<string, StatementFigures>;
}

export type Counts = Record<string, DatabaseCounts>;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Distinct statement texts kept per database; the rest are summed under "(other)". */
const MAX_STATEMENTS = 3000;
const TYPE = { query: 0x51, parse: 0x50, sync: 0x53, commandComplete: 0x43, dataRow: 0x44, ready: 0x5a } as const;

function emptyCounts(): DatabaseCounts {
  return { statements: 0, byCommand: {}, rows: 0, connections: 0, bytesToServer: 0, bytesFromServer: 0, byStatement: {} };
}

/** A statement's text with its literals, numbers and value lists folded, so one query shape is one key. */
export function normalizeStatement(text: string): string {
  return text
    .replace(/'(?:[^']|'')*'/g, "?")
    .replace(/(?<![\w$])-?\d+(?:\.\d+)?\b/g, "?")
    .replace(/\s+/g, " ")
    .replace(/\b(IN|VALUES)\s*\(\s*(?:\?|\$\d+|NULL|TRUE|FALSE)(?:\s*,\s*(?:\?|\$\d+|NULL|TRUE|FALSE))*\s*\)(?:\s*,\s*\(\s*(?:\?|\$\d+|NULL|TRUE|FALSE)(?:\s*,\s*(?:\?|\$\d+|NULL|TRUE|FALSE))*\s*\))*/gi, "$1 (…)")
    .replace(/ARRAY\[[^\]]*\]/gi, "ARRAY[…]")
    .trim()
    .slice(0, 200);
}

/**
 * Splits one direction of a session into messages (type byte, int32 length
 * including itself, payload) as they stream past, buffering only the
 * payloads `wantPayload` asks for.
 */
export class MessageReader {
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0;
  private type = 0;
  private payload: Buffer[] = [];
  private readonly wantPayload: (type: number) => boolean;
  private readonly onMessage: (type: number, payload: Buffer | undefined) => void;

  constructor(wantPayload: (type: number) => boolean, onMessage: (type: number, payload: Buffer | undefined) => void) {
    this.wantPayload = wantPayload;
    this.onMessage = onMessage;
  }

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0 && this.headerFill < 5) {
        const take = Math.min(5 - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill < 5) return;
        this.type = this.header[0]!;
        this.remaining = this.header.readInt32BE(1) - 4;
        if (this.remaining === 0) this.finish();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      if (this.wantPayload(this.type)) this.payload.push(chunk.subarray(at, at + take));
      this.remaining -= take;
      at += take;
      if (this.remaining === 0) this.finish();
    }
  }

  private finish(): void {
    this.onMessage(this.type, this.wantPayload(this.type) ? Buffer.concat(this.payload) : undefined);
    this.payload = [];
    this.headerFill = 0;
  }
}

function cString(payload: Buffer, from = 0): { text: string; end: number } {
  const end = payload.indexOf(0, from);
  return { text: payload.toString("utf8", from, end < 0 ? payload.length : end), end: end < 0 ? payload.length : end };
}

/**
 * One session's bookkeeping: the round trips the client started (a Query, or
 * Parse … Sync), each closed by the server's ReadyForQuery, with the
 * statements and rows in between. Neither driver pipelines, so answers come
 * back in the order of the requests.
 */
export class SessionCounter {
  private readonly counts: DatabaseCounts;
  private readonly pending: Array<{ key: string; start: number; statements: number; rows: number }> = [];
  private parsed: string | undefined;
  readonly frontend: MessageReader;
  readonly backend: MessageReader;

  constructor(counts: DatabaseCounts) {
    this.counts = counts;
    this.frontend = new MessageReader(
      (type) => type === TYPE.query || type === TYPE.parse,
      (type, payload) => this.fromClient(type, payload),
    );
    this.backend = new MessageReader(
      (type) => type === TYPE.commandComplete,
      (type, payload) => this.fromServer(type, payload),
    );
  }

  private fromClient(type: number, payload: Buffer | undefined): void {
    if (type === TYPE.query) this.pending.push({ key: normalizeStatement(cString(payload!).text), start: performance.now(), statements: 0, rows: 0 });
    else if (type === TYPE.parse) this.parsed = cString(payload!, cString(payload!).end + 1).text;
    else if (type === TYPE.sync) {
      this.pending.push({ key: this.parsed === undefined ? "(prepared statement)" : normalizeStatement(this.parsed), start: performance.now(), statements: 0, rows: 0 });
      this.parsed = undefined;
    }
  }

  private fromServer(type: number, payload: Buffer | undefined): void {
    const open = this.pending[0];
    if (type === TYPE.commandComplete) {
      const tag = payload!.toString("latin1");
      const command = tag.slice(0, tag.search(/[\s\0]|$/)) || "?";
      this.counts.statements += 1;
      this.counts.byCommand[command] = (this.counts.byCommand[command] ?? 0) + 1;
      if (open) open.statements += 1;
    } else if (type === TYPE.dataRow) {
      this.counts.rows += 1;
      if (open) open.rows += 1;
    } else if (type === TYPE.ready && open) {
      this.pending.shift();
      const byStatement = this.counts.byStatement;
      const key = byStatement[open.key] || Object.keys(byStatement).length < MAX_STATEMENTS ? open.key : "(other)";
      const entry = (byStatement[key] ??= { calls: 0, statements: 0, rows: 0, ms: 0 });
      entry.calls += 1;
      entry.statements += open.statements;
      entry.rows += open.rows;
      entry.ms += performance.now() - open.start;
    }
  }
}

/** The database named in a StartupMessage payload (after the int32 protocol version). */
function startupDatabase(payload: Buffer): string {
  const parts = payload.subarray(4).toString("utf8").split("\0");
  const params = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) params.set(parts[i]!, parts[i + 1]!);
  return params.get("database") ?? params.get("user") ?? "?";
}

/** A counting proxy in this process, listening on 127.0.0.1 (port 0: any free port). */
export function createCountingProxy(target: { host: string; port: number }): { server: Server; counts: Counts } {
  const counts: Counts = {};
  const server = createServer((client: Socket) => {
    client.setNoDelay(true);
    let pending = Buffer.alloc(0);
    const onStartup = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        const code = pending.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          pending = pending.subarray(length);
          client.write("N");
          continue;
        }
        client.off("data", onStartup);
        const database = code === CANCEL_REQUEST ? "(cancel)" : startupDatabase(pending.subarray(4, length));
        connect(database, pending);
        return;
      }
    };
    const connect = (database: string, first: Buffer) => {
      const entry = (counts[database] ??= emptyCounts());
      entry.connections += 1;
      const backend = createConnection(target);
      backend.setNoDelay(true);
      const session = new SessionCounter(entry);
      backend.on("data", (chunk: Buffer) => {
        entry.bytesFromServer += chunk.length;
        session.backend.feed(chunk);
        client.write(chunk);
      });
      client.on("data", (chunk: Buffer) => {
        entry.bytesToServer += chunk.length;
        session.frontend.feed(chunk);
        backend.write(chunk);
      });
      // The startup message is untyped; the typed messages start after it.
      entry.bytesToServer += first.length;
      const startupLength = first.readInt32BE(0);
      backend.write(first);
      if (first.length > startupLength) session.frontend.feed(first.subarray(startupLength));
      backend.on("error", () => client.destroy());
      backend.on("close", () => client.end());
      client.on("close", () => backend.end());
    };
    client.on("data", onStartup);
    client.on("error", () => undefined);
  });
  return { server, counts };
}

export interface CountingProxy {
  port: number;
  pid: number;
  /** The counts so far, per database. */
  snapshot(): Promise<Counts>;
  stop(): Promise<void>;
}

const PROCESS_ENTRY = fileURLToPath(new URL("./pg-proxy-process.ts", import.meta.url));

/**
 * Runs the proxy in a child process, so its CPU time is its own and not the
 * load generator's or a server's.
 */
export async function startCountingProxy(target: { host: string; port: number }): Promise<CountingProxy> {
  const child: ChildProcess = fork(PROCESS_ENTRY, [target.host, String(target.port)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map<number, (counts: Counts) => void>();
  let asked = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the PostgreSQL counting proxy exited (${code})`)));
    child.on("message", (message: { type: string; port?: number; id?: number; counts?: Counts }) => {
      if (message.type === "listening") resolve(message.port!);
      if (message.type === "counts") {
        waiting.get(message.id!)?.(message.counts!);
        waiting.delete(message.id!);
      }
    });
  });
  return {
    port,
    pid: child.pid!,
    snapshot() {
      asked += 1;
      const id = asked;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.send({ type: "snapshot", id });
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** `after - before` for one database (zeros when it had no session yet). */
export function countsBetween(before: Counts, after: Counts, database: string): DatabaseCounts {
  const a = after[database] ?? emptyCounts();
  const b = before[database] ?? emptyCounts();
  const byCommand: Record<string, number> = {};
  for (const [command, n] of Object.entries(a.byCommand)) {
    const delta = n - (b.byCommand[command] ?? 0);
    if (delta > 0) byCommand[command] = delta;
  }
  const byStatement: Record<string, StatementFigures> = {};
  for (const [key, f] of Object.entries(a.byStatement)) {
    const p = b.byStatement[key] ?? { calls: 0, statements: 0, rows: 0, ms: 0 };
    if (f.calls > p.calls) byStatement[key] = { calls: f.calls - p.calls, statements: f.statements - p.statements, rows: f.rows - p.rows, ms: f.ms - p.ms };
  }
  return {
    byStatement,
    statements: a.statements - b.statements,
    byCommand,
    rows: a.rows - b.rows,
    connections: a.connections - b.connections,
    bytesToServer: a.bytesToServer - b.bytesToServer,
    bytesFromServer: a.bytesFromServer - b.bytesFromServer,
  };
}
