// envoy.filters.network.http_connection_manager -> one pillion listener. The HCM's stat_prefix becomes
// the listener's name, so pillion's stats read `http.<stat_prefix>.downstream_rq_total` exactly as
// Envoy's do.
import type { Ctx, RawListener } from './context.js';
import { lookup, type HttpFilterTranslator, type ListenerScope } from './extensions.js';
import { accessLoggers } from './access-loggers/index.js';
import { apiKeyAuth } from './http-filters/api-key-auth.js';
import { basicAuth } from './http-filters/basic-auth.js';
import { jwtAuthn } from './http-filters/jwt-authn.js';
import { localRatelimit } from './http-filters/local-ratelimit.js';
import { router } from './http-filters/router.js';
import { unsupportedHttpFilters } from './http-filters/unsupported.js';
import { routeConfiguration } from './route-config.js';
import { readConfigSource } from './xds-files.js';
import type { Node } from './source.js';

export const HCM_NAME = 'envoy.filters.network.http_connection_manager';
export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

export const HTTP_FILTERS: readonly HttpFilterTranslator[] = [router, localRatelimit, jwtAuthn, apiKeyAuth, basicAuth, ...unsupportedHttpFilters];

export function httpConnectionManager(hcm: Node, listener: RawListener, listenerIndex: number, ctx: Ctx): void {
  const statPrefix = hcm.str('stat_prefix');
  if (statPrefix === undefined) return hcm.fail('stat_prefix is required (it names the listener and its stats)');
  listener.name = uniqueName(statPrefix, ctx, hcm);
  ctx.origin(['listeners', listenerIndex, 'name'], hcm.get('stat_prefix')!);

  const codec = hcm.str('codec_type') ?? 'AUTO';
  if (codec === 'AUTO') hcm.get('codec_type')?.note('codec_type AUTO: pillion speaks HTTP/1.1 only (no h2c upgrade or prior knowledge)');
  else if (codec !== 'HTTP1') hcm.get('codec_type')!.dropSelf(`codec_type ${codec}: pillion speaks HTTP/1.1 only`);

  const scope: ListenerScope = { ctx, listener, statPrefix, afterRoutes: [] };
  // http_filters: in order; the router is last in Envoy and pillion's request path is the router.
  const filtersByName = new Map<string, HttpFilterTranslator>();
  for (const f of hcm.list('http_filters')) {
    const name = f.str('name');
    const config = f.get('typed_config');
    const type = config?.typeName();
    const t = lookup(HTTP_FILTERS, name, type);
    if (t === undefined) {
      // Envoy itself skips an unknown filter marked is_optional; any other one may be access control.
      const optional = f.bool('is_optional') === true;
      f.dropSelf(`HTTP filter ${name ?? type ?? '(unnamed)'}: pillion has no equivalent${optional ? ' (is_optional: Envoy skips it too when unknown)' : ''}`, !optional);
      continue;
    }
    if (name !== undefined) filtersByName.set(name, t);
    filtersByName.set(t.name, t);
    f.skip('is_optional');
    const before = listener.filters?.length ?? 0;
    t.hcm(f, config, scope);
    const added = (listener.filters?.length ?? 0) > before ? listener.filters![before]!.name as string : undefined;
    if (f.bool('disabled') === true && added !== undefined) {
      // Off unless a route turns it on: every route without its own setting gets `false`.
      scope.afterRoutes.push(() => {
        for (const r of listener.routes) if (r.filters?.[added] === undefined) (r.filters ??= {})[added] = false;
      });
    }
    f.drop('config_discovery', 'filter config discovery (ECDS): pillion has no xDS client');
    f.finish();
  }

  const streamIdleMs = hcm.durationMs('stream_idle_timeout');
  const stripAnyHostPort = hcm.bool('strip_any_host_port');
  const rc = hcm.get('route_config');
  if (rc !== undefined) {
    routeConfiguration(rc, { ctx, listener, listenerIndex, filtersByName, allFilters: HTTP_FILTERS, streamIdleMs, stripAnyHostPort });
  } else if (hcm.has('rds')) {
    const found = rds(hcm.get('rds')!, ctx);
    if (found !== undefined) routeConfiguration(found, { ctx, listener, listenerIndex, filtersByName, allFilters: HTTP_FILTERS, streamIdleMs, stripAnyHostPort, fromRds: true });
  }
  for (const after of scope.afterRoutes) after();
  if (listener.routes.length === 0) {
    // Envoy answers 404 to everything on a route table with no routes (envoy-demo.yaml's loopback).
    listener.routes.push({ name: 'no_route', match: { prefix: '/' }, direct_response: { status: 404 } });
    (rc ?? hcm).note(rc !== undefined && !hcm.has('rds')
      ? 'no route carried over: every request gets 404, as in Envoy with an empty route table'
      : 'no route carried over: every request gets 404');
  }

  for (const a of hcm.list('access_log')) {
    const config = a.get('typed_config');
    const t = lookup(accessLoggers, a.str('name'), config?.typeName());
    if (t === undefined) a.dropSelf(`access log ${a.str('name') ?? '(unnamed)'}: pillion has no equivalent`);
    else t.translate(a, config, scope);
  }

  if (streamIdleMs !== undefined) hcm.note(`stream_idle_timeout ${streamIdleMs}ms: carried to each route's idle_timeout (silence between response body chunks)`);
  // Envoy's own defaults differ from these only in ways pillion does not model.
  hcm.skip('generate_request_id', 'server_name');
  hcm.drop('local_reply_config', 'local reply mappers: pillion\'s local replies have fixed bodies');
  hcm.drop('use_remote_address', 'pillion does not edit x-forwarded-for / x-envoy-external-address');
  hcm.drop('xff_num_trusted_hops', 'pillion does not edit x-forwarded-for');
  hcm.drop('normalize_path', 'pillion does not normalize paths before matching');
  hcm.drop('merge_slashes', 'pillion does not merge slashes before matching');
  hcm.drop('request_timeout', 'whole-request timeout: pillion has route timeout (response headers) and idle_timeout');
  hcm.drop('common_http_protocol_options', 'downstream connection options: pillion keeps its front\'s defaults');
  hcm.drop('http2_protocol_options', 'pillion speaks HTTP/1.1 only');
  hcm.drop('upgrade_configs', 'pillion does not proxy upgrades (WebSocket)');
  hcm.drop('tracing', 'pillion does no tracing');
  hcm.finish();
}

/** Two HCMs with one stat_prefix share Envoy's stats; pillion's listener names are unique. */
function uniqueName(prefix: string, ctx: Ctx, hcm: Node): string {
  if (!ctx.out.listeners.some((l) => l.name === prefix)) return prefix;
  let n = 2;
  while (ctx.out.listeners.some((l) => l.name === `${prefix}_${n}`)) n++;
  hcm.get('stat_prefix')!.note(
    `stat_prefix '${prefix}' is shared with an earlier listener; Envoy adds their stats together, pillion names this one '${prefix}_${n}' (stats http.${prefix}_${n}.*)`,
  );
  return `${prefix}_${n}`;
}


/**
 * `rds`: the RouteConfiguration named route_config_name, from a path_config_source file or from the
 * resource files given with the bootstrap. A management server (ADS, gRPC) is not supported.
 */
function rds(r: Node, ctx: Ctx): Node | undefined {
  const name = r.str('route_config_name');
  const source = r.get('config_source');
  if (source !== undefined && (source.has('path_config_source') || source.has('path'))) readConfigSource(source, ctx);
  else if (source !== undefined) source.skip('ads', 'resource_api_version', 'initial_fetch_timeout', 'api_config_source');
  r.finish();
  const found = name !== undefined ? ctx.routeConfigs.get(name) : undefined;
  if (found === undefined) {
    r.dropSelf(`rds: route configuration '${name ?? ''}' is in no file pillion was given (pillion has no xDS client)`);
    return undefined;
  }
  if (ctx.usedRouteConfigs.has(found)) found.note('route configuration shared by several listeners: translated again for each');
  ctx.usedRouteConfigs.add(found);
  return found;
}
