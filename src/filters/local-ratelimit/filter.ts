// local_ratelimit, after Envoy's: enabled -> ok | rate_limited -> enforced -> 429, a counter at each
// step. The listener's (or route's) bucket lives in shared memory, so the limit holds across worker
// threads; per-client buckets (descriptors) live in each thread, in a bounded table.
import { FilterStatus, getHeader, type Filter, type StreamContext } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import { BoundedMap } from '../common/bounded-map.js';
import { LocalTokenBucket, SharedTokenBucket, type BucketConfig } from '../common/token-bucket.js';
import type { Descriptor, LocalRateLimitConfig } from './config.js';

interface Limiter {
  take(now: number): boolean;
  remaining(): number;
  resetMs(now: number): number;
}

class DescriptorTable {
  readonly entries: BoundedMap<string, LocalTokenBucket>;
  constructor(readonly d: Descriptor, max: number) {
    this.entries = new BoundedMap(max);
  }

  value(ctx: StreamContext): string | undefined {
    const k = this.d.key;
    switch (k.kind) {
      case 'remote_address': return ctx.remoteAddress;
      case 'api_key_client': return ctx.apiKeyClient ?? undefined;
      case 'header': return getHeader(ctx.headers, k.name);
      case 'jwt_claim': {
        const v = ctx.jwtClaims?.[k.name];
        return v === undefined || v === null ? undefined : String(v);
      }
    }
  }

  bucketFor(value: string, now: number): LocalTokenBucket {
    let b = this.entries.get(value);
    if (b === undefined) this.entries.set(value, (b = new LocalTokenBucket(this.d.bucket, now)));
    return b;
  }
}

export class LocalRateLimitFilter implements Filter {
  readonly name = 'local_ratelimit';
  private readonly shared: SharedTokenBucket | null;
  private readonly tables: DescriptorTable[];
  private readonly stats: Float64Array;
  private readonly h: Readonly<Record<string, number>>;
  private readonly now: () => number;

  constructor(private readonly c: LocalRateLimitConfig, env: FilterEnv) {
    this.shared = c.bucket === null ? null : new SharedTokenBucket(c.bucket, env.shared, env.sharedSlot, env.epoch);
    this.tables = c.descriptors.map((d) => new DescriptorTable(d, c.max_descriptor_entries));
    this.stats = env.stats;
    this.h = env.handles;
    this.now = env.now;
  }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const c = this.c;
    const stats = this.stats;
    if (c.enabled_percent < 100 && Math.random() * 100 >= c.enabled_percent) return FilterStatus.Continue;
    stats[this.h.enabled!]++;
    const now = this.now();
    let limited: Limiter | null = null;
    let tightest: Limiter | null = null;
    let tightestConfig: BucketConfig | null = null;
    if (this.shared !== null) {
      if (!this.shared.take(now)) limited = this.shared;
      tightest = this.shared;
      tightestConfig = c.bucket;
    }
    for (let i = 0; limited === null && i < this.tables.length; i++) {
      const t = this.tables[i]!;
      const v = t.value(ctx);
      if (v === undefined) continue; // a request without this descriptor is not limited by it
      const b = t.bucketFor(v, now);
      if (!b.take(now)) limited = b;
      if (tightest === null || b.remaining() < tightest.remaining()) { tightest = b; tightestConfig = t.d.bucket; }
      if (limited !== null) tightestConfig = t.d.bucket;
    }
    if (limited === null) {
      stats[this.h.ok!]++;
      if (c.response_headers && tightest !== null) {
        ctx.addResponseHeader('x-ratelimit-limit', String(tightestConfig!.max_tokens));
        ctx.addResponseHeader('x-ratelimit-remaining', String(tightest.remaining()));
        ctx.addResponseHeader('x-ratelimit-reset', String(Math.ceil(tightest.resetMs(now) / 1000)));
      }
      return FilterStatus.Continue;
    }
    stats[this.h.rateLimited!]++;
    if (c.enforced_percent < 100 && Math.random() * 100 >= c.enforced_percent) return FilterStatus.Continue;
    stats[this.h.enforced!]++;
    const reset = String(Math.max(1, Math.ceil(limited.resetMs(now) / 1000)));
    ctx.reply('rateLimited', [
      'retry-after', reset,
      'x-ratelimit-limit', String(tightestConfig!.max_tokens),
      'x-ratelimit-remaining', '0',
      'x-ratelimit-reset', reset,
    ]);
    return FilterStatus.Stop;
  }

  /** Distinct clients currently tracked, summed over descriptors (for tests and /stats). */
  descriptorEntries(): number {
    let n = 0;
    for (const t of this.tables) n += t.entries.size;
    return n;
  }
}
