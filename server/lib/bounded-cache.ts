// A least-recently-used cache with a fixed number of entries. Caches keyed by
// rooms, users or devices go through it, so none grows with everything a
// long-running process has seen; each use states its bound and why.
// Pure (no I/O).

export interface CacheStats {
  readonly name: string;
  readonly size: number;
  readonly maxEntries: number;
  /** Entries dropped to stay within maxEntries, since start. */
  readonly evictions: number;
}

export class BoundedCache<K, V> implements CacheStats {
  readonly name: string;
  readonly maxEntries: number;
  private evicted = 0;
  // A Map iterates in insertion order: re-inserting on use keeps the least
  // recently used entry first, where eviction takes it from.
  private readonly entries = new Map<K, V>();

  constructor(name: string, maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`cache ${name}: maxEntries must be a positive integer, not ${maxEntries}`);
    this.name = name;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  get evictions(): number {
    return this.evicted;
  }

  /** The value, marked as recently used; undefined when absent. */
  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Whether the key is cached, without marking it used. */
  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as K);
      this.evicted += 1;
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The caches of one process, so /metrics can report their sizes. */
export class CacheRegistry {
  private readonly caches: CacheStats[] = [];

  create<K, V>(name: string, maxEntries: number): BoundedCache<K, V> {
    if (this.caches.some((c) => c.name === name)) throw new Error(`cache ${name} created twice`);
    const cache = new BoundedCache<K, V>(name, maxEntries);
    this.caches.push(cache);
    return cache;
  }

  all(): readonly CacheStats[] {
    return this.caches;
  }
}
