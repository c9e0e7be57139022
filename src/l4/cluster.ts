// A TCP cluster: endpoints and a picker, nothing pooled (every downstream connection gets its own
// upstream connection). Stats go to the cluster's scope, `cluster.<name>.upstream_cx_*`, shared with an
// HTTP cluster of the same name.
import { CLUSTER_STATS } from '../stats/names.js';
import type { StatRegistry } from '../stats/registry.js';
import type { TcpClusterConfig, TcpEndpoint } from './config.js';

export interface TcpClusterStats {
  cxTotal: number;
  cxConnectFail: number;
  cxDestroy: number;
}

export function tcpClusterStats(registry: StatRegistry, name: string): TcpClusterStats {
  const slot = (t: { stat: string; type: 'counter' | 'gauge'; help: string }) => registry.slot(`cluster.${name}.${t.stat}`, t.type, t.help);
  return { cxTotal: slot(CLUSTER_STATS.cxTotal), cxConnectFail: slot(CLUSTER_STATS.cxConnectFail), cxDestroy: slot(CLUSTER_STATS.cxDestroy) };
}

export class TcpEndpointState {
  /** Open connections, for least_connections. */
  active = 0;
  constructor(readonly host: string, readonly port: number) {}
}

export class TcpCluster {
  private rr = 0;
  readonly endpoints: TcpEndpointState[];

  constructor(
    readonly name: string,
    endpoints: readonly TcpEndpoint[],
    readonly lbPolicy: TcpClusterConfig['lb_policy'],
    readonly connectTimeoutMs: number,
    readonly stats: TcpClusterStats,
  ) {
    this.endpoints = endpoints.map((e) => new TcpEndpointState(e.host, e.port));
  }

  static fromConfig(c: TcpClusterConfig, registry: StatRegistry): TcpCluster {
    return new TcpCluster(c.name, c.endpoints, c.lb_policy, c.connect_timeout_ms, tcpClusterStats(registry, c.name));
  }

  pick(): TcpEndpointState | null {
    const e = this.endpoints;
    if (e.length === 0) return null;
    if (e.length === 1) return e[0]!;
    if (this.lbPolicy === 'random') return e[(Math.random() * e.length) | 0]!;
    if (this.lbPolicy === 'least_connections') {
      const a = e[(Math.random() * e.length) | 0]!;
      const b = e[(Math.random() * e.length) | 0]!;
      return b.active < a.active ? b : a;
    }
    const out = e[this.rr]!;
    this.rr = this.rr + 1 === e.length ? 0 : this.rr + 1;
    return out;
  }
}

/** Istio's name for "the original destination, no cluster matched". */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
