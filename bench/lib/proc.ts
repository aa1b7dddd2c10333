// Memory and CPU time of a process, read from /proc. A workload's window
// resets the kernel's peak-RSS mark (VmHWM, via /proc/<pid>/clear_refs "5")
// when it may, and samples VmRSS every 100 ms in any case, so its peak is that
// window's, not the process lifetime's.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const SAMPLE_MS = 100;

/** Resident and peak resident memory in MiB. */
export function memoryMiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Proportional set size in MiB (shared pages split between their users): fair for PostgreSQL backends. */
export function pssMiB(pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** User + system CPU time in seconds. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export interface ProcessWindow {
  /** Peak RSS in the window, MiB. */
  peakRssMiB: number;
  /** RSS at the end of the window, MiB. */
  endRssMiB: number;
  /** CPU time used in the window, seconds. */
  cpuSeconds: number;
  wallSeconds: number;
  /** How the peak was taken: the kernel's reset peak mark, or 100 ms samples only. */
  peakFrom: "VmHWM" | "samples";
}

/** Starts measuring a window; `end()` returns the figures. */
export function processWindow(pid: number): { end(): ProcessWindow } {
  let reset = false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    reset = true;
  } catch {
    // not permitted here: sampling alone
  }
  const cpuStart = cpuSeconds(pid);
  const started = performance.now();
  let peak = memoryMiB(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memoryMiB(pid).rss);
    } catch {
      // the process is gone; end() reports what was seen
    }
  }, SAMPLE_MS);
  timer.unref();
  return {
    end() {
      clearInterval(timer);
      const mem = memoryMiB(pid);
      return {
        peakRssMiB: reset ? Math.max(mem.hwm, peak) : Math.max(mem.rss, peak),
        endRssMiB: mem.rss,
        cpuSeconds: cpuSeconds(pid) - cpuStart,
        wallSeconds: (performance.now() - started) / 1000,
        peakFrom: reset ? "VmHWM" : "samples",
      };
    },
  };
}
