// The data plane of one thread: its listeners and clusters, built from a validated config and the stat
// slots the main thread assigned. A reload swaps routes and clusters under running listeners (requests
// in flight keep the objects they started with), opens new listeners and closes removed ones.
import type { Pool } from 'undici';
import type { Config } from '../config/types.js';
import type { ClusterStats, ListenerStats } from '../stats/names.js';
import { buildClusters, type Cluster } from '../upstream/cluster.js';
import { log } from '../util/log.js';
import { Listener } from './listener.js';
import { Route } from './router.js';

/** Stat slots for a config, assigned by the main thread's registry (plain data: it crosses threads). */
export interface StatPlan {
  listeners: Record<string, ListenerStats>;
  clusters: Record<string, ClusterStats>;
}

export class DataPlane {
  private listeners = new Map<string, Listener>();
  private clusters = new Map<string, Cluster>();

  constructor(readonly stats: Float64Array) {}

  /** Applies a config; the first call opens the listeners. Throws only on a listen failure. */
  async apply(config: Config, plan: StatPlan): Promise<void> {
    const { clusters, retired } = buildClusters(config.clusters, (n) => plan.clusters[n]!, this.clusters, this.stats);
    const next = new Map<string, Listener>();
    for (const lc of config.listeners) {
      const routes = lc.routes.map((r) => new Route(r, r.cluster !== undefined ? clusters.get(r.cluster)! : null));
      const old = this.listeners.get(lc.name);
      if (old !== undefined && old.address === lc.address && old.configuredPort === lc.port && old.front === lc.front) {
        old.routes = routes;
        next.set(lc.name, old);
        continue;
      }
      const l = new Listener(lc.name, lc.address, lc.port, lc.front, routes, this.stats, plan.listeners[lc.name]!);
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

  /** The end: every connection dropped, every pool closed. */
  async close(): Promise<void> {
    for (const l of this.listeners.values()) l.close();
    const pools: Pool[] = [];
    for (const c of this.clusters.values()) for (const e of c.endpoints) pools.push(e.pool);
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}

function closeWhenIdle(pools: Pool[]): void {
  for (const p of pools) {
    p.close().catch((err: unknown) => log.warn('closing a retired upstream pool failed', { err }));
  }
}
