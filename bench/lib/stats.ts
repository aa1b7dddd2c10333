// Latency summaries. Samples are kept whole (a Float64Array grown by
// doubling), so percentiles are exact, not estimated from buckets.

export class Samples {
  private data = new Float64Array(1024);
  count = 0;

  add(value: number): void {
    if (this.count === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.count++] = value;
  }

  summary(): LatencySummary {
    const sorted = this.data.slice(0, this.count).sort();
    const at = (p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      p50: round(at(50)),
      p99: round(at(99)),
      max: round(sorted.length ? sorted[sorted.length - 1]! : Number.NaN),
      mean: round(sorted.length ? sum / sorted.length : Number.NaN),
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Milliseconds to 0.1 ms (NaN stays NaN, so a missing figure is visible). */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
