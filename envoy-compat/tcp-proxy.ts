// envoy.filters.network.tcp_proxy -> pillion's L4 `tcp_listeners` (src/l4/config.ts, docs/l4.md).
// A listener with no HTTP filter chain but tcp_proxy chains becomes a tcp listener: a chain without
// filter_chain_match is the default `cluster`, chains matching server_names are `sni` routes (TLS
// passthrough, as in the tls-sni example's third chain). Stats keep Envoy's `tcp.<stat_prefix>.*`.
// pillion's L4 terminates no TLS: a tcp_proxy chain with a DownstreamTlsContext is reported (unsafe).
import { ms, type Ctx } from './context.js';
import { tlsNotCarried } from './transport-sockets/tls.js';
import type { Node } from './source.js';

export const TCP_PROXY_NAME = 'envoy.filters.network.tcp_proxy';
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export interface RawTcpListener {
  name: string;
  address: string;
  port: number;
  stat_prefix?: string;
  cluster?: string;
  sni?: { server_names: string[]; cluster: string }[];
  idle_timeout?: string;
}

export function isTcpProxy(f: unknown): boolean {
  if (f === null || typeof f !== 'object') return false;
  const o = f as Record<string, unknown>;
  const tc = (o.typed_config ?? o.typedConfig) as Record<string, unknown> | undefined;
  const type = typeof tc?.['@type'] === 'string' ? (tc['@type'] as string) : '';
  return type.endsWith(`/${TCP_PROXY_TYPE}`) || o.name === TCP_PROXY_NAME || o.name === 'envoy.tcp_proxy';
}

/** The tcp_proxy config of one filter chain: its cluster, stat_prefix and idle_timeout. */
function tcpProxy(cfg: Node, out: RawTcpListener): string | undefined {
  const statPrefix = cfg.str('stat_prefix');
  if (statPrefix !== undefined && out.stat_prefix === undefined) out.stat_prefix = statPrefix;
  else if (statPrefix !== undefined && statPrefix !== out.stat_prefix) cfg.get('stat_prefix')!.note(`stat_prefix: pillion counts the whole listener under tcp.${out.stat_prefix}.*`);
  const idle = cfg.durationMs('idle_timeout');
  if (idle !== undefined) out.idle_timeout = ms(idle);
  const cluster = cfg.str('cluster');
  if (cluster === undefined) {
    cfg.drop('weighted_clusters', 'pillion\'s tcp listeners send a chain to one cluster', false);
    cfg.finish();
    return undefined;
  }
  cfg.drop('access_log', 'tcp_proxy access log: not carried over to pillion\'s tcp listeners');
  cfg.drop('max_connect_attempts', 'pillion connects once per downstream connection');
  cfg.drop('hash_policy', 'pillion has no hash load balancing');
  cfg.drop('tunneling_config', 'pillion does not tunnel TCP over HTTP');
  cfg.drop('max_downstream_connection_duration', 'pillion closes idle connections only');
  cfg.finish();
  return cluster;
}

/** A listener whose filter chains are tcp_proxy only. Returns false when nothing could be carried. */
export function tcpListener(l: Node, chains: Node[], address: string, port: number, ctx: Ctx, envoyName: string | undefined): boolean {
  const index = ctx.out.tcp_listeners?.length ?? 0;
  const out: RawTcpListener = { name: envoyName ?? `tcp_listener_${index}`, address, port };
  for (const fc of chains) {
    const filters = fc.list('filters');
    const tp = filters.find((f) => isTcpProxy(f.value));
    if (tp === undefined || filters.length !== 1) {
      fc.dropSelf('filter chain not carried over: pillion\'s tcp listeners run tcp_proxy alone');
      continue;
    }
    tp.skip('name');
    const cfg = tp.get('typed_config');
    if (cfg === undefined) return tp.fail('tcp_proxy needs its typed_config');
    cfg.typeName();
    const ts = fc.get('transport_socket');
    if (ts !== undefined) tlsNotCarried(ts, 'TLS termination on a tcp_proxy chain: pillion\'s tcp listeners pass TLS through but do not terminate it; this port would accept plaintext');
    const match = fc.get('filter_chain_match');
    const cluster = tcpProxy(cfg, out);
    tp.finish();
    if (cluster === undefined) {
      fc.dropSelf('tcp_proxy chain without a cluster');
      continue;
    }
    if (match === undefined) {
      if (out.cluster === undefined) out.cluster = cluster;
      else fc.dropSelf('a second chain without filter_chain_match: never selected');
    } else {
      const names = match.get('server_names');
      const serverNames = Array.isArray(names?.value) ? (names!.value as unknown[]).map(String) : [];
      match.skip('transport_protocol'); // "tls": what server_names needs anyway
      match.finish();
      if (serverNames.length === 0) fc.dropSelf('filter_chain_match other than server_names: pillion\'s tcp listeners route by SNI only', true);
      else (out.sni ??= []).push({ server_names: serverNames, cluster });
    }
    fc.skip('name');
    fc.finish();
  }
  if (out.cluster === undefined && out.sni === undefined) return false;
  (ctx.out.tcp_listeners ??= []).push(out);
  ctx.origin(['tcp_listeners', index], l);
  return true;
}
