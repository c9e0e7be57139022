// L4 test helpers: a tcp_proxy listener in this process (real sockets, port 0, stats read by name),
// small upstream servers, and a client that collects everything until the server closes.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { TcpCluster } from '../../src/l4/cluster.js';
import type { TcpClusterConfig, TcpListenerConfig } from '../../src/l4/config.js';
import { setTcpAccessLog, TcpProxyListener, type TcpAccessLogRecord } from '../../src/l4/tcp-proxy.js';
import { HttpL7 } from '../../src/l4/http-l7.js';
import { StatRegistry, newStatBuffer } from '../../src/stats/registry.js';
import type { Proxy } from '../helpers/proxy.js';

export function listenerConfig(over: Partial<TcpListenerConfig>): TcpListenerConfig {
  return {
    name: 'test', address: '127.0.0.1', port: 0, stat_prefix: 'test', sni: [], original_dst: false, destinations: [],
    passthrough: false, http: 'l4', inspect_timeout_ms: 1000, idle_timeout_ms: 0, max_connections: 1000, splice: true,
    ...over,
  };
}

export class L4Harness {
  readonly registry = new StatRegistry();
  readonly stats = new Float64Array(newStatBuffer());
  readonly records: TcpAccessLogRecord[] = [];
  listener!: TcpProxyListener;

  async start(config: TcpListenerConfig, clusters: TcpClusterConfig[]): Promise<number> {
    const map = new Map(clusters.map((c) => [c.name, TcpCluster.fromConfig(c, this.registry)]));
    const http = config.original_dst && config.http === 'l7' ? new HttpL7(this.stats, this.registry.listener(config.stat_prefix)) : null;
    this.listener = TcpProxyListener.create(config, map, this.stats, this.registry, http);
    setTcpAccessLog((r) => this.records.push(r));
    return this.listener.start();
  }

  /** A stat by full name; throws for an unknown name (a typo must not read as 0). */
  stat(name: string): number {
    const i = this.registry.lookup(name);
    if (i === undefined) throw new Error(`no stat named ${name}`);
    return this.stats[i]!;
  }

  close(): void {
    this.listener.close();
    setTcpAccessLog(null);
  }
}

export function cluster(name: string, port: number, over: Partial<TcpClusterConfig> = {}): TcpClusterConfig {
  return { name, endpoints: [{ host: '127.0.0.1', port }], lb_policy: 'round_robin', connect_timeout_ms: 2000, ...over };
}

export function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as { port: number }).port)));
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface Collected {
  data: Buffer;
  /** 'end': the peer half-closed cleanly; 'error: ...': reset or other failure. */
  how: string;
}

/** Connects, lets `drive` write, resolves with everything received once the socket closes. */
export function exchange(port: number, drive: (s: Socket) => void, timeoutMs = 5000, endOnEnd = true): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let how = 'close';
    const t = setTimeout(() => { s.destroy(); reject(new Error(`exchange: no close within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`)); }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => { how = 'end'; if (endOnEnd) s.end(); });
    s.on('error', (err: NodeJS.ErrnoException) => { how = `error: ${err.code ?? err.message}`; });
    s.on('close', () => { clearTimeout(t); resolve({ data: Buffer.concat(chunks), how }); });
    s.on('connect', () => drive(s));
  });
}

/** Echoes everything, and half-closes when the client does. */
export function echoServer(): Server {
  return createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => { /* client resets are part of the tests */ });
    s.pipe(s);
  });
}

export function l4Config(tcpListeners: string, tcpClusters: string): string {
  // The proxy needs one HTTP listener; it is not used here.
  return `listeners:
  - name: unused
    address: 127.0.0.1
    port: 0
    routes: [{ direct_response: { status: 200 } }]
tcp_clusters:
${tcpClusters}
tcp_listeners:
${tcpListeners}
`;
}

/** Bound ports of tcp listeners, from their start-up log lines. */
export function tcpPorts(p: Proxy): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of p.stderr().matchAll(/tcp listener (\S+) on \S+:(\d+) ->/g)) m.set(x[1]!, Number(x[2]));
  return m;
}
