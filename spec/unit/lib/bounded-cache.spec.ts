// The bounded LRU every in-process cache uses: it never holds more than its
// bound, evicts the least recently used entry, and counts what it dropped.
import { expect } from "chai";
import fc from "fast-check";
import { BoundedCache, CacheRegistry } from "../../../server/lib/bounded-cache.ts";

describe("BoundedCache", () => {
  it("keeps at most maxEntries, dropping the least recently set first", () => {
    const cache = new BoundedCache<string, number>("t", 3);
    for (const [i, key] of ["a", "b", "c", "d", "e"].entries()) cache.set(key, i);
    expect(cache.size).to.equal(3);
    expect(cache.evictions).to.equal(2);
    expect(["a", "b", "c", "d", "e"].map((k) => cache.get(k))).to.deep.equal([undefined, undefined, 2, 3, 4]);
  });

  it("treats a get as a use, so a read entry outlives older unread ones", () => {
    const cache = new BoundedCache<string, number>("t", 2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).to.equal(1);
    cache.set("c", 3);
    expect(cache.has("a")).to.equal(true);
    expect(cache.has("b")).to.equal(false);
  });

  it("replaces the value of a present key without evicting anything", () => {
    const cache = new BoundedCache<string, number>("t", 2);
    cache.set("a", 1);
    cache.set("b", 2);
    cache.set("a", 10);
    expect(cache.size).to.equal(2);
    expect(cache.evictions).to.equal(0);
    expect(cache.get("a")).to.equal(10);
    // "a" was refreshed by the second set, so "b" goes first.
    cache.set("c", 3);
    expect(cache.has("b")).to.equal(false);
  });

  it("caches falsy values like any other", () => {
    const cache = new BoundedCache<string, number>("t", 2);
    cache.set("zero", 0);
    expect(cache.get("zero")).to.equal(0);
    expect(cache.has("zero")).to.equal(true);
  });

  it("deletes and clears", () => {
    const cache = new BoundedCache<string, number>("t", 2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.delete("a")).to.equal(true);
    expect(cache.delete("a")).to.equal(false);
    cache.clear();
    expect(cache.size).to.equal(0);
  });

  it("behaves like an LRU model for any sequence of operations", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 })), { maxLength: 200 }), (max, ops) => {
        const cache = new BoundedCache<number, number>("t", max);
        let model: number[] = []; // keys, least recently used first
        let evicted = 0;
        for (const [isSet, key] of ops) {
          if (isSet) {
            cache.set(key, key * 2);
            model = [...model.filter((k) => k !== key), key];
            if (model.length > max) {
              model.shift();
              evicted += 1;
            }
          } else {
            const hit = model.includes(key);
            expect(cache.get(key)).to.equal(hit ? key * 2 : undefined);
            if (hit) model = [...model.filter((k) => k !== key), key];
          }
          expect(cache.size).to.equal(model.length);
          expect(cache.size).to.be.at.most(max);
        }
        expect(cache.evictions).to.equal(evicted);
      }),
    );
  });

  it("refuses a bound that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new BoundedCache("t", bad)).to.throw(RangeError);
  });
});

describe("CacheRegistry", () => {
  it("lists every cache it created, with live sizes, and refuses a duplicate name", () => {
    const registry = new CacheRegistry();
    const a = registry.create<string, number>("a", 2);
    registry.create<string, number>("b", 5);
    a.set("x", 1);
    expect(registry.all().map((c) => [c.name, c.size, c.maxEntries])).to.deep.equal([
      ["a", 1, 2],
      ["b", 0, 5],
    ]);
    expect(() => registry.create("a", 1)).to.throw(/twice/);
  });
});
