// Cluster (+ load_assignment) -> a pillion cluster. pillion endpoints are http:// URLs; a host name in
// one is resolved by undici when it connects (the OS resolver, per connection), which is what
// STRICT_DNS and LOGICAL_DNS clusters get here: no refresh_rate, no TTL, and a name that resolves to
// several addresses is one endpoint, not one per address.
import { ms, type Ctx, type RawCluster } from './context.js';
import { transportSocket } from './transport-sockets/tls.js';
import { circuitBreakers, healthChecks, outlierDetection } from './cluster-policies.js';
import type { Node } from './source.js';

const LB: Record<string, string> = { ROUND_ROBIN: 'round_robin', LEAST_REQUEST: 'least_request', RANDOM: 'random' };
const LB_TYPES: Record<string, string> = {
  'envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin': 'round_robin',
  'envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest': 'least_request',
  'envoy.extensions.load_balancing_policies.random.v3.Random': 'random',
};

export function cluster(c: Node, ctx: Ctx, index: number): RawCluster {
  const name = c.str('name');
  if (name === undefined) return c.fail('a cluster needs a name');
  const out: RawCluster = { name, endpoints: [] };
  ctx.origin(['clusters', index], c);
  c.typeName(); // `@type` of a Cluster in an xDS resource file

  const type = c.str('type') ?? 'STATIC';
  const la = c.get('load_assignment');
  if (type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    if (la !== undefined) loadAssignment(la, out, ctx, index, type !== 'STATIC');
    else if (c.has('hosts')) legacyHosts(c, out);
  } else {
    c.get('type')!.dropSelf(`cluster type ${type}: pillion has no service discovery client; the cluster has no endpoints (503)`);
    c.skip('eds_cluster_config', 'ignore_health_on_host_removal'); // EDS settings: the cluster has no EDS here
    if (la !== undefined) la.dropSelf('load_assignment of a non-static cluster');
  }
  if (c.has('cluster_type')) c.get('cluster_type')!.dropSelf('custom cluster type: pillion has static endpoints only; the cluster has no endpoints (503)');
  if (type !== 'STATIC') {
    c.skip('dns_lookup_family'); // undici asks the OS resolver, which picks the family
    c.drop('dns_refresh_rate', 'undici resolves on each new connection; there is no refresh timer');
    c.drop('respect_dns_ttl', 'undici resolves on each new connection; there is no DNS cache');
    c.drop('dns_resolvers', 'pillion uses the OS resolver');
    c.drop('typed_dns_resolver_config', 'pillion uses the OS resolver');
  }

  const connect = c.durationMs('connect_timeout');
  if (connect !== undefined) out.connect_timeout = ms(connect);

  const lbPolicy = lbPolicyOf(c);
  if (lbPolicy !== undefined) out.lb_policy = lbPolicy;

  // Upstream connection idle timeout: in the cluster (old) or in the typed HTTP protocol options (new).
  const common = c.get('common_http_protocol_options');
  if (common !== undefined) commonOptions(common, out);
  for (const [key, opts] of c.entries('typed_extension_protocol_options')) {
    const t = opts.typeName();
    if (key === 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions' || t === 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions') {
      const co = opts.get('common_http_protocol_options');
      if (co !== undefined) commonOptions(co, out);
      const explicit = opts.get('explicit_http_config');
      if (explicit !== undefined && explicit.has('http_protocol_options') && explicit.keys().length === 1) {
        explicit.skip('http_protocol_options'); // HTTP/1.1 upstream: what pillion speaks
        explicit.finish();
      } else if (explicit !== undefined) explicit.dropSelf('upstream HTTP/2 or HTTP/3: pillion speaks HTTP/1.1 to upstreams');
      const up = opts.get('upstream_http_protocol_options');
      if (up !== undefined) upstreamHttpOptions(up);
      opts.drop('auto_config', 'upstream protocol auto-selection (ALPN): pillion speaks HTTP/1.1 to upstreams');
      opts.drop('use_downstream_protocol_config', 'pillion speaks HTTP/1.1 to upstreams');
      opts.finish();
    } else opts.dropSelf(`protocol options ${key}: pillion has no equivalent`);
  }
  c.drop('http2_protocol_options', 'upstream HTTP/2: pillion speaks HTTP/1.1 to upstreams');
  const up = c.get('upstream_http_protocol_options');
  if (up !== undefined) upstreamHttpOptions(up);

  const ts = c.get('transport_socket');
  if (ts !== undefined) transportSocket(ts, 'upstream', ctx, out);
  for (const m of c.list('transport_socket_matches')) m.dropSelf('transport_socket_matches: pillion has no per-endpoint transport sockets', true);

  const cb = c.get('circuit_breakers');
  if (cb !== undefined) circuitBreakers(cb, out);
  const od = c.get('outlier_detection');
  if (od !== undefined) outlierDetection(od, out);
  healthChecks(c.list('health_checks'), out);
  c.drop('max_requests_per_connection', 'pillion keeps upstream connections open for any number of requests');
  c.drop('per_connection_buffer_limit_bytes', 'pillion streams bodies with its own backpressure');
  c.drop('common_lb_config', 'pillion has no locality, panic threshold or slow start');
  c.drop('least_request_lb_config', 'pillion\'s least_request has no choice count or active-request bias');
  c.drop('ring_hash_lb_config', 'pillion has no ring hash');
  c.drop('maglev_lb_config', 'pillion has no maglev');
  c.finish();
  return out;
}

/** auto_sni / auto_san_validation: what pillion (undici) does anyway, SNI and verification from the Host. */
function upstreamHttpOptions(up: Node): void {
  if (up.bool('auto_sni') === true) up.note('auto_sni: pillion sends the request\'s Host as SNI anyway');
  if (up.bool('auto_san_validation') === true) up.note('auto_san_validation: pillion verifies the upstream certificate against the SNI name anyway');
  up.finish();
}

function commonOptions(co: Node, out: RawCluster): void {
  const idle = co.durationMs('idle_timeout');
  if (idle !== undefined) out.idle_timeout = ms(idle);
  co.drop('max_requests_per_connection', 'pillion keeps upstream connections open for any number of requests');
  co.drop('max_connection_duration', 'pillion closes upstream connections when idle only');
  co.finish();
}

function lbPolicyOf(c: Node): string | undefined {
  const lp = c.get('load_balancing_policy');
  if (lp !== undefined) {
    for (const p of lp.list('policies')) {
      const tc = p.get('typed_extension_config');
      const cfg = tc?.get('typed_config');
      const t = cfg?.typeName();
      const mapped = t !== undefined ? LB_TYPES[t] : undefined;
      if (mapped !== undefined && cfg !== undefined) {
        cfg.drop('slow_start_config', 'pillion has no slow start');
        cfg.drop('locality_lb_config', 'pillion has no localities');
        cfg.drop('choice_count', 'pillion\'s least_request compares two endpoints');
        cfg.drop('active_request_bias', 'pillion\'s least_request has no bias');
        cfg.finish();
        tc!.skip('name');
        tc!.finish();
        p.finish();
        // Envoy takes the first policy it supports; so does pillion. The rest are fallbacks.
        lp.finish('a fallback load-balancing policy after one pillion supports');
        return mapped;
      }
      p.dropSelf(`load-balancing policy ${t ?? '(unknown)'}: pillion has round_robin, least_request and random`);
    }
    lp.finish();
    return undefined;
  }
  const lb = c.str('lb_policy');
  if (lb === undefined) return undefined;
  const mapped = LB[lb];
  if (mapped === undefined) c.get('lb_policy')!.dropSelf(`lb_policy ${lb}: pillion has ROUND_ROBIN, LEAST_REQUEST and RANDOM; round_robin is used`);
  return mapped;
}

function endpointUrl(sa: Node): string {
  const address = sa.str('address');
  const port = sa.int('port_value');
  if (address === undefined) return sa.fail('socket_address needs an address');
  if (port === undefined) {
    if (sa.has('named_port')) sa.fail('named_port: pillion needs a port_value');
    sa.fail('socket_address needs a port_value');
  }
  const protocol = sa.str('protocol');
  if (protocol !== undefined && protocol !== 'TCP') sa.fail(`protocol ${protocol}: pillion proxies TCP only`);
  sa.skip('ipv4_compat', 'resolver_name');
  sa.finish();
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}`;
}

function loadAssignment(la: Node, out: RawCluster, ctx: Ctx, index: number, dns: boolean): void {
  la.skip('cluster_name');
  const weights = new Set<number>();
  for (const [li, locality] of la.list('endpoints').entries()) {
    const priority = locality.int('priority') ?? 0;
    if (priority !== 0) locality.get('priority')!.dropSelf(`priority ${priority}: pillion has no priorities; these endpoints share the traffic with priority 0`);
    locality.skip('locality'); // zone/region labels: informational without locality-aware LB
    const lw = locality.int('load_balancing_weight');
    if (lw !== undefined) weights.add(lw);
    for (const lbe of locality.list('lb_endpoints')) {
      const ep = lbe.get('endpoint');
      if (ep === undefined) {
        lbe.dropSelf('endpoint without an address (endpoint_name): pillion needs an address');
        continue;
      }
      const sa = ep.get('address')?.get('socket_address');
      if (sa === undefined) return ep.fail('endpoint needs address.socket_address (pipes are not supported)');
      const url = endpointUrl(sa);
      out.endpoints.push(url);
      ctx.origin(['clusters', index, 'endpoints', out.endpoints.length - 1], sa);
      ep.drop('health_check_config', 'per-endpoint health check port or address: pillion checks the endpoint itself');
      ep.skip('hostname');
      ep.finish();
      const w = lbe.int('load_balancing_weight');
      if (w !== undefined) weights.add(w);
      lbe.skip('metadata');
      lbe.drop('health_status', 'pillion takes every endpoint as healthy');
      lbe.finish();
    }
    locality.finish();
    void li;
  }
  if (weights.size > 1) la.note('endpoint and locality weights differ: pillion balances every endpoint equally');
  if (dns && out.endpoints.length > 0) la.note('DNS cluster: host names stay in the endpoint URLs and undici resolves them on each new connection (no refresh_rate, no TTL, one endpoint per name)');
  la.drop('policy', 'overprovisioning and drop overloads: pillion has no priorities');
  la.finish();
}

/** v2's `hosts` list of addresses, still accepted by some configs. */
function legacyHosts(c: Node, out: RawCluster): void {
  for (const h of c.list('hosts')) {
    const sa = h.get('socket_address');
    if (sa === undefined) return h.fail('hosts[] needs a socket_address');
    out.endpoints.push(endpointUrl(sa));
    h.finish();
  }
}
