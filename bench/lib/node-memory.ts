// Where our server's resident memory is: the V8 heap and external buffers
// from its own /metrics (prom-client's default gauges, loopback only), next to
// RSS from /proc. What RSS holds beyond them is native memory (malloc arenas,
// code, thread stacks). Synapse has no counterpart here (its metrics
// listener is off, as in the test harness).
import { memoryMiB } from "./proc.ts";

export interface NodeMemory {
  rssMiB: number;
  heapTotalMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  /** RSS minus the V8 heap and external memory. */
  nativeMiB: number;
}

export async function nodeMemory(baseUrl: string, pid: number): Promise<NodeMemory> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
  const rssMiB = memoryMiB(pid).rss;
  const heapTotalMiB = gauge("nodejs_heap_size_total_bytes");
  const externalMiB = gauge("nodejs_external_memory_bytes");
  return { rssMiB, heapTotalMiB, heapUsedMiB: gauge("nodejs_heap_size_used_bytes"), externalMiB, nativeMiB: rssMiB - heapTotalMiB - externalMiB };
}
