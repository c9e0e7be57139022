// A cluster is a set of endpoints, each with its own undici Pool (keep-alive connections), a load
// balancer, Envoy's circuit breakers and outlier detection. Built when the config loads; a reload keeps
// the pools of endpoints whose settings did not change, so keep-alive connections survive it.
//
// Where each piece of state lives:
//   - breaker counters and endpoint health: shared memory (upstream/shared-policy.ts), exact across
//     worker threads; the request path does one Atomics.add to enter and one Atomics.sub to leave;
//   - outlier detection: per thread (each worker ejects on what it saw itself), with the ejection also
//     flagged in shared memory for /clusters;
//   - the list of endpoints a request may go to is rebuilt only when health or ejections change.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Pool as PoolType } from 'undici';
import type { ClusterConfig } from '../config/types.js';
import type { ClusterStats } from '../stats/names.js';
import type { Histogram } from 'hdr-histogram-js';
import { HEALTH_EPOCH } from './shared-policy.js';

// undici's index loads fetch, WebSocket, caches and mocks too: about 9 MB of RSS a sidecar does not
// need. The Pool module alone is what the proxy uses (undici 7 has no "exports" map, so this path is
// part of what the package ships).
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof PoolType;
type Pool = PoolType;

/** Envoy's healthy_panic_threshold: below 50 % healthy, balance over every endpoint. */
const PANIC_PERCENT = 50;

export class Endpoint {
  /** Requests in flight to this endpoint from this thread (for least_request). */
  active = 0;
  /** host:port, for the access log. */
  readonly host: string;
  consecutive5xx = 0;
  consecutiveGatewayFailures = 0;
  timesEjected = 0;
  /** ms since the epoch; 0 when not ejected. */
  ejectedUntil = 0;

  constructor(
    readonly origin: string,
    readonly pool: Pool,
    /** The settings this pool was built with; a reload reuses the pool only when they are equal. */
    readonly key: string,
    /** First of its ENDPOINT_SLOTS in shared memory. */
    readonly slot: number,
  ) {
    this.host = new URL(origin).host;
  }
}

/** Where a cluster's shared state is: assigned by the main thread. */
export interface ClusterPlan {
  stats: ClusterStats;
  /** First of BREAKER_SLOTS. */
  breaker: number;
  /** Endpoint origin -> first of its ENDPOINT_SLOTS. */
  endpoints: Record<string, number>;
  /** Requests beyond this many in flight count as pending (waiting for a connection). */
  connectionCapacity: number;
}

export class Cluster {
  private rr = 0;
  private available: Endpoint[] = [];
  private healthEpoch = -1;
  private nextUnejectAt = Infinity;
  private ejectedCount = 0;
  readonly stats: ClusterStats;
  private readonly breaker: number;
  private readonly maxInFlight: number;

  constructor(
    readonly config: ClusterConfig,
    readonly endpoints: readonly Endpoint[],
    plan: ClusterPlan,
    private readonly shared: Int32Array,
    private readonly statBuf: Float64Array,
    /** Upstream service time (cluster.<c>.upstream_rq_time), microseconds. */
    readonly histogram: Histogram,
  ) {
    this.stats = plan.stats;
    this.breaker = plan.breaker;
    const cb = config.circuit_breakers;
    this.maxInFlight = Math.min(cb.max_requests, plan.connectionCapacity + cb.max_pending_requests);
  }

  // --- circuit breakers ----------------------------------------------------------------------------

  /** Enters the breaker; false (and nothing held) when max_requests or max_pending_requests is reached. */
  tryAcquire(): boolean {
    const n = Atomics.add(this.shared, this.breaker, 1);
    if (n < this.maxInFlight) return true;
    Atomics.sub(this.shared, this.breaker, 1);
    this.statBuf[this.stats.rqPendingOverflow]++;
    return false;
  }

  release(): void {
    Atomics.sub(this.shared, this.breaker, 1);
  }

  /** A retry may go: under max_retries, or under the retry budget when one is configured. */
  tryAcquireRetry(): boolean {
    const budget = this.config.retry_budget;
    const limit = budget === null
      ? this.config.circuit_breakers.max_retries
      : Math.max(budget.min_retry_concurrency, Math.floor((Atomics.load(this.shared, this.breaker) * budget.budget_percent) / 100));
    const n = Atomics.add(this.shared, this.breaker + 1, 1);
    if (n < limit) return true;
    Atomics.sub(this.shared, this.breaker + 1, 1);
    this.statBuf[this.stats.rqRetryOverflow]++;
    return false;
  }

  releaseRetry(): void {
    Atomics.sub(this.shared, this.breaker + 1, 1);
  }

  // --- load balancing ------------------------------------------------------------------------------

  /** The endpoint for the next request, preferring one other than `avoid` (a retry); null: none (UH). */
  pick(avoid: Endpoint | null): Endpoint | null {
    if (Atomics.load(this.shared, HEALTH_EPOCH) !== this.healthEpoch || (this.nextUnejectAt !== Infinity && Date.now() >= this.nextUnejectAt)) {
      this.rebuild();
    }
    const list = this.available;
    const n = list.length;
    if (n === 0) return null;
    if (n === 1) return list[0]!;
    let e = this.choose(list);
    if (e === avoid) e = this.choose(list);
    if (e === avoid) e = list[(list.indexOf(e) + 1) % n]!;
    return e;
  }

  private choose(list: readonly Endpoint[]): Endpoint {
    const n = list.length;
    switch (this.config.lb_policy) {
      case 'random': return list[(Math.random() * n) | 0]!;
      case 'least_request': {
        // Envoy's power of two choices: two random endpoints, the less busy one wins.
        const a = list[(Math.random() * n) | 0]!;
        const b = list[(Math.random() * n) | 0]!;
        return b.active < a.active ? b : a;
      }
      default: {
        if (this.rr >= n) this.rr = 0;
        return list[this.rr++]!;
      }
    }
  }

  private rebuild(): void {
    this.healthEpoch = Atomics.load(this.shared, HEALTH_EPOCH);
    const now = Date.now();
    this.nextUnejectAt = Infinity;
    this.ejectedCount = 0;
    const healthy: Endpoint[] = [];
    for (const e of this.endpoints) {
      if (e.ejectedUntil !== 0) {
        if (e.ejectedUntil <= now) {
          e.ejectedUntil = 0;
          Atomics.store(this.shared, e.slot + 1, 0);
        } else {
          this.ejectedCount++;
          this.nextUnejectAt = Math.min(this.nextUnejectAt, e.ejectedUntil);
          continue;
        }
      }
      if (Atomics.load(this.shared, e.slot) === 1) healthy.push(e);
    }
    if (healthy.length * 100 < this.endpoints.length * PANIC_PERCENT) {
      this.statBuf[this.stats.lbHealthyPanic]++;
      this.available = this.endpoints.slice();
    } else {
      this.available = healthy;
    }
  }

  // --- outlier detection ---------------------------------------------------------------------------

  /** An upstream response status, for outlier detection. */
  reportStatus(e: Endpoint, status: number): void {
    const od = this.config.outlier_detection;
    if (od === null) return;
    if (status < 500) {
      e.consecutive5xx = 0;
      e.consecutiveGatewayFailures = 0;
      return;
    }
    e.consecutive5xx++;
    if (status >= 502 && status <= 504) e.consecutiveGatewayFailures++;
    else e.consecutiveGatewayFailures = 0;
    this.checkEjection(e);
  }

  /** A connect failure or a reset: a gateway failure and a 5xx, as Envoy counts them. */
  reportGatewayFailure(e: Endpoint): void {
    if (this.config.outlier_detection === null) return;
    e.consecutive5xx++;
    e.consecutiveGatewayFailures++;
    this.checkEjection(e);
  }

  private checkEjection(e: Endpoint): void {
    const od = this.config.outlier_detection!;
    const by5xx = od.consecutive_5xx > 0 && e.consecutive5xx >= od.consecutive_5xx;
    const byGateway = od.consecutive_gateway_failure > 0 && e.consecutiveGatewayFailures >= od.consecutive_gateway_failure;
    if (!by5xx && !byGateway) return;
    e.consecutive5xx = 0;
    e.consecutiveGatewayFailures = 0;
    if (e.ejectedUntil !== 0) return;
    // Envoy: never more than max_ejection_percent of the cluster, but one endpoint may always go.
    const allowed = Math.max(1, Math.floor((this.endpoints.length * od.max_ejection_percent) / 100));
    if (this.ejectedCount >= allowed) {
      this.statBuf[this.stats.ejectionsOverflow]++;
      return;
    }
    e.timesEjected++;
    const ms = Math.min(od.base_ejection_time_ms * e.timesEjected, Math.max(od.base_ejection_time_ms, od.max_ejection_time_ms));
    e.ejectedUntil = Date.now() + ms;
    Atomics.store(this.shared, e.slot + 1, 1);
    this.statBuf[this.stats.ejectionsEnforced]++;
    this.statBuf[by5xx ? this.stats.ejections5xx : this.stats.ejectionsGateway]++;
    this.rebuild();
  }
}

function poolKey(c: ClusterConfig, origin: string): string {
  return `${c.name}|${origin}|${JSON.stringify(c.tls)}|${c.max_connections}|${c.circuit_breakers.max_connections}|${c.connect_timeout_ms}|${c.idle_timeout_ms}`;
}

/**
 * Builds the clusters of a new config, reusing the endpoints (pools) of `previous` whose settings are
 * unchanged. Returns the pools that are no longer used, for the caller to close once idle.
 */
export function buildClusters(
  configs: readonly ClusterConfig[],
  plans: Readonly<Record<string, ClusterPlan>>,
  previous: ReadonlyMap<string, Cluster>,
  stats: Float64Array,
  shared: Int32Array,
  histogram: (name: string) => Histogram,
): { clusters: Map<string, Cluster>; retired: Pool[] } {
  const reusable = new Map<string, Endpoint>();
  for (const cl of previous.values()) for (const e of cl.endpoints) reusable.set(e.key, e);
  const clusters = new Map<string, Cluster>();
  for (const c of configs) {
    const plan = plans[c.name]!;
    const endpoints = c.endpoints.map((origin) => {
      const key = poolKey(c, origin);
      const old = reusable.get(key);
      if (old !== undefined) {
        reusable.delete(key);
        return old;
      }
      return new Endpoint(origin, newPool(origin, c, plan.stats, stats), key, plan.endpoints[origin]!);
    });
    clusters.set(c.name, new Cluster(c, endpoints, plan, shared, stats, histogram(`cluster.${c.name}.upstream_rq_time`)));
  }
  return { clusters, retired: [...reusable.values()].map((e) => e.pool) };
}

function newPool(origin: string, c: ClusterConfig, s: ClusterStats, stats: Float64Array): Pool {
  const t = c.tls;
  const pool = new Pool(origin, {
    connections: Math.min(c.max_connections, c.circuit_breakers.max_connections),
    pipelining: 1,
    // TLS to https:// endpoints: SNI is the endpoint's host unless `servername` says otherwise.
    connect: t === null ? { timeout: c.connect_timeout_ms } : {
      timeout: c.connect_timeout_ms,
      ca: t.ca_file === null ? undefined : readFileSync(t.ca_file),
      cert: t.cert_file === null ? undefined : readFileSync(t.cert_file),
      key: t.key_file === null ? undefined : readFileSync(t.key_file),
      servername: t.servername ?? undefined,
      rejectUnauthorized: t.reject_unauthorized,
    },
    keepAliveTimeout: c.idle_timeout_ms,
    keepAliveMaxTimeout: Math.max(c.idle_timeout_ms, 1000),
  });
  // Connection events are per connection, not per request: cheap enough to count here.
  pool.on('connect', () => { stats[s.cxTotal]++; });
  pool.on('disconnect', () => { stats[s.cxDestroy]++; });
  pool.on('connectionError', () => { stats[s.cxConnectFail]++; });
  return pool;
}
