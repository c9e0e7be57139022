// The `tcp_listeners` and `tcp_clusters` sections (docs/l4.md): validated here, called once from
// src/config/validate.ts, so that the L4 schema lives beside the L4 code. Same rules as the rest of
// the config: unknown fields are errors, every error names the field and its line, defaults are
// filled in, durations become milliseconds.
import { isIP } from 'node:net';
import type { ClusterConfig } from '../config/types.js';
import { Checker, type Locator, type Path } from '../config/checker.js';

export interface TcpEndpoint {
  host: string;
  port: number;
}

export type TcpLbPolicy = 'round_robin' | 'random' | 'least_connections';

export interface TcpClusterConfig {
  name: string;
  endpoints: TcpEndpoint[];
  lb_policy: TcpLbPolicy;
  connect_timeout_ms: number;
}

/** TLS passthrough: connections whose ClientHello names one of `server_names` go to `cluster`. */
export interface SniRoute {
  /** Exact names, or `*.example.com` (one or more labels). Lower case. */
  server_names: string[];
  cluster: string;
}

/** Transparent mode: connections whose original destination matches go to `cluster`. */
export interface DestinationRoute {
  /** An IP address, or undefined for any address. */
  address?: string;
  port: number;
  cluster: string;
}

export interface TcpListenerConfig {
  name: string;
  address: string;
  port: number;
  /** Stats scope: `tcp.<stat_prefix>.*` (Envoy's tcp_proxy). */
  stat_prefix: string;
  /** Where connections go when nothing more specific matches. */
  cluster?: string;
  sni: SniRoute[];
  /** Recover the original destination (SO_ORIGINAL_DST) of iptables-redirected connections. */
  original_dst: boolean;
  destinations: DestinationRoute[];
  /** original_dst: connect to the original destination when no route matches (else: close). */
  passthrough: boolean;
  /** original_dst: HTTP/1 requests get the L7 path (`l7`, in-process node:http) or stay opaque (`l4`). */
  http: 'l7' | 'l4';
  /** How long to wait for the first bytes when sni or http inspection needs them. */
  inspect_timeout_ms: number;
  /** No bytes either way for this long closes both sides. 0 disables. */
  idle_timeout_ms: number;
  /** Open downstream connections beyond this are closed at once (downstream_cx_overflow). */
  max_connections: number;
  /** Use the native splice pump when it is loaded (false: always stream piping). */
  splice: boolean;
}

export interface TcpConfig {
  tcp_listeners: TcpListenerConfig[];
  tcp_clusters: TcpClusterConfig[];
}

const LB: readonly TcpLbPolicy[] = ['round_robin', 'random', 'least_connections'];

/** The shared config checks (src/config/checker.ts) plus the one L4 needs. */
class Check extends Checker {
  /** `host:port` or `[v6]:port`. */
  hostPort(v: unknown, path: Path): TcpEndpoint {
    const s = this.string(v, path);
    const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
    const port = m === null ? NaN : Number(m[3]);
    if (m === null || port < 1 || port > 65535) this.fail(path, `must be host:port or [ipv6]:port (got '${s}')`);
    return { host: m[1] ?? m[2]!, port };
  }}

/**
 * Validates `root.tcp_listeners` and `root.tcp_clusters`. A tcp listener's `cluster` may name a
 * `tcp_clusters` entry or an HTTP cluster from `clusters` (its endpoints' host:port are used).
 */
export function validateTcp(root: Record<string, unknown>, httpClusters: readonly ClusterConfig[], locate: Locator, file?: string): TcpConfig {
  const c = new Check(locate, file);
  const clusters = c.array(root.tcp_clusters ?? [], ['tcp_clusters']).map((v, i) => tcpCluster(c, v, ['tcp_clusters', i]));
  const names = new Set(httpClusters.map((h) => h.name));
  clusters.forEach((cl, i) => {
    if (names.has(cl.name)) c.fail(['tcp_clusters', i, 'name'], `duplicate cluster name '${cl.name}' (cluster names are shared with clusters)`);
    names.add(cl.name);
  });
  const known = new Map(clusters.map((cl) => [cl.name, cl]));
  const used = new Set<string>();
  const ref = (v: unknown, path: Path): string => {
    const name = c.string(v, path);
    if (!names.has(name)) c.fail(path, `names no cluster (known: ${[...names].join(', ') || 'none'})`);
    used.add(name);
    return name;
  };
  const listeners = c.array(root.tcp_listeners ?? [], ['tcp_listeners']).map((v, i) => tcpListener(c, v, ['tcp_listeners', i], ref));
  const seen = new Set<string>();
  listeners.forEach((l, i) => {
    if (seen.has(l.name)) c.fail(['tcp_listeners', i, 'name'], `duplicate tcp listener name '${l.name}'`);
    seen.add(l.name);
  });
  // HTTP clusters used at L4 become TCP clusters with the same endpoints.
  for (const h of httpClusters) {
    if (!used.has(h.name) || known.has(h.name)) continue;
    clusters.push({
      name: h.name,
      endpoints: h.endpoints.map((e) => {
        const u = new URL(e);
        return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 80 : Number(u.port) };
      }),
      lb_policy: h.lb_policy === 'random' ? 'random' : h.lb_policy === 'least_request' ? 'least_connections' : 'round_robin',
      connect_timeout_ms: h.connect_timeout_ms,
    });
  }
  return { tcp_listeners: listeners, tcp_clusters: clusters };
}

function tcpCluster(c: Check, v: unknown, path: Path): TcpClusterConfig {
  const o = c.object(v, path, ['name', 'endpoints', 'lb_policy', 'connect_timeout']);
  const endpoints = c.array(o.endpoints, [...path, 'endpoints']).map((e, i) => c.hostPort(e, [...path, 'endpoints', i]));
  if (endpoints.length === 0) c.fail([...path, 'endpoints'], 'needs at least one endpoint');
  const lb = o.lb_policy ?? 'round_robin';
  if (!LB.includes(lb as TcpLbPolicy)) c.fail([...path, 'lb_policy'], `must be one of ${LB.join(', ')}`);
  return {
    name: c.string(o.name, [...path, 'name']),
    endpoints,
    lb_policy: lb as TcpLbPolicy,
    connect_timeout_ms: c.duration(o.connect_timeout, [...path, 'connect_timeout'], 5000),
  };
}

const LISTENER_FIELDS = ['name', 'address', 'port', 'stat_prefix', 'cluster', 'sni', 'original_dst', 'destinations', 'passthrough',
  'http', 'inspect_timeout', 'idle_timeout', 'max_connections', 'splice'] as const;

function tcpListener(c: Check, v: unknown, path: Path, ref: (v: unknown, path: Path) => string): TcpListenerConfig {
  const o = c.object(v, path, LISTENER_FIELDS);
  const name = c.string(o.name, [...path, 'name'], `tcp_listener_${String(path[1])}`);
  const cluster = o.cluster === undefined ? undefined : ref(o.cluster, [...path, 'cluster']);
  const sni = c.array(o.sni ?? [], [...path, 'sni']).map((r, i) => {
    const p = [...path, 'sni', i];
    const ro = c.object(r, p, ['server_names', 'cluster']);
    const serverNames = c.array(ro.server_names, [...p, 'server_names']).map((s, j) => {
      const n = c.string(s, [...p, 'server_names', j]).toLowerCase();
      if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(n)) c.fail([...p, 'server_names', j], `is not a host name or *.suffix (got '${n}')`);
      return n.replace(/\.$/, '');
    });
    if (serverNames.length === 0) c.fail([...p, 'server_names'], 'needs at least one name');
    return { server_names: serverNames, cluster: ref(ro.cluster, [...p, 'cluster']) };
  });
  const originalDst = c.bool(o.original_dst, [...path, 'original_dst'], false);
  const destinations = c.array(o.destinations ?? [], [...path, 'destinations']).map((d, i) => {
    const p = [...path, 'destinations', i];
    const dobj = c.object(d, p, ['address', 'port', 'cluster']);
    const address = dobj.address === undefined ? undefined : c.string(dobj.address, [...p, 'address']);
    if (address !== undefined && isIP(address) === 0) c.fail([...p, 'address'], `must be an IP address (got '${address}')`);
    return { address, port: c.int(dobj.port, [...p, 'port'], 0, 1, 65535), cluster: ref(dobj.cluster, [...p, 'cluster']) };
  });
  destinations.forEach((d, i) => { if (d.port === 0) c.fail([...path, 'destinations', i, 'port'], 'is required'); });
  if (!originalDst && destinations.length > 0) c.fail([...path, 'destinations'], 'needs original_dst: true');
  const passthrough = c.bool(o.passthrough, [...path, 'passthrough'], originalDst);
  if (passthrough && !originalDst) c.fail([...path, 'passthrough'], 'needs original_dst: true');
  const http = o.http ?? 'l7';
  if (http !== 'l7' && http !== 'l4') c.fail([...path, 'http'], "must be 'l7' or 'l4'");
  if (cluster === undefined && sni.length === 0 && !originalDst) c.fail(path, 'needs a cluster, sni routes or original_dst: true');
  return {
    name,
    address: c.string(o.address, [...path, 'address'], '0.0.0.0'),
    port: o.port === undefined ? c.fail([...path, 'port'], 'is required') : c.int(o.port, [...path, 'port'], 0, 0, 65535),
    stat_prefix: c.string(o.stat_prefix, [...path, 'stat_prefix'], name),
    cluster,
    sni,
    original_dst: originalDst,
    destinations,
    passthrough,
    http,
    inspect_timeout_ms: c.duration(o.inspect_timeout, [...path, 'inspect_timeout'], 1000),
    idle_timeout_ms: c.duration(o.idle_timeout, [...path, 'idle_timeout'], 3_600_000),
    max_connections: c.int(o.max_connections, [...path, 'max_connections'], 65_536, 1, 1_000_000),
    splice: c.bool(o.splice, [...path, 'splice'], true),
  };
}
