// A minimal Chrome DevTools Protocol client for benchmarks that need to look
// inside a server started with `--inspect=127.0.0.1:0`: force a full garbage
// collection and write a heap snapshot, without adding debug routes to the
// server. Investigation only; production never runs with --inspect.
import { createWriteStream } from "node:fs";
import { WebSocket } from "ws";

/** The DevTools URL Node prints on stderr ("Debugger listening on ws://..."), once it appears. */
export async function inspectorUrl(stderr: readonly string[], timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of stderr) {
      const match = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (match) return match[1]!;
    }
    if (Date.now() > deadline) throw new Error("the server printed no inspector URL (was it started with --inspect?)");
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Inspector {
  collectGarbage(): Promise<void>;
  /** Streams a .heapsnapshot to `path` (forces a GC first, as DevTools does). */
  writeHeapSnapshot(path: string): Promise<void>;
  close(): void;
}

export async function connectInspector(url: string): Promise<Inspector> {
  const ws = new WebSocket(url, { maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let onChunk: ((chunk: string) => void) | undefined;
  ws.on("message", (data: Buffer) => {
    const message = JSON.parse(data.toString("utf8")) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: { chunk?: string } };
    if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
      onChunk?.(message.params!.chunk!);
      return;
    }
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error.message));
    else waiter?.resolve(message.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("HeapProfiler.enable");
  return {
    async collectGarbage() {
      // Twice: the first pass can leave objects whose finalisers free more.
      await call("HeapProfiler.collectGarbage");
      await call("HeapProfiler.collectGarbage");
    },
    async writeHeapSnapshot(path) {
      const out = createWriteStream(path);
      onChunk = (chunk) => out.write(chunk);
      try {
        await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      } finally {
        onChunk = undefined;
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
    },
    close: () => ws.close(),
  };
}
