// The data plane of one thread: its listeners, clusters and filter chains, built from a validated config
// and the plan (stat slots, shared-memory slots) the main thread made for it. A reload swaps routes and
// clusters under running listeners (requests in flight keep the objects they started with), opens new
// listeners and closes removed ones.
import type { Pool } from 'undici';
import type { Filter } from '../chain/filter.js';
import { filterModule } from '../chain/registry.js';
import type { Config, ListenerConfig, RouteConfig } from '../config/types.js';
import type { ListenerStats } from '../stats/names.js';
import { buildClusters, type Cluster, type ClusterPlan } from '../upstream/cluster.js';
import { log } from '../util/log.js';
import { Listener } from './listener.js';
import { Route } from './router.js';
import { PlaneTelemetry } from '../telemetry/plane-telemetry.js';
import type { RecordBatch } from '../telemetry/record.js';

/** Where a config's state lives, assigned by the main thread (plain data: it crosses threads). */
export interface Plan {
  listeners: Record<string, ListenerStats>;
  clusters: Record<string, ClusterPlan>;
  /** Filter stat slots: listener -> filter name -> stat key -> slot. */
  filterStats: Record<string, Record<string, Record<string, number>>>;
  /** Shared-memory slots per filter instance: `${listener}|${route or '*'}|${filter}`. */
  filterSlots: Record<string, number>;
  /** Time origin of shared-memory clocks, the same in every thread. */
  epoch: number;
}

export function filterSlotKey(listener: string, route: string | null, filter: string): string {
  return `${listener}|${route ?? '*'}|${filter}`;
}

export class DataPlane {
  private listeners = new Map<string, Listener>();
  private clusters = new Map<string, Cluster>();

  readonly telemetry: PlaneTelemetry;

  constructor(readonly stats: Float64Array, readonly shared: Int32Array, onAccessLog: (b: RecordBatch) => void) {
    this.telemetry = new PlaneTelemetry(onAccessLog);
  }

  /** Applies a config; the first call opens the listeners. Throws only on a listen failure. */
  async apply(config: Config, plan: Plan): Promise<void> {
    const t = this.telemetry;
    const { clusters, retired } = buildClusters(config.clusters, plan.clusters, this.clusters, this.stats, this.shared, (n) => t.histogram(n));
    const next = new Map<string, Listener>();
    for (const lc of config.listeners) {
      const routes = this.compileRoutes(lc, clusters, plan);
      const old = this.listeners.get(lc.name);
      if (old !== undefined && old.address === lc.address && old.configuredPort === lc.port && old.front === lc.front && sameTls(old.tls, lc.tls)) {
        old.routes = routes;
        old.accessLog = t.accessLog(lc.name, lc.access_log);
        old.envoyHeaders = config.envoy_headers;
        if (old.tlsGeneration !== lc.tls_generation) await old.rotateTls(lc.tls_generation);
        next.set(lc.name, old);
        continue;
      }
      const l = new Listener(lc.name, lc.address, lc.port, lc.front, lc.tls, lc.tls_generation, routes, this.stats, plan.listeners[lc.name]!, t.histogram(`http.${lc.name}.downstream_rq_time`));
      l.accessLog = t.accessLog(lc.name, lc.access_log);
      l.envoyHeaders = config.envoy_headers;
      await l.start();
      next.set(lc.name, l);
    }
    for (const [name, l] of this.listeners) {
      if (next.get(name) !== l) l.stopListening();
    }
    this.listeners = next;
    this.clusters = clusters;
    closeWhenIdle(retired);
  }

  /**
   * Each route gets its filter array once, here: the listener's filters in config order, one
   * instance each shared by the routes that keep the listener's config, a separate instance where a
   * route overrides a filter's config, and the filter left out where a route disables it.
   */
  private compileRoutes(lc: ListenerConfig, clusters: Map<string, Cluster>, plan: Plan): Route[] {
    const shared = new Map<string, Filter>();
    const make = (name: string, config: unknown, route: string | null): Filter => {
      const slot = plan.filterSlots[filterSlotKey(lc.name, route, name)];
      return filterModule(name).create(config, {
        listener: lc.name,
        route,
        stats: this.stats,
        handles: plan.filterStats[lc.name]![name]!,
        shared: this.shared,
        sharedSlot: slot ?? -1,
        epoch: plan.epoch,
        now: Date.now,
      });
    };
    return lc.routes.map((r: RouteConfig) => {
      const chain: Filter[] = [];
      for (const f of lc.filters) {
        const override = r.filters[f.name];
        if (override === false) continue;
        if (override !== undefined) {
          chain.push(make(f.name, override, r.name));
          continue;
        }
        let inst = shared.get(f.name);
        if (inst === undefined) shared.set(f.name, (inst = make(f.name, f.config, null)));
        chain.push(inst);
      }
      return new Route(r, r.cluster !== undefined ? clusters.get(r.cluster)! : null, chain, this.telemetry.histogram(`http.${lc.name}.route.${r.name}.downstream_rq_time`));
    });
  }

  /** Ports actually bound, by listener name (port 0 in the config picks a free one). */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, l] of this.listeners) out[name] = l.port;
    return out;
  }

  get active(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.active;
    return n;
  }

  /** Drain, first step: responses say `Connection: close` so that clients move away. */
  startDrain(): void {
    for (const l of this.listeners.values()) l.draining = true;
  }

  /** Drain, second step: no new connections. */
  stopListening(): void {
    for (const l of this.listeners.values()) l.stopListening();
  }

  /** Resolves when no request is in flight, or after `timeoutMs`. */
  async waitIdle(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    return this.active === 0;
  }

  /** Drops every listener and connection at once (a dying worker: see worker.ts). */
  closeListenersNow(): void {
    for (const l of this.listeners.values()) l.close();
  }

  /** The end: every connection dropped, every pool closed, the last access-log rows handed over. */
  async close(): Promise<void> {
    this.telemetry.flushAll();
    for (const l of this.listeners.values()) l.close();
    const pools: Pool[] = [];
    for (const c of this.clusters.values()) for (const e of c.endpoints) pools.push(e.pool);
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}

/** Same TLS settings (the files may have new contents: that is a rotation, not a new listener). */
function sameTls(a: ListenerConfig['tls'], b: ListenerConfig['tls']): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function closeWhenIdle(pools: Pool[]): void {
  for (const p of pools) {
    p.close().catch((err: unknown) => log.warn('closing a retired upstream pool failed', { err }));
  }
}
