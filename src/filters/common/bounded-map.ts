// A Map with a size bound: the per-client tables (rate limit descriptors, verified tokens) must not grow
// without bound under a flood of distinct keys. Eviction is "second chance" (CLOCK): a hit only sets a
// flag (re-inserting on every hit, for exact LRU order, cost a Map delete and insert per request);
// when full, the oldest entry goes unless it was used since it last came round, in which case it moves
// to the back with its flag cleared.
interface Slot<V> {
  value: V;
  used: boolean;
}

export class BoundedMap<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  evictions = 0;

  constructor(readonly max: number) {}

  get(key: K): V | undefined {
    const s = this.map.get(key);
    if (s === undefined) return undefined;
    s.used = true;
    return s.value;
  }

  set(key: K, value: V): void {
    const s = this.map.get(key);
    if (s !== undefined) {
      s.value = value;
      s.used = true;
      return;
    }
    this.map.set(key, { value, used: false });
    // Each pass clears one flag or evicts one entry, so this ends within size + 1 steps.
    while (this.map.size > this.max) {
      const [k, oldest] = this.map.entries().next().value as [K, Slot<V>];
      this.map.delete(k);
      if (oldest.used) {
        oldest.used = false;
        this.map.set(k, oldest);
      } else {
        this.evictions++;
      }
    }
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}
