// Stats of a tcp_proxy listener, scope `tcp.<stat_prefix>.`, named like Envoy's tcp_proxy filter
// (and, for the connection limit, like Envoy's listener stats). Kept beside the L4 code rather than in
// src/stats/names.ts, with the same template shape, resolved to slots once per config.
// Stats Envoy has no equivalent for are prefixed `pillion.`.
import type { StatTemplate } from '../stats/names.js';
import type { StatRegistry } from '../stats/registry.js';

const c = (stat: string, help: string): StatTemplate => ({ stat, type: 'counter', help });
const g = (stat: string, help: string): StatTemplate => ({ stat, type: 'gauge', help });

export const TCP_STATS = {
  cxTotal: c('downstream_cx_total', 'Downstream connections accepted'),
  cxActive: g('downstream_cx_active', 'Downstream connections open'),
  cxOverflow: c('downstream_cx_overflow', 'Connections closed at once because max_connections were open'),
  cxNoRoute: c('downstream_cx_no_route', 'Connections closed because no cluster matched'),
  rxBytes: c('downstream_cx_rx_bytes_total', 'Bytes received from downstream (and sent upstream)'),
  txBytes: c('downstream_cx_tx_bytes_total', 'Bytes sent to downstream (received from upstream)'),
  upstreamFlush: c('upstream_flush_total', 'Connections that kept sending to the upstream after the downstream closed'),
  idleTimeout: c('idle_timeout', 'Connections closed by the idle timeout'),
} as const satisfies Record<string, StatTemplate>;

/** pillion's own, scope `pillion.tcp.<stat_prefix>.`. */
export const PILLION_TCP_STATS = {
  splice: c('splice_total', 'Connections pumped by the native splice thread'),
  streamPipe: c('stream_pipe_total', 'Connections piped in JavaScript (no addon, splice: false, or a TLS/HTTP sniff left bytes in flight)'),
  http: c('http_l7_total', 'Transparent connections that carried HTTP/1 and took the in-process L7 path'),
  inspectTimeout: c('inspect_timeout', 'Connections that sent nothing within inspect_timeout (routed without SNI or HTTP detection)'),
  errors: c('downstream_cx_error', 'Connections ended by a socket error on either side'),
} as const satisfies Record<string, StatTemplate>;

export type TcpStats = { readonly [K in keyof typeof TCP_STATS | keyof typeof PILLION_TCP_STATS]: number };

export function tcpStats(registry: StatRegistry, prefix: string): TcpStats {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(TCP_STATS)) out[k] = registry.slot(`tcp.${prefix}.${t.stat}`, t.type, t.help);
  for (const [k, t] of Object.entries(PILLION_TCP_STATS)) out[k] = registry.slot(`pillion.tcp.${prefix}.${t.stat}`, t.type, t.help);
  return out as TcpStats;
}
