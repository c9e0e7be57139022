// RouteConfiguration -> a listener's routes. Envoy picks a virtual host by the Host header first and
// then a route inside it; pillion has one ordered route list per listener, so virtual hosts are
// flattened: each route of a host-specific virtual host gets a `host` header matcher, the most
// specific virtual hosts come first (exact, then *.suffix, then prefix.*, then *), and a
// host-specific virtual host ends with a 404 so that its requests never fall through to the next
// one (Envoy answers 404 when the chosen virtual host has no matching route).
import { ms, type Ctx, type RawHeaderMatcher, type RawListener, type RawRoute } from './context.js';
import { lookup, type HttpFilterTranslator } from './extensions.js';
import type { Node } from './source.js';
import { retryPolicy } from './cluster-policies.js';

export interface RouteScopeInput {
  ctx: Ctx;
  listener: RawListener;
  /** The listener's index in pillion's `listeners`, for error locations. */
  listenerIndex: number;
  /** The HCM's http_filters by the name they were given there (typed_per_filter_config keys). */
  filtersByName: Map<string, HttpFilterTranslator>;
  allFilters: readonly HttpFilterTranslator[];
  /** HCM stream_idle_timeout, the default for a route's idle_timeout. */
  streamIdleMs?: number;
  /** The routes came by RDS, where Envoy does not check cluster names (validate_clusters is off). */
  fromRds?: boolean;
  /** The HCM's strip_any_host_port: ports in Host are ignored when matching domains. */
  stripAnyHostPort?: boolean;
  /** A host matcher put on every route (the routes of an SNI filter chain, matched by Host). */
  sniHost?: RawHeaderMatcher;
  /** The virtual host's retry policy, translated: routes without their own take it. */
  vhostRetry?: Record<string, unknown>;
}

export function routeConfiguration(rc: Node, s: RouteScopeInput): void {
  rc.skip('name', 'validate_clusters');
  const vhosts = rc.list('virtual_hosts').map((vh) => ({ vh, rank: vhostRank(vh) }));
  // A stable sort keeps the file's order within a rank, as Envoy's domain search does within a class.
  vhosts.sort((a, b) => a.rank - b.rank);
  // ignore_port_in_host_matching (or the HCM's strip_any_host_port): a port in Host does not count.
  const anyPort = rc.bool('ignore_port_in_host_matching') === true || s.stripAnyHostPort === true;
  vhosts.forEach(({ vh, rank }, i) => virtualHost(vh, s, rank < WILDCARD && i < vhosts.length - 1, anyPort));
  rc.finish();
}

const EXACT = 0;
const SUFFIX = 1;
const PREFIX = 2;
const WILDCARD = 3;

function domainRank(d: string): number {
  if (d === '*') return WILDCARD;
  if (d.startsWith('*')) return SUFFIX;
  if (d.endsWith('*')) return PREFIX;
  return EXACT;
}

function vhostRank(vh: Node): number {
  const domains = vh.isMap() ? ((vh.value as Record<string, unknown>).domains as unknown) : undefined;
  if (!Array.isArray(domains) || domains.length === 0) return WILDCARD;
  return Math.min(...domains.map((d) => domainRank(String(d))));
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function domainRegex(d: string): string {
  if (d.startsWith('*')) return `.+${escapeRegex(d.slice(1))}`;
  if (d.endsWith('*')) return `${escapeRegex(d.slice(0, -1))}.+`;
  return escapeRegex(d);
}

function virtualHost(vh: Node, s: RouteScopeInput, closeWith404: boolean, anyPort: boolean): void {
  const name = vh.str('name') ?? 'vhost';
  const domainsNode = vh.get('domains');
  const domains = Array.isArray(domainsNode?.value) ? (domainsNode!.value as unknown[]).map(String) : [];
  let host: RawHeaderMatcher | undefined;
  if (domains.length > 0 && !domains.includes('*')) {
    const alternatives = domains.map(domainRegex).join('|');
    host = { name: 'host', regex: anyPort ? `(?:${alternatives})(?::[0-9]+)?` : alternatives };
    domainsNode!.note(`domains become a \`host\` header matcher on each route: matched case-sensitively${anyPort ? ', any port' : ', with the port as sent'}`);
  }
  const vhRetry = vh.get('retry_policy');
  // A virtual host's retry policy applies to its routes that have none (Envoy: the route's wins).
  const scope: RouteScopeInput = { ...s, vhostRetry: vhRetry !== undefined ? retryPolicy(vhRetry) : undefined };
  const vhFilters = vh.entries('typed_per_filter_config');
  const first = s.listener.routes.length;
  for (const r of vh.list('routes')) {
    const route = translateRoute(r, scope, host);
    if (route !== undefined) {
      for (const [key, cfg] of vhFilters) perFilter(key, cfg, route, s, true);
      s.listener.routes.push(route);
      s.ctx.origin(['listeners', s.listenerIndex, 'routes', s.listener.routes.length - 1], r);
    }
  }
  if (vhFilters.length > 0 && s.listener.routes.length === first) for (const [, cfg] of vhFilters) cfg.dropSelf('no route of this virtual host was carried over');
  if (closeWith404 && host !== undefined) {
    s.listener.routes.push({ name: `${name}_no_route`, match: { prefix: '/', headers: [{ ...host }] }, direct_response: { status: 404 } });
  }
  vh.drop('require_tls', 'pillion does not redirect plain HTTP to HTTPS', true);

  vh.drop('rate_limits', 'rate limit descriptor actions: pillion\'s local_ratelimit descriptors are per distinct client, not built from route actions');
  vh.finish();
}

/** A typed_per_filter_config entry: keyed by the HCM filter's name; may wrap a FilterConfig. */
function perFilter(key: string, cfg: Node, route: RawRoute, s: RouteScopeInput, fromVhost: boolean): void {
  let inner: Node | undefined = cfg;
  const type = cfg.typeName();
  if (type === 'envoy.config.route.v3.FilterConfig') {
    if (cfg.bool('disabled') === true) {
      cfg.skip('is_optional');
      cfg.finish();
      const t = s.filtersByName.get(key) ?? lookup(s.allFilters, key, undefined);
      // A filter pillion did not carry is off already; one it carries is turned off on this route
      // (unless the route itself says otherwise: the most specific setting wins, as in Envoy).
      if (t?.pillionName !== undefined && (s.listener.filters ?? []).some((f) => f.name === t.pillionName)) {
        if (!fromVhost || route.filters?.[t.pillionName] === undefined) (route.filters ??= {})[t.pillionName] = false;
      }
      return;
    }
    cfg.skip('is_optional');
    inner = cfg.get('config');
    cfg.finish();
    if (inner === undefined) {
      // Enabled here with the listener's config (the filter is disabled in the HCM).
      const t = s.filtersByName.get(key) ?? lookup(s.allFilters, key, undefined);
      if (t?.pillionName !== undefined && fromVhost && route.filters?.[t.pillionName] !== undefined) return;
      if (t?.enable !== undefined) return t.enable(cfg, { ctx: s.ctx, route, listener: s.listener, key });
      if (t?.pillionName !== undefined && (s.listener.filters ?? []).some((f) => f.name === t.pillionName)) {
        (route.filters ??= {})[t.pillionName] = {};
      }
      return;
    }
  }
  const innerType = inner.typeName(); // read first: it marks `@type` as used
  const t = s.filtersByName.get(key) ?? lookup(s.allFilters, key, innerType);
  if (t === undefined) {
    inner.dropSelf(`per-route config for ${key}, a filter pillion does not know`);
    return;
  }
  // A virtual host's override applies to each of its routes without their own; findings are reported once.
  if (fromVhost && t.pillionName !== undefined && route.filters?.[t.pillionName] !== undefined) return;
  if (fromVhost && s.ctx.report.dropped.some((d) => d.path === inner.where)) return;
  t.perRoute(inner, { ctx: s.ctx, route, listener: s.listener, key });
}

function translateRoute(r: Node, s: RouteScopeInput, host: RawHeaderMatcher | undefined): RawRoute | undefined {
  const out: RawRoute = { match: {} };
  const name = r.str('name');
  if (name !== undefined) out.name = name;
  const matchNode = r.get('match');
  if (matchNode === undefined) return r.fail('a route needs a match');
  if (!routeMatch(matchNode, out)) {
    r.dropSelf('route not carried over: its match cannot be expressed in pillion');
    return undefined;
  }
  if (host !== undefined) out.match.headers = [{ ...host }, ...(out.match.headers ?? [])];
  if (s.sniHost !== undefined) out.match.headers = [{ ...s.sniHost }, ...(out.match.headers ?? [])];

  const action = r.get('route');
  const direct = r.get('direct_response');
  if (action !== undefined) {
    if (!routeAction(action, out, s)) {
      r.dropSelf('route not carried over: its action cannot be expressed in pillion');
      return undefined;
    }
  } else if (direct !== undefined) {
    out.direct_response = { status: direct.int('status') ?? 200 };
    const body = direct.get('body');
    if (body !== undefined) {
      const text = dataSource(body);
      if (text !== undefined) out.direct_response.body = text;
    }
    direct.finish();
  } else {
    const kind = r.has('redirect') ? 'redirect' : r.has('filter_action') ? 'filter_action' : 'non_forwarding_action';
    r.dropSelf(`route not carried over: pillion has no ${kind} routes (only cluster and direct_response)`);
    r.skip(kind);
    return undefined;
  }
  if (out.idle_timeout === undefined && s.streamIdleMs !== undefined && out.cluster !== undefined) out.idle_timeout = ms(s.streamIdleMs);
  for (const [key, cfg] of r.entries('typed_per_filter_config')) perFilter(key, cfg, out, s, false);
  r.skip('decorator', 'metadata'); // tracing and metadata: nothing observable in pillion
  r.finish();
  return out;
}

/** Fills out.match; false when the route cannot be carried (a match pillion cannot express). */
function routeMatch(m: Node, out: RawRoute): boolean {
  const prefix = m.str('prefix');
  const path = m.str('path');
  const regex = m.get('safe_regex');
  const sepPrefix = m.str('path_separated_prefix');
  if (prefix !== undefined) out.match.prefix = prefix;
  else if (path !== undefined) out.match.path = path;
  else if (regex !== undefined) out.match.regex = regexOf(regex);
  else if (sepPrefix !== undefined) out.match.regex = `${escapeRegex(sepPrefix)}(/.*)?`;
  else {
    const other = m.keys().find((k) => !['headers', 'query_parameters', 'queryParameters', 'case_sensitive', 'caseSensitive'].includes(k));
    if (other !== undefined) {
      m.drop(other, `path match ${other}: pillion matches prefix, path or regex only`);
      return false;
    }
    out.match.prefix = '/';
  }
  // prefix: "" matches everything in Envoy; pillion wants a leading '/'.
  if (out.match.prefix === '') out.match.prefix = '/';
  const text = out.match.prefix ?? out.match.path;
  if (text !== undefined && !text.startsWith('/')) {
    m.get(out.match.prefix !== undefined ? 'prefix' : 'path')!.dropSelf(`'${text}' does not start with '/': the route never matches in Envoy either`);
    m.finish();
    return false;
  }
  if (m.bool('case_sensitive') === false) {
    m.get('case_sensitive')!.dropSelf('case-insensitive path matching: pillion matches paths case-sensitively');
  }
  const headers: RawHeaderMatcher[] = [];
  let ok = true;
  for (const h of m.list('headers')) {
    const hm = headerMatcher(h);
    if (hm === undefined) ok = false;
    else headers.push(hm);
  }
  if (headers.length > 0) out.match.headers = headers;
  for (const q of m.list('query_parameters')) {
    q.dropSelf('query parameter matching: pillion matches path and headers only');
    ok = false;
  }
  // Any other condition (grpc, runtime_fraction, dynamic_metadata, tls_context...) would make the
  // route match more than in Envoy without it: the route is not carried rather than widened.
  const before = m.report.dropped.length;
  m.finish('match condition pillion cannot check');
  return ok && m.report.dropped.length === before;
}

function regexOf(n: Node): string {
  const re = n.str('regex');
  if (re === undefined) return n.fail('safe_regex needs a regex');
  n.skip('google_re2'); // RE2 engine options; pillion uses JavaScript RegExp (RE2 syntax is close)
  n.finish();
  return re;
}

/** A route's HeaderMatcher; undefined when pillion cannot express it (the route is then dropped). */
function headerMatcher(h: Node): RawHeaderMatcher | undefined {
  let name = h.str('name');
  if (name === undefined) return h.fail('a header matcher needs a name');
  if (name === ':authority') name = 'host';
  if (name.startsWith(':')) {
    h.dropSelf(`header matcher on ${name}: pillion matches ordinary headers and :authority only`);
    return undefined;
  }
  const out: RawHeaderMatcher = { name: name.toLowerCase() };
  const invert = h.bool('invert_match') === true;
  const present = h.bool('present_match');
  const sm = h.get('string_match');
  const legacy: [string, (v: string) => void][] = [
    ['exact_match', (v) => (out.exact = v)],
    ['prefix_match', (v) => (out.prefix = v)],
    ['suffix_match', (v) => (out.regex = `.*${escapeRegex(v)}`)],
    ['contains_match', (v) => (out.regex = `.*${escapeRegex(v)}.*`)],
  ];
  if (present !== undefined) out.present = invert ? !present : present;
  else if (sm !== undefined) {
    if (!stringMatch(sm, out)) return undefined;
  } else if (h.has('safe_regex_match')) out.regex = regexOf(h.get('safe_regex_match')!);
  else if (h.has('range_match')) {
    h.drop('range_match', 'header range matching: pillion has exact, prefix, regex and present');
    return undefined;
  } else {
    const l = legacy.find(([k]) => h.has(k));
    if (l !== undefined) l[1](h.str(l[0])!);
    else out.present = !invert; // a matcher with a name only: the header must be present
  }
  if (invert && present === undefined) {
    h.get('invert_match')!.dropSelf('invert_match: pillion cannot invert a header value matcher');
    return undefined;
  }
  h.skip('treat_missing_header_as_empty');
  h.finish();
  return out;
}

function stringMatch(sm: Node, out: RawHeaderMatcher): boolean {
  if (sm.bool('ignore_case') === true) {
    sm.get('ignore_case')!.dropSelf('ignore_case: pillion matches header values case-sensitively');
    return false;
  }
  const exact = sm.str('exact');
  const prefix = sm.str('prefix');
  const suffix = sm.str('suffix');
  const contains = sm.str('contains');
  if (exact !== undefined) out.exact = exact;
  else if (prefix !== undefined) out.prefix = prefix;
  else if (suffix !== undefined) out.regex = `.*${escapeRegex(suffix)}`;
  else if (contains !== undefined) out.regex = `.*${escapeRegex(contains)}.*`;
  else if (sm.has('safe_regex')) out.regex = regexOf(sm.get('safe_regex')!);
  else sm.fail('string_match needs exact, prefix, suffix, contains or safe_regex');
  sm.finish();
  return true;
}

/** RouteAction -> cluster and friends; false when the route cannot be carried. */
function routeAction(a: Node, out: RawRoute, s: RouteScopeInput): boolean {
  const cluster = a.str('cluster');
  if (cluster !== undefined) {
    out.cluster = cluster;
    if (s.fromRds) s.ctx.rdsClusters.set(cluster, a.get('cluster')!);
  }
  else if (a.has('weighted_clusters')) {
    const wc = a.get('weighted_clusters')!;
    const list = wc.list('clusters');
    let best: { name: string; weight: number } | undefined;
    for (const c of list) {
      const w = c.int('weight') ?? 0;
      const n = c.str('name');
      if (n !== undefined && (best === undefined || w > best.weight)) best = { name: n, weight: w };
    }
    if (best === undefined) return wc.fail('weighted_clusters needs clusters');
    out.cluster = best.name;
    wc.dropSelf(`weighted_clusters: pillion routes to one cluster; all traffic goes to '${best.name}' (the heaviest)`);
  } else {
    const k = a.keys().find((x) => /^cluster_?[hH]eader|^cluster_specifier_plugin|^clusterSpecifierPlugin|^inline_cluster_specifier_plugin/.test(x)) ?? 'cluster';
    a.drop(k, 'pillion routes to a named cluster only');
    return false;
  }
  const timeout = a.durationMs('timeout');
  if (timeout !== undefined) out.timeout = ms(timeout);
  const idle = a.durationMs('idle_timeout');
  if (idle !== undefined) out.idle_timeout = ms(idle);
  const prefixRewrite = a.str('prefix_rewrite');
  if (prefixRewrite !== undefined) {
    if (out.match.prefix !== undefined) out.prefix_rewrite = prefixRewrite;
    else a.get('prefix_rewrite')!.dropSelf('prefix_rewrite on a route without a prefix match: pillion rewrites prefixes only');
  }
  const host = a.str('host_rewrite_literal');
  if (host !== undefined) out.host_rewrite = host;
  a.drop('auto_host_rewrite', 'pillion keeps the client\'s Host (use host_rewrite_literal)');
  const rp = a.get('retry_policy');
  if (rp !== undefined) out.retry_policy = retryPolicy(rp);
  else if (s.vhostRetry !== undefined) out.retry_policy = s.vhostRetry;
  if (out.retry_policy !== undefined && Object.keys(out.retry_policy).length === 0) delete out.retry_policy;
  a.drop('rate_limits', 'rate limit descriptor actions: pillion\'s local_ratelimit descriptors are per distinct client, not built from route actions');
  a.drop('upgrade_configs', 'pillion does not proxy upgrades (WebSocket)');
  a.skip('priority'); // routing priority selects Envoy's DEFAULT/HIGH breaker thresholds; pillion has one
  a.finish();
  void s;
  return true;
}

/** A DataSource (inline_string, inline_bytes as base64; filename read now). */
function dataSource(d: Node): string | undefined {
  const s = d.str('inline_string');
  if (s !== undefined) return s;
  const b = d.str('inline_bytes');
  if (b !== undefined) return Buffer.from(b, 'base64').toString('utf8');
  d.drop('filename', 'a direct_response body from a file: pillion takes an inline body only');
  d.drop('environment_variable', 'a direct_response body from an environment variable: pillion takes an inline body only');
  d.finish();
  return undefined;
}
