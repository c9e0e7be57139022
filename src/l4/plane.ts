// The L4 data plane: every tcp_listener, in the main thread, driven by the supervisor like the L7
// planes (apply on start and reload, drain, close). Why the main thread and not the worker threads:
// with the splice pump, JavaScript only accepts, connects and hands over; the bytes move on the
// pump's own thread. Without the addon, one thread piping streams is the fallback's limit
// (docs/l4.md). node:net cannot share a port between worker threads either (no SO_REUSEPORT).
//
// Stats: this plane has its own buffer, summed by the admin with the others.
import type { Config } from '../config/types.js';
import type { Plane } from '../proxy/planes.js';
import type { StatRegistry } from '../stats/registry.js';
import { log } from '../util/log.js';
import { TcpCluster } from './cluster.js';
import type { TcpListenerConfig } from './config.js';
import { HttpL7 } from './http-l7.js';
import { nativeStatus, NativeUnavailableError, spliceAvailable } from './native.js';
// A cycle (the supervisor imports this module), harmless: StartError is only used at run time.
import { StartError } from '../proxy/supervisor.js';
import { TcpProxyListener } from './tcp-proxy.js';

export class L4Plane implements Plane {
  readonly stats: Float64Array;
  private listeners = new Map<string, TcpProxyListener>();
  /** Removed by a reload: no longer accepting, connections left to finish. */
  private retired: TcpProxyListener[] = [];
  private announced = false;

  constructor(buffer: SharedArrayBuffer, private readonly registry: StatRegistry) {
    this.stats = new Float64Array(buffer);
  }

  async apply(config: Config): Promise<void> {
    const lcs: readonly TcpListenerConfig[] = config.tcp_listeners ?? [];
    if (!this.announced) {
      this.announced = true;
      // The start-up line about the fast path, whether or not L4 is configured.
      if (spliceAvailable()) log.info(nativeStatus);
      else (lcs.length > 0 ? log.warn : log.info)(nativeStatus);
    }
    const clusters = new Map<string, TcpCluster>();
    for (const c of config.tcp_clusters ?? []) clusters.set(c.name, TcpCluster.fromConfig(c, this.registry));
    const next = new Map<string, TcpProxyListener>();
    // Kept listeners take their new config only once every new listener is up: a refused reload
    // changes nothing.
    const updates: (() => void)[] = [];
    for (const lc of lcs) {
      const old = this.listeners.get(lc.name);
      if (old !== undefined && old.config.address === lc.address && (lc.port === 0 || old.port === lc.port)) {
        // The stat scope and the transparent/HTTP wiring are fixed when a listener opens.
        const fixed = (['stat_prefix', 'original_dst', 'http'] as const).filter((k) => old.config[k] !== lc[k]);
        if (fixed.length > 0) log.warn(`config reload: tcp listener ${lc.name}: ${fixed.join(', ')} change only with a restart (or a new name); keeping the old values`);
        const merged = { ...lc, stat_prefix: old.config.stat_prefix, original_dst: old.config.original_dst, http: old.config.http };
        updates.push(() => old.update(merged, clusters));
        next.set(lc.name, old);
        continue;
      }
      const http = lc.original_dst && lc.http === 'l7' ? new HttpL7(this.stats, this.registry.listener(lc.stat_prefix)) : null;
      const l = TcpProxyListener.create(lc, clusters, this.stats, this.registry, http);
      const port = await l.start().catch((err: NodeJS.ErrnoException) => {
        // Leave nothing half-applied: listeners this call opened close again, the old set stays.
        for (const [name, opened] of next) if (this.listeners.get(name) !== opened) opened.close();
        // Exit 1 with the reason (not a stack): a port taken, or transparent mode without the addon.
        throw new StartError(err instanceof NativeUnavailableError ? `tcp listener ${lc.name}: ${err.message}`
          : err.code === 'EADDRINUSE' ? `tcp listener ${lc.name}: ${lc.address}:${lc.port} is already in use`
          : `tcp listener ${lc.name}: cannot listen on ${lc.address}:${lc.port}: ${err.message}`);
      });
      const routes = [lc.cluster && `cluster ${lc.cluster}`, lc.sni.length > 0 && `${lc.sni.length} sni route(s)`,
        lc.original_dst && `original destination${lc.passthrough ? ' (passthrough)' : ''}${http ? ', HTTP at L7' : ''}`].filter(Boolean);
      log.info(`tcp listener ${lc.name} on ${lc.address}:${port} -> ${routes.join(', ')}; ${l.useSplice ? 'splice' : 'stream piping'}`);
      next.set(lc.name, l);
    }
    for (const u of updates) u();
    for (const [name, l] of this.listeners) {
      if (next.get(name) === l) continue;
      l.stopListening();
      this.retired.push(l);
    }
    this.retired = this.retired.filter((l) => l.active > 0);
    this.listeners = next;
  }

  /** Bound ports by listener name (port 0 picks one). */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, l] of this.listeners) out[name] = l.port;
    return out;
  }

  get active(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.active;
    for (const l of this.retired) n += l.active;
    return n;
  }

  // L4 has no way to ask a client to go away (no Connection: close): draining is closing the
  // listeners and waiting for connections to end by themselves.
  async startDrain(): Promise<void> {}

  async stopListening(): Promise<void> {
    for (const l of this.listeners.values()) l.stopListening();
  }

  async waitIdle(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    return this.active === 0;
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) l.close();
    for (const l of this.retired) l.close();
    // Spliced connections are reset by the pump thread, asynchronously: wait for its reports, or the
    // process could exit first and the kernel would close them with a FIN that looks like a clean end.
    await this.waitIdle(1000);
  }
}
