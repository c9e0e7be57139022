// Envoy's token bucket (max_tokens, tokens_per_fill, fill_interval), refilled lazily from the clock
// when a token is asked for, so no timer runs per bucket. Two homes for the same arithmetic:
//  - SharedTokenBucket: two Int32 slots in shared memory, updated with compare-and-swap, so that every
//    worker thread draws from one bucket (the per-listener and per-route limits are exact under
//    --concurrency N);
//  - LocalTokenBucket: plain fields, for per-descriptor buckets (one per client), which live per thread.

export interface BucketConfig {
  max_tokens: number;
  tokens_per_fill: number;
  fill_interval_ms: number;
}

export type Clock = () => number;

export class LocalTokenBucket {
  tokens: number;
  private lastFill: number;

  constructor(private readonly c: BucketConfig, now: number) {
    this.tokens = c.max_tokens;
    this.lastFill = Math.floor(now / c.fill_interval_ms);
  }

  private refill(now: number): void {
    const fill = Math.floor(now / this.c.fill_interval_ms);
    if (fill > this.lastFill) {
      this.tokens = Math.min(this.c.max_tokens, this.tokens + (fill - this.lastFill) * this.c.tokens_per_fill);
      this.lastFill = fill;
    }
  }

  /** Takes a token; false when none is left. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }

  remaining(): number {
    return this.tokens;
  }

  /** Milliseconds until the next fill. */
  resetMs(now: number): number {
    return this.c.fill_interval_ms - (now % this.c.fill_interval_ms);
  }
}

/**
 * Slots: [i] tokens, [i + 1] index of the last fill (time since `epoch` / fill_interval; Envoy's minimum
 * fill interval of 50 ms keeps it inside an Int32 for years).
 */
export class SharedTokenBucket {
  constructor(
    private readonly c: BucketConfig,
    private readonly mem: Int32Array,
    private readonly i: number,
    private readonly epoch: number,
  ) {}

  /** Called once by the main thread when the slot is first assigned. */
  static init(mem: Int32Array, i: number, c: BucketConfig): void {
    Atomics.store(mem, i, c.max_tokens);
    Atomics.store(mem, i + 1, 0);
  }

  take(now: number): boolean {
    const mem = this.mem;
    const i = this.i;
    const fill = Math.floor((now - this.epoch) / this.c.fill_interval_ms);
    for (;;) {
      const last = Atomics.load(mem, i + 1);
      if (fill > last) {
        // One thread wins the right to add this fill's tokens; the others see the new index and go on.
        if (Atomics.compareExchange(mem, i + 1, last, fill) === last) {
          const add = (fill - last) * this.c.tokens_per_fill;
          for (;;) {
            const t = Atomics.load(mem, i);
            if (Atomics.compareExchange(mem, i, t, Math.min(this.c.max_tokens, t + add)) === t) break;
          }
        }
        continue;
      }
      const t = Atomics.load(mem, i);
      if (t <= 0) return false;
      if (Atomics.compareExchange(mem, i, t, t - 1) === t) return true;
    }
  }

  remaining(): number {
    return Math.max(0, Atomics.load(this.mem, this.i));
  }

  resetMs(now: number): number {
    return this.c.fill_interval_ms - ((now - this.epoch) % this.c.fill_interval_ms);
  }
}
