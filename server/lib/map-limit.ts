// Bounded concurrency: enough work in flight to keep the pool busy (and, with
// database.batch_reads, to let reads of the same shape merge), never so much
// that one request queues thousands of queries ahead of everyone else's.

/** Runs `work` on every item with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
