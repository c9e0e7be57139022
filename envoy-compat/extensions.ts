// The registry: one translator per Envoy extension name. Envoy picks an extension by the type URL of
// its typed_config, or by name when there is none (configs__envoy-demo.yaml names the router only),
// so both are looked up here. Adding pillion support for an extension means changing its one file.
import type { Ctx, RawListener, RawRoute } from './context.js';
import type { Node } from './source.js';

/** Where an HTTP filter's HCM-level config lands. */
export interface ListenerScope {
  ctx: Ctx;
  listener: RawListener;
  /** The HCM's stat_prefix (Envoy's filter stats read `http.<stat_prefix>.<filter prefix>.*`). */
  statPrefix: string;
  /** Run once the routes are translated (filters whose Envoy config selects routes: jwt_authn rules). */
  afterRoutes: (() => void)[];
}

/** Adds a filter to the listener's chain; false (reported) when the listener has one of that name already. */
export function addFilter(scope: ListenerScope, entry: Node, filter: Record<string, unknown> & { name: string }): boolean {
  const filters = (scope.listener.filters ??= []);
  if (filters.some((f) => f.name === filter.name)) {
    entry.dropSelf(`a second ${filter.name} filter on one listener: pillion runs one of each (per-route settings override it)`);
    return false;
  }
  filters.push(filter);
  return true;
}

/** Sets a route's override of a pillion filter; the filter must be on the listener. */
export function routeFilter(scope: RouteScope, name: string, value: false | Record<string, unknown>): boolean {
  if (!(scope.listener.filters ?? []).some((f) => f.name === name)) return false;
  (scope.route.filters ??= {})[name] = value;
  return true;
}

/** A FractionalPercent / RuntimeFractionalPercent as a percentage; Envoy's default when absent. */
export function percentOf(n: Node | undefined, fallback: number): number {
  if (n === undefined) return fallback;
  const v = n.has('default_value') ? n.get('default_value')! : n;
  n.skip('runtime_key'); // pillion has no runtime: the default value is what applies
  const num = v.int('numerator') ?? 0;
  const den = v.str('denominator') ?? 'HUNDRED';
  v.finish();
  if (v !== n) n.finish();
  const scale = den === 'TEN_THOUSAND' ? 100 : den === 'MILLION' ? 10_000 : 1;
  return num / scale;
}

/** Where a route-level override (typed_per_filter_config) lands. */
export interface RouteScope {
  ctx: Ctx;
  route: RawRoute;
  listener: RawListener;
  /** The typed_per_filter_config key: the name the filter has in the HCM's http_filters. */
  key?: string;
}

export interface HttpFilterTranslator {
  /** Envoy's extension name, e.g. `envoy.filters.http.local_ratelimit`. */
  readonly name: string;
  /** Type names (the type URL after its last '/') this translator reads. */
  readonly types: readonly string[];
  /**
   * The filter as listed in the HCM's http_filters. `entry` is the list item (name, typed_config,
   * disabled, is_optional); `config` its typed_config, undefined when the filter is named only.
   */
  hcm(entry: Node, config: Node | undefined, scope: ListenerScope): void;
  /** The filter's typed_per_filter_config on a route or virtual host (FilterConfig already unwrapped). */
  perRoute(config: Node, scope: RouteScope): void;
  /**
   * A FilterConfig without config on a route: turns on the filter named `scope.key`, disabled in the
   * HCM, for this route. Default: the listener's pillion filter with its own config.
   */
  enable?(cfg: Node, scope: RouteScope): void;
  /** pillion's name for the filter when it carries it (`local_ratelimit`...): FilterConfig.disabled turns it off per route. */
  readonly pillionName?: string;
}

export interface AccessLoggerTranslator {
  readonly name: string;
  readonly types: readonly string[];
  /** `entry` is the access_log item (name, filter, typed_config). */
  translate(entry: Node, config: Node | undefined, scope: ListenerScope): void;
}

/** Finds an extension's translator by the typed_config's `@type`, else by its name. */
export function lookup<T extends { name: string; types: readonly string[] }>(
  all: readonly T[],
  name: string | undefined,
  typeName: string | undefined,
): T | undefined {
  if (typeName !== undefined) {
    const byType = all.find((t) => t.types.includes(typeName));
    if (byType !== undefined) return byType;
  }
  return name === undefined ? undefined : all.find((t) => t.name === name || LEGACY_NAMES[name] === t.name);
}

/** Pre-v3 well-known names that still appear in configs. */
const LEGACY_NAMES: Record<string, string> = {
  'envoy.router': 'envoy.filters.http.router',
  'envoy.http_connection_manager': 'envoy.filters.network.http_connection_manager',
  'envoy.ext_authz': 'envoy.filters.http.ext_authz',
  'envoy.filters.http.jwt_authn': 'envoy.filters.http.jwt_authn',
  'envoy.lua': 'envoy.filters.http.lua',
  'envoy.cors': 'envoy.filters.http.cors',
  'envoy.file_access_log': 'envoy.access_loggers.file',
  'envoy.tcp_proxy': 'envoy.filters.network.tcp_proxy',
  'envoy.transport_sockets.tls': 'envoy.transport_sockets.tls',
  tls: 'envoy.transport_sockets.tls',
};

/**
 * A translator for an extension pillion does not have (yet): the whole filter is reported at its
 * `http_filters` entry, once, rather than field by field.
 */
export function notCarried(name: string, types: readonly string[], why: string, unsafe: boolean): HttpFilterTranslator {
  return {
    name,
    types,
    hcm(entry) {
      entry.dropSelf(`${name}: ${why}`, unsafe);
    },
    perRoute(config) {
      config.dropSelf(`per-route ${name}: ${why}`, unsafe);
    },
  };
}
