// Reads that many callers make at once for different keys run as one
// statement over an array of keys. One message to a room of a thousand
// members wakes a thousand syncs, each asking for its own memberships, its
// own unread counts, its own device's inbox: the same question about a
// different user. Each such read is written once in its keyed form, where
// the keys arrive as parallel arrays ($1..$n, one array per key column)
// unnested WITH ORDINALITY as `key_index`, and the rows say which key they
// answer. Calls made in the same turn of the event loop are collected, their
// keys deduplicated, and sent together; each caller gets back the rows of its
// own keys. A fan-out then costs one statement per kind of read, whatever the
// number of members, and each key is one index probe inside it.
//
// Unlike the generic merging of server/storage/batching-reader.ts (a UNION
// ALL, one planned branch per caller), the statement is planned once for the
// whole array, which is why each read is hand-written and its plan checked:
// every key must drive an index look-up (a nested loop over the unnested
// keys), never a scan.
//
// Inside a transaction, or with a single caller, the same statement runs with
// that caller's keys alone, so there is one code path for every caller.
import type { Queryable } from "./database.ts";

/** Distinct keys sent in one statement; more are split across statements. */
const MAX_KEYS = 1000;
const KEY_INDEX = "key_index";

type Key = readonly unknown[];

interface Caller {
  keys: readonly Key[];
  resolve: (rows: Record<string, unknown>[][]) => void;
  reject: (err: unknown) => void;
}

interface PendingRead {
  text: string;
  width: number;
  shared: readonly unknown[];
  callers: Caller[];
}


export interface KeyedRead<Row> {
  /**
   * The rows for each of `keys` (in order), with `shared` as the parameters
   * after the key columns. Every key must have `width` values.
   */
  (q: Queryable, keys: readonly Key[], shared?: readonly unknown[]): Promise<Row[][]>;
}

/**
 * A keyed read. `text` takes the key columns as $1..$width arrays and
 * returns a `key_index` column: the 1-based position of the key a row answers.
 */
export function keyedRead<Row>(text: string, width: number): KeyedRead<Row> {
  // Per pool: this read's calls waiting for the end of the current turn, by
  // shared parameters (per read, so the long SQL text is never a map key).
  const pendingByPool = new WeakMap<Queryable, Map<string, PendingRead>>();
  return (q, keys, shared = []) => {
    if (keys.length === 0) return Promise.resolve([]);
    // The pool batches; a transaction's client (no `transaction`) runs alone,
    // in order with the rest of its transaction.
    if (!("transaction" in q)) return run(q, text, width, keys, shared) as Promise<Row[][]>;
    let pending = pendingByPool.get(q);
    if (!pending) {
      pending = new Map();
      pendingByPool.set(q, pending);
    }
    const batchKey = shared.length === 0 ? "" : JSON.stringify(shared);
    let read = pending.get(batchKey);
    if (!read) {
      read = { text, width, shared, callers: [] };
      if (pending.size === 0) {
        const batches = pending;
        setImmediate(() => flush(q, batches));
      }
      pending.set(batchKey, read);
    }
    const batch = read;
    return new Promise<Row[][]>((resolve, reject) => {
      batch.callers.push({ keys, resolve: resolve as (rows: Record<string, unknown>[][]) => void, reject });
    });
  };
}

function flush(q: Queryable, pending: Map<string, PendingRead>): void {
  const reads = [...pending.values()];
  pending.clear();
  for (const read of reads) void runRead(q, read);
}

async function runRead(q: Queryable, read: PendingRead): Promise<void> {
  // Identical keys (every member asking about the same room) are sent once.
  const distinct = new Map<string, number>();
  const keys: Key[] = [];
  const positions = read.callers.map((caller) =>
    caller.keys.map((key) => {
      const id = keyId(key);
      let at = distinct.get(id);
      if (at === undefined) {
        at = keys.length;
        distinct.set(id, at);
        keys.push(key);
      }
      return at;
    }),
  );
  try {
    const chunks: Key[][] = [];
    for (let start = 0; start < keys.length; start += MAX_KEYS) chunks.push(keys.slice(start, start + MAX_KEYS));
    const answers = (await Promise.all(chunks.map((chunk) => run(q, read.text, read.width, chunk, read.shared)))).flat();
    read.callers.forEach((caller, i) => caller.resolve(positions[i]!.map((at) => answers[at]!)));
  } catch (err) {
    for (const caller of read.callers) caller.reject(err);
  }
}

/** Identity of a key for deduplication (each column has one type, so values need no type tag). */
function keyId(key: Key): string {
  if (key.length === 1 && typeof key[0] === "string") return key[0];
  return key.map((v) => (Buffer.isBuffer(v) ? v.toString("hex") : String(v))).join("\u0000");
}

async function run(q: Queryable, text: string, width: number, keys: readonly Key[], shared: readonly unknown[]): Promise<Record<string, unknown>[][]> {
  const columns = Array.from({ length: width }, (_, c) => keys.map((key) => key[c]));
  const { rows } = await q.query(text, [...columns, ...shared]);
  const answers: Record<string, unknown>[][] = keys.map(() => []);
  // key_index stays on the row: deleting a property would turn every row
  // into a slow dictionary-mode object; callers pick the columns they need.
  for (const row of rows) answers[Number(row[KEY_INDEX]) - 1]!.push(row);
  return answers;
}
