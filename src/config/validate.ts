// Turns raw config (from YAML, JSON or the embedded default) into a Config, or throws a ConfigError that
// names the field and, when the config came from a file, its line. Runs when a config loads, never per
// request.
import type { CircuitBreakers, ClusterConfig, Config, FilterConfig, HeaderMatcher, HealthCheck, LbPolicy, ListenerConfig, OutlierDetection, RetryBudget, RetryOn, RetryPolicy, RouteConfig, RouteMatch } from './types.js';
import { FILTER_NAMES, validateFilterConfig } from '../chain/registry.js';
import { parseClusterTls, parseListenerTls } from '../front/tls-config.js';
import { parseAccessLogs, parseStatsConfig } from '../telemetry/config.js';
import { validateTcp } from '../l4/config.js';

export { Checker, ConfigError, fieldName, type Locator, type Path } from './checker.js';
import { Checker, type Locator, type Path } from './checker.js';

const LB_POLICIES: readonly LbPolicy[] = ['round_robin', 'least_request', 'random'];
const MiB = 1024 * 1024;

export function validateConfig(raw: unknown, locate: Locator = () => undefined, file?: string): Config {
  const c = new Checker(locate, file);
  const root = c.object(raw, [], ['admin', 'listeners', 'clusters', 'concurrency', 'drain_time', 'drain_timeout', 'envoy_headers', 'stats', 'tcp_listeners', 'tcp_clusters']);

  const adminRaw = root.admin === undefined ? {} : c.object(root.admin, ['admin'], ['address', 'port']);
  const admin = {
    address: c.string(adminRaw.address, ['admin', 'address'], '127.0.0.1'),
    port: c.port(adminRaw.port, ['admin', 'port'], 15000),
  };

  const clusters: ClusterConfig[] = c.array(root.clusters ?? [], ['clusters']).map((v, i) => cluster(c, v, ['clusters', i]));
  const clusterNames = new Set<string>();
  clusters.forEach((cl, i) => {
    if (clusterNames.has(cl.name)) c.fail(['clusters', i, 'name'], `duplicate cluster name '${cl.name}'`);
    clusterNames.add(cl.name);
  });

  const listenersRaw = c.array(root.listeners, ['listeners']);
  if (listenersRaw.length === 0) c.fail(['listeners'], 'needs at least one listener');
  const listeners = listenersRaw.map((v, i) => listener(c, v, ['listeners', i], clusterNames));
  const seen = new Map<string, number>();
  listeners.forEach((l, i) => {
    if (seen.has(l.name)) c.fail(['listeners', i, 'name'], `duplicate listener name '${l.name}'`);
    seen.set(l.name, i);
  });

  const concurrency = c.int(root.concurrency, ['concurrency'], 1, 1, 256);
  const nodeFront = listeners.findIndex((l) => l.front === 'node');
  // node:net cannot share a port between worker threads (no SO_REUSEPORT before Node 23).
  if (concurrency > 1 && nodeFront >= 0) {
    const raw = listenersRaw[nodeFront];
    const auto = raw !== null && typeof raw === 'object' && (raw as { front?: unknown }).front === undefined;
    c.fail(['listeners', nodeFront, auto ? 'tls' : 'front'], auto
      ? "mTLS (or TLSv1.3-only) puts this listener on the node front, which needs concurrency 1 (worker threads cannot share a node:http port)"
      : "'node' needs concurrency 1 (worker threads cannot share a node:http port)");
  }
  // The raw filter configs (plaintext API keys among them) served the per-route merges above; only the
  // parsed configs (keys hashed) go on to the data planes.
  for (const l of listeners) for (const f of l.filters) delete (f as Partial<FilterConfig>).raw;
  return {
    admin,
    listeners,
    clusters,
    concurrency,
    drain_time_ms: c.duration(root.drain_time, ['drain_time'], 5000),
    drain_timeout_ms: c.duration(root.drain_timeout, ['drain_timeout'], 30_000),
    envoy_headers: c.bool(root.envoy_headers, ['envoy_headers'], true),
    ...parseStatsConfig(c, root.stats, ['stats']), // histogram_buckets_ms: src/telemetry/config.ts
    ...validateTcp(root, clusters, locate, file), // tcp_listeners, tcp_clusters: src/l4/config.ts
  };
}

function listener(c: Checker, v: unknown, path: Path, clusters: Set<string>): ListenerConfig {
  const o = c.object(v, path, ['name', 'address', 'port', 'front', 'tls', 'filters', 'access_log', 'routes']);
  // mTLS and TLS-1.3-only need the node:tls front (uWS 20.30 cannot do them): picked when the
  // listener does not name a front, as an Envoy user expects these to just work; refused when it
  // names uws (tls-config.ts).
  const front = o.front ?? (needsNodeTls(o.tls) ? 'node' : 'uws');
  if (front !== 'uws' && front !== 'node') c.fail([...path, 'front'], "must be 'uws' or 'node'");
  const filters = c.array(o.filters ?? [], [...path, 'filters']).map((f, i) => filterConfig(c, f, [...path, 'filters', i]));
  const routes = c.array(o.routes, [...path, 'routes']).map((r, i) => route(c, r, [...path, 'routes', i], clusters, filters));
  if (routes.length === 0) c.fail([...path, 'routes'], 'needs at least one route');
  const tls = parseListenerTls(c, o.tls, [...path, 'tls'], front as string);
  routes.forEach((r, i) => {
    if (r.allowed_client_sans !== null && (tls === null || tls.ca_file === null)) c.fail([...path, 'routes', i, 'allowed_client_sans'], 'needs an mTLS listener (tls.ca)');
  });
  return {
    name: c.string(o.name, [...path, 'name'], `listener_${String(path[1])}`),
    address: c.string(o.address, [...path, 'address'], '0.0.0.0'),
    port: c.port(o.port, [...path, 'port']),
    tls,
    tls_generation: 0,
    access_log: parseAccessLogs(c, o.access_log, [...path, 'access_log']),
    filters,
    front,
    routes,
  };
}

function needsNodeTls(tls: unknown): boolean {
  if (tls === null || typeof tls !== 'object') return false;
  const t = tls as Record<string, unknown>;
  return t.ca !== undefined || t.min_version === 'TLSv1.3';
}

function filterConfig(c: Checker, v: unknown, path: Path): FilterConfig {
  const o = c.object(v, path, Object.keys(v !== null && typeof v === 'object' ? v : {}));
  const name = c.string(o.name, [...path, 'name']);
  if (!FILTER_NAMES.includes(name)) c.fail([...path, 'name'], `unknown filter (known: ${FILTER_NAMES.join(', ')})`);
  const { name: _name, ...raw } = o;
  return { name, raw, config: validateFilterConfig(c, name, raw, path), path };
}

/** A route's `filters:` map: `false` disables the listener's filter, an object overrides its fields. */
function routeFilters(c: Checker, v: unknown, path: Path, listenerFilters: readonly FilterConfig[]): RouteConfig['filters'] {
  if (v === undefined) return {};
  const o = c.object(v, path, listenerFilters.map((f) => f.name));
  const out: RouteConfig['filters'] = {};
  for (const [name, x] of Object.entries(o)) {
    const p = [...path, name];
    if (x === false) { out[name] = false; continue; }
    const override = c.object(x, p, Object.keys(x !== null && typeof x === 'object' ? x : {}));
    const base = listenerFilters.find((f) => f.name === name)!;
    out[name] = validateFilterConfig(c, name, { ...base.raw, ...override }, p);
  }
  return out;
}

const RETRY_ON: readonly RetryOn[] = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-status-codes'];

function retryPolicy(c: Checker, v: unknown, path: Path): RetryPolicy | null {
  if (v === undefined) return null;
  const o = c.object(v, path, ['retry_on', 'num_retries', 'per_try_timeout', 'retriable_status_codes', 'retry_back_off']);
  const on = typeof o.retry_on === 'string' ? o.retry_on.split(',').map((s) => s.trim()) : c.stringList(o.retry_on ?? ['connect-failure'], [...path, 'retry_on']);
  on.forEach((x, i) => { if (!RETRY_ON.includes(x as RetryOn)) c.fail([...path, 'retry_on', i], `must be one of ${RETRY_ON.join(', ')}`); });
  const back = o.retry_back_off === undefined ? {} : c.object(o.retry_back_off, [...path, 'retry_back_off'], ['base_interval', 'max_interval']);
  const base = c.duration(back.base_interval, [...path, 'retry_back_off', 'base_interval'], 25);
  return {
    retry_on: on as RetryOn[],
    num_retries: c.int(o.num_retries, [...path, 'num_retries'], 1, 0, 10),
    per_try_timeout_ms: c.duration(o.per_try_timeout, [...path, 'per_try_timeout'], 0),
    retriable_status_codes: c.array(o.retriable_status_codes ?? [], [...path, 'retriable_status_codes']).map((x, i) => c.int(x, [...path, 'retriable_status_codes', i], 0, 100, 599)),
    base_interval_ms: base,
    max_interval_ms: c.duration(back.max_interval, [...path, 'retry_back_off', 'max_interval'], base * 10),
  };
}

function route(c: Checker, v: unknown, path: Path, clusters: Set<string>, listenerFilters: readonly FilterConfig[]): RouteConfig {
  const o = c.object(v, path, ['name', 'match', 'cluster', 'direct_response', 'timeout', 'idle_timeout', 'prefix_rewrite', 'host_rewrite', 'max_request_bytes', 'filters', 'retry_policy', 'allowed_client_sans']);
  const match = routeMatch(c, o.match ?? { prefix: '/' }, [...path, 'match']);
  const cluster = c.optString(o.cluster, [...path, 'cluster']);
  if (cluster !== undefined && !clusters.has(cluster)) c.fail([...path, 'cluster'], `names no cluster (known: ${[...clusters].join(', ') || 'none'})`);
  let direct: RouteConfig['direct_response'];
  if (o.direct_response !== undefined) {
    const d = c.object(o.direct_response, [...path, 'direct_response'], ['status', 'body']);
    direct = { status: c.int(d.status, [...path, 'direct_response', 'status'], 200, 200, 599), body: typeof d.body === 'string' ? d.body : '' };
  }
  if ((cluster === undefined) === (direct === undefined)) c.fail(path, 'needs exactly one of cluster or direct_response');
  const prefixRewrite = c.optString(o.prefix_rewrite, [...path, 'prefix_rewrite']);
  if (prefixRewrite !== undefined && match.prefix === undefined) c.fail([...path, 'prefix_rewrite'], 'needs a prefix match');
  return {
    name: c.string(o.name, [...path, 'name'], `route_${String(path[path.length - 1])}`),
    match,
    cluster,
    direct_response: direct,
    timeout_ms: c.duration(o.timeout, [...path, 'timeout'], 15_000),
    idle_timeout_ms: c.duration(o.idle_timeout, [...path, 'idle_timeout'], 300_000),
    prefix_rewrite: prefixRewrite,
    host_rewrite: c.optString(o.host_rewrite, [...path, 'host_rewrite']),
    max_request_bytes: c.int(o.max_request_bytes, [...path, 'max_request_bytes'], 1024 * MiB * 4, 0, Number.MAX_SAFE_INTEGER),
    filters: routeFilters(c, o.filters, [...path, 'filters'], listenerFilters),
    retry_policy: retryPolicy(c, o.retry_policy, [...path, 'retry_policy']),
    allowed_client_sans: o.allowed_client_sans === undefined ? null : c.stringList(o.allowed_client_sans, [...path, 'allowed_client_sans']),
  };
}

function routeMatch(c: Checker, v: unknown, path: Path): RouteMatch {
  const o = c.object(v, path, ['prefix', 'path', 'regex', 'headers']);
  const kinds = ['prefix', 'path', 'regex'].filter((k) => o[k] !== undefined);
  if (kinds.length > 1) c.fail(path, `use one of prefix, path or regex (got ${kinds.join(' and ')})`);
  const m: RouteMatch = {};
  if (o.prefix !== undefined) m.prefix = c.string(o.prefix, [...path, 'prefix']);
  if (o.path !== undefined) m.path = c.string(o.path, [...path, 'path']);
  if (o.regex !== undefined) m.regex = c.regex(o.regex, [...path, 'regex']);
  if (kinds.length === 0) m.prefix = '/';
  for (const k of ['prefix', 'path'] as const) {
    const s = m[k];
    if (s !== undefined && !s.startsWith('/')) c.fail([...path, k], "must start with '/'");
  }
  if (o.headers !== undefined) {
    m.headers = c.array(o.headers, [...path, 'headers']).map((h, i) => headerMatcher(c, h, [...path, 'headers', i]));
  }
  return m;
}

function headerMatcher(c: Checker, v: unknown, path: Path): HeaderMatcher {
  const o = c.object(v, path, ['name', 'exact', 'prefix', 'regex', 'present']);
  const h: HeaderMatcher = { name: c.string(o.name, [...path, 'name']).toLowerCase() };
  if (o.exact !== undefined) h.exact = c.string(o.exact, [...path, 'exact']);
  if (o.prefix !== undefined) h.prefix = c.string(o.prefix, [...path, 'prefix']);
  if (o.regex !== undefined) h.regex = c.regex(o.regex, [...path, 'regex']);
  if (o.present !== undefined) {
    if (typeof o.present !== 'boolean') c.fail([...path, 'present'], 'must be true or false');
    h.present = o.present;
  }
  const kinds = ['exact', 'prefix', 'regex', 'present'].filter((k) => o[k] !== undefined);
  if (kinds.length !== 1) c.fail(path, 'needs exactly one of exact, prefix, regex or present');
  return h;
}

function cluster(c: Checker, v: unknown, path: Path): ClusterConfig {
  const o = c.object(v, path, ['name', 'endpoints', 'lb_policy', 'connect_timeout', 'max_connections', 'idle_timeout', 'tls', 'circuit_breakers', 'outlier_detection', 'health_checks', 'retry_budget']);
  const endpoints = c.array(o.endpoints, [...path, 'endpoints']).map((e, i) => {
    const p = [...path, 'endpoints', i];
    const s = c.string(e, p);
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return c.fail(p, `is not a URL (expected http://host:port, got '${s}')`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') c.fail(p, `must be http:// or https:// (got '${u.protocol}')`);
    if (u.pathname !== '/' || u.search !== '') c.fail(p, 'must not carry a path or query (use prefix_rewrite on the route)');
    return u.origin;
  });
  const lb = o.lb_policy ?? 'round_robin';
  if (!LB_POLICIES.includes(lb as LbPolicy)) c.fail([...path, 'lb_policy'], `must be one of ${LB_POLICIES.join(', ')}`);
  return {
    name: c.string(o.name, [...path, 'name']),
    endpoints,
    lb_policy: lb as LbPolicy,
    connect_timeout_ms: c.duration(o.connect_timeout, [...path, 'connect_timeout'], 5000),
    max_connections: c.int(o.max_connections, [...path, 'max_connections'], 64, 1, 100_000),
    idle_timeout_ms: c.duration(o.idle_timeout, [...path, 'idle_timeout'], 60_000),
    tls: parseClusterTls(c, o.tls, [...path, 'tls']),
    circuit_breakers: circuitBreakers(c, o.circuit_breakers, [...path, 'circuit_breakers']),
    outlier_detection: outlierDetection(c, o.outlier_detection, [...path, 'outlier_detection']),
    health_checks: healthCheck(c, o.health_checks, [...path, 'health_checks']),
    retry_budget: retryBudget(c, o.retry_budget, [...path, 'retry_budget']),
  };
}

/** Envoy's defaults: 1024 connections, pending requests and requests, 3 retries. */
function circuitBreakers(c: Checker, v: unknown, path: Path): CircuitBreakers {
  const o = v === undefined ? {} : c.object(v, path, ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']);
  return {
    max_connections: c.int(o.max_connections, [...path, 'max_connections'], 1024, 1, 1_000_000),
    max_pending_requests: c.int(o.max_pending_requests, [...path, 'max_pending_requests'], 1024, 0, 1_000_000),
    max_requests: c.int(o.max_requests, [...path, 'max_requests'], 1024, 1, 1_000_000),
    max_retries: c.int(o.max_retries, [...path, 'max_retries'], 3, 0, 1_000_000),
  };
}

/** Envoy's defaults: 5 consecutive 5xx or gateway failures, 30 s base ejection, 300 s max, 10 %. */
function outlierDetection(c: Checker, v: unknown, path: Path): OutlierDetection | null {
  if (v === undefined) return null;
  const o = c.object(v, path, ['consecutive_5xx', 'consecutive_gateway_failure', 'base_ejection_time', 'max_ejection_time', 'max_ejection_percent']);
  return {
    consecutive_5xx: c.int(o.consecutive_5xx, [...path, 'consecutive_5xx'], 5, 0, 1_000_000),
    consecutive_gateway_failure: c.int(o.consecutive_gateway_failure, [...path, 'consecutive_gateway_failure'], 5, 0, 1_000_000),
    base_ejection_time_ms: c.duration(o.base_ejection_time, [...path, 'base_ejection_time'], 30_000),
    max_ejection_time_ms: c.duration(o.max_ejection_time, [...path, 'max_ejection_time'], 300_000),
    max_ejection_percent: c.int(o.max_ejection_percent, [...path, 'max_ejection_percent'], 10, 0, 100),
  };
}

function healthCheck(c: Checker, v: unknown, path: Path): HealthCheck | null {
  if (v === undefined) return null;
  const o = c.object(v, path, ['path', 'interval', 'timeout', 'healthy_threshold', 'unhealthy_threshold', 'expected_statuses']);
  const p = c.string(o.path, [...path, 'path']);
  if (!p.startsWith('/')) c.fail([...path, 'path'], "must start with '/'");
  const expected = o.expected_statuses === undefined ? [[200, 300] as [number, number]]
    : c.array(o.expected_statuses, [...path, 'expected_statuses']).map((r, i) => {
      const ro = c.object(r, [...path, 'expected_statuses', i], ['start', 'end']);
      return [c.int(ro.start, [...path, 'expected_statuses', i, 'start'], 200, 100, 599), c.int(ro.end, [...path, 'expected_statuses', i, 'end'], 300, 101, 600)] as [number, number];
    });
  return {
    path: p,
    interval_ms: c.duration(o.interval, [...path, 'interval'], 5000),
    timeout_ms: c.duration(o.timeout, [...path, 'timeout'], 1000),
    healthy_threshold: c.int(o.healthy_threshold, [...path, 'healthy_threshold'], 1, 1, 100),
    unhealthy_threshold: c.int(o.unhealthy_threshold, [...path, 'unhealthy_threshold'], 3, 1, 100),
    expected_statuses: expected,
  };
}

/** Envoy's retry budget defaults: 20 % of active requests, at least 3 retries in flight. */
function retryBudget(c: Checker, v: unknown, path: Path): RetryBudget | null {
  if (v === undefined) return null;
  const o = c.object(v, path, ['budget_percent', 'min_retry_concurrency']);
  return {
    budget_percent: c.number(o.budget_percent, [...path, 'budget_percent'], 20, 0, 100),
    min_retry_concurrency: c.int(o.min_retry_concurrency, [...path, 'min_retry_concurrency'], 3, 0, 1_000_000),
  };
}
