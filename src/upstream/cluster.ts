// A cluster is a set of endpoints, each with its own undici Pool (keep-alive connections), and a load
// balancer that picks one per request. Built when the config loads; a reload keeps the pools of
// endpoints whose settings did not change, so keep-alive connections survive it.
import { createRequire } from 'node:module';
import type { Pool as PoolType } from 'undici';
import type { ClusterConfig } from '../config/types.js';
import type { ClusterStats } from '../stats/names.js';

// undici's index loads fetch, WebSocket, caches and mocks too: about 9 MB of RSS a sidecar does not
// need. The Pool module alone is what the proxy uses (undici 7 has no "exports" map, so this path is
// part of what the package ships).
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof PoolType;
type Pool = PoolType;

export class Endpoint {
  /** Requests in flight to this endpoint (for least_request). */
  active = 0;
  constructor(
    readonly origin: string,
    readonly pool: Pool,
    /** The settings this pool was built with; a reload reuses the pool only when they are equal. */
    readonly key: string,
  ) {}
}

export class Cluster {
  private rr = 0;
  private readonly pickFn: () => Endpoint | null;

  constructor(
    readonly config: ClusterConfig,
    readonly endpoints: readonly Endpoint[],
    readonly stats: ClusterStats,
  ) {
    this.pickFn = endpoints.length === 0 ? () => null
      : endpoints.length === 1 ? () => endpoints[0]!
      : config.lb_policy === 'random' ? () => endpoints[(Math.random() * endpoints.length) | 0]!
      : config.lb_policy === 'least_request' ? () => this.leastRequest()
      : () => this.roundRobin();
  }

  /** The endpoint for the next request, or null when there is none (503 UH). */
  pick(): Endpoint | null {
    return this.pickFn();
  }

  private roundRobin(): Endpoint {
    const e = this.endpoints[this.rr]!;
    this.rr = this.rr + 1 === this.endpoints.length ? 0 : this.rr + 1;
    return e;
  }

  /** Envoy's power of two choices: two random endpoints, the less busy one wins. */
  private leastRequest(): Endpoint {
    const n = this.endpoints.length;
    const a = this.endpoints[(Math.random() * n) | 0]!;
    const b = this.endpoints[(Math.random() * n) | 0]!;
    return b.active < a.active ? b : a;
  }
}

function poolKey(c: ClusterConfig, origin: string): string {
  return `${origin}|${c.max_connections}|${c.connect_timeout_ms}|${c.idle_timeout_ms}`;
}

/**
 * Builds the clusters of a new config, reusing the endpoints (pools) of `previous` whose settings are
 * unchanged. Returns the pools that are no longer used, for the caller to close once idle.
 */
export function buildClusters(
  configs: readonly ClusterConfig[],
  statsFor: (name: string) => ClusterStats,
  previous: ReadonlyMap<string, Cluster>,
  stats: Float64Array,
): { clusters: Map<string, Cluster>; retired: Pool[] } {
  const reusable = new Map<string, Endpoint>();
  for (const cl of previous.values()) for (const e of cl.endpoints) reusable.set(e.key, e);
  const clusters = new Map<string, Cluster>();
  for (const c of configs) {
    const s = statsFor(c.name);
    const endpoints = c.endpoints.map((origin) => {
      const key = poolKey(c, origin);
      const old = reusable.get(key);
      if (old !== undefined) {
        reusable.delete(key);
        return old;
      }
      return new Endpoint(origin, newPool(origin, c, s, stats), key);
    });
    clusters.set(c.name, new Cluster(c, endpoints, s));
  }
  return { clusters, retired: [...reusable.values()].map((e) => e.pool) };
}

function newPool(origin: string, c: ClusterConfig, s: ClusterStats, stats: Float64Array): Pool {
  const pool = new Pool(origin, {
    connections: c.max_connections,
    pipelining: 1,
    connect: { timeout: c.connect_timeout_ms },
    keepAliveTimeout: c.idle_timeout_ms,
    keepAliveMaxTimeout: Math.max(c.idle_timeout_ms, 1000),
  });
  // Connection events are per connection, not per request: cheap enough to count here.
  pool.on('connect', () => { stats[s.cxTotal]!++; });
  pool.on('disconnect', () => { stats[s.cxDestroy]!++; });
  pool.on('connectionError', () => { stats[s.cxConnectFail]!++; });
  return pool;
}
