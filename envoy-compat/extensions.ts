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
}

/** Where a route-level override (typed_per_filter_config) lands. */
export interface RouteScope {
  ctx: Ctx;
  route: RawRoute;
  listener: RawListener;
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
