// Single-key lookups made in the same turn of the event loop, answered by one
// bulk load. The syncs a commit wakes ask Redis about their rooms at the same
// moment; one pipeline answers them all, and every caller resumes in the same
// turn, which keeps their next database reads in one batch
// (server/storage/keyed-read.ts). Identical keys share one answer.
export function tickBatch<V>(load: (keys: string[]) => Promise<V[]>): (key: string) => Promise<V> {
  let pending: Map<string, { resolve: (value: V) => void; reject: (err: unknown) => void }[]> | undefined;
  const flush = (batch: NonNullable<typeof pending>) => {
    const keys = [...batch.keys()];
    load(keys).then(
      (values) => keys.forEach((key, i) => batch.get(key)!.forEach((caller) => caller.resolve(values[i]!))),
      (err: unknown) => batch.forEach((callers) => callers.forEach((caller) => caller.reject(err))),
    );
  };
  return (key) =>
    new Promise<V>((resolve, reject) => {
      if (!pending) {
        const batch = (pending = new Map());
        setImmediate(() => {
          pending = undefined;
          flush(batch);
        });
      }
      const callers = pending.get(key);
      if (callers) callers.push({ resolve, reject });
      else pending.set(key, [{ resolve, reject }]);
    });
}
