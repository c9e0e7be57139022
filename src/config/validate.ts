// Turns raw config (from YAML, JSON or the embedded default) into a Config, or throws a ConfigError that
// names the field and, when the config came from a file, its line. Runs when a config loads, never per
// request.
import type { ClusterConfig, Config, HeaderMatcher, LbPolicy, ListenerConfig, RouteConfig, RouteMatch } from './types.js';
import { parseDuration } from '../util/duration.js';

export type Path = (string | number)[];

export class ConfigError extends Error {
  readonly code = 'PILLION_CONFIG';
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(`${file !== undefined ? `${file}${line !== undefined ? `:${line}` : ''}: ` : ''}${field}: ${reason}`);
  }
}

/** Finds the line of a field in the source file, when there is one. */
export type Locator = (path: Path) => number | undefined;

export function fieldName(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s || '(root)';
}

const LB_POLICIES: readonly LbPolicy[] = ['round_robin', 'least_request', 'random'];
const MiB = 1024 * 1024;

class Checker {
  constructor(private readonly locate: Locator, private readonly file?: string) {}

  fail(path: Path, reason: string): never {
    // A missing field has no line of its own: point at its parent.
    let line: number | undefined;
    for (let n = path.length; n >= 0 && line === undefined; n--) line = this.locate(path.slice(0, n));
    throw new ConfigError(fieldName(path), reason, this.file, line);
  }

  object(v: unknown, path: Path, allowed: readonly string[]): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'must be a mapping');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail([...path, k], `unknown field (expected one of: ${allowed.join(', ')})`);
    }
    return o;
  }

  array(v: unknown, path: Path): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v;
  }

  string(v: unknown, path: Path, fallback?: string): string {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v === '') this.fail(path, v === undefined ? 'is required' : 'must be a non-empty string');
    return v;
  }

  optString(v: unknown, path: Path): string | undefined {
    return v === undefined ? undefined : this.string(v, path);
  }

  int(v: unknown, path: Path, fallback: number, min: number, max: number): number {
    if (v === undefined) return fallback;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v; // Envoy writes 64-bit ints as strings
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) this.fail(path, `must be an integer from ${min} to ${max}`);
    return n;
  }

  duration(v: unknown, path: Path, fallbackMs: number): number {
    if (v === undefined) return fallbackMs;
    const ms = parseDuration(v);
    if (ms === undefined) this.fail(path, `must be a duration such as "250ms", "15s" or a number of seconds (got ${JSON.stringify(v)})`);
    return ms;
  }

  regex(v: unknown, path: Path): string {
    const s = this.string(v, path);
    try {
      new RegExp(s);
    } catch (err) {
      this.fail(path, `is not a valid regular expression: ${(err as Error).message}`);
    }
    return s;
  }

  port(v: unknown, path: Path, fallback?: number): number {
    if (v === undefined && fallback === undefined) this.fail(path, 'is required');
    return this.int(v, path, fallback ?? 0, 0, 65535);
  }
}

export function validateConfig(raw: unknown, locate: Locator = () => undefined, file?: string): Config {
  const c = new Checker(locate, file);
  const root = c.object(raw, [], ['admin', 'listeners', 'clusters', 'concurrency', 'drain_time', 'drain_timeout']);

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
  if (concurrency > 1 && nodeFront >= 0) c.fail(['listeners', nodeFront, 'front'], "'node' needs concurrency 1 (worker threads cannot share a node:http port)");
  return {
    admin,
    listeners,
    clusters,
    concurrency,
    drain_time_ms: c.duration(root.drain_time, ['drain_time'], 5000),
    drain_timeout_ms: c.duration(root.drain_timeout, ['drain_timeout'], 30_000),
  };
}

function listener(c: Checker, v: unknown, path: Path, clusters: Set<string>): ListenerConfig {
  const o = c.object(v, path, ['name', 'address', 'port', 'front', 'routes']);
  const front = o.front ?? 'uws';
  if (front !== 'uws' && front !== 'node') c.fail([...path, 'front'], "must be 'uws' or 'node'");
  const routes = c.array(o.routes, [...path, 'routes']).map((r, i) => route(c, r, [...path, 'routes', i], clusters));
  if (routes.length === 0) c.fail([...path, 'routes'], 'needs at least one route');
  return {
    name: c.string(o.name, [...path, 'name'], `listener_${String(path[1])}`),
    address: c.string(o.address, [...path, 'address'], '0.0.0.0'),
    port: c.port(o.port, [...path, 'port']),
    front,
    routes,
  };
}

function route(c: Checker, v: unknown, path: Path, clusters: Set<string>): RouteConfig {
  const o = c.object(v, path, ['name', 'match', 'cluster', 'direct_response', 'timeout', 'idle_timeout', 'prefix_rewrite', 'host_rewrite', 'max_request_bytes']);
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
  const o = c.object(v, path, ['name', 'endpoints', 'lb_policy', 'connect_timeout', 'max_connections', 'idle_timeout']);
  const endpoints = c.array(o.endpoints, [...path, 'endpoints']).map((e, i) => {
    const p = [...path, 'endpoints', i];
    const s = c.string(e, p);
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return c.fail(p, `is not a URL (expected http://host:port, got '${s}')`);
    }
    if (u.protocol !== 'http:') c.fail(p, `only http:// endpoints are supported here (got '${u.protocol}')`);
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
  };
}
