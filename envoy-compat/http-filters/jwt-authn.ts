// envoy.filters.http.jwt_authn -> pillion's `jwt_authn` filter (src/filters/jwt-authn). pillion's filter
// is one provider applied to every route of the listener (a route can turn it off), so the Envoy
// config carries over when its rules amount to that:
//   - one provider (or several, of which the rules require exactly one);
//   - rules that require that provider for `prefix: /` (the usual catch-all), possibly after rules
//     with no `requires` whose match is exactly a route's (those routes turn the filter off);
//   - `requires_any` of the provider and `allow_missing` -> allow_missing.
// Anything else in rules is reported, unsafe: pillion would check tokens elsewhere than Envoy.
// Provider fields: issuer, audiences, remote_jwks.http_uri.uri -> jwks_uri (fetched directly, not
// through http_uri.cluster), its timeout -> jwks_fetch_timeout, cache_duration (Envoy's default
// 600s, written out), local_jwks -> jwks / jwks_file, forward, from_headers, from_params (Envoy's
// default locations, Authorization: Bearer and ?access_token=, written out), claim_to_headers,
// clock_skew_seconds, jwt_cache_config.jwt_cache_size -> cache_max_entries.
import { addFilter, routeFilter, type HttpFilterTranslator, type ListenerScope } from '../extensions.js';
import { ms, type RawRoute } from '../context.js';
import type { Node } from '../source.js';

const NAME = 'jwt_authn';

function provider(p: Node): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const issuer = p.str('issuer');
  if (issuer !== undefined) out.issuer = issuer;
  const aud = p.strings('audiences');
  if (aud !== undefined) out.audiences = aud;
  const remote = p.get('remote_jwks');
  const local = p.get('local_jwks');
  if (remote !== undefined) {
    const uri = remote.get('http_uri');
    if (uri === undefined) return remote.fail('remote_jwks needs http_uri');
    const u = uri.str('uri');
    if (u === undefined) return uri.fail('http_uri needs uri');
    out.jwks_uri = u;
    const t = uri.durationMs('timeout');
    if (t !== undefined) out.jwks_fetch_timeout = ms(t);
    uri.drop('cluster', 'pillion fetches the JWKS URL itself (DNS and TLS from the URL), not through this cluster');
    uri.finish();
    out.cache_duration = ms(remote.durationMs('cache_duration') ?? 600_000);
    remote.get('async_fetch')?.note('async_fetch: pillion fetches the JWKS when a token first needs it, then on expiry or an unknown kid');
    remote.drop('retry_policy', 'JWKS fetch retries: pillion refetches on the next token instead');
    remote.finish();
  } else if (local !== undefined) {
    const inline = local.str('inline_string');
    const file = local.str('filename');
    if (inline !== undefined) out.jwks = inline;
    else if (file !== undefined) out.jwks_file = file;
    local.finish();
  }
  const fwd = p.bool('forward');
  if (fwd !== undefined) out.forward = fwd;
  const headers = p.list('from_headers').map((h) => {
    const name = h.str('name');
    if (name === undefined) return h.fail('from_headers needs a name');
    const prefix = h.str('value_prefix');
    h.finish();
    return prefix === undefined ? { name } : { name, value_prefix: prefix };
  });
  const params = p.strings('from_params');
  if (headers.length > 0) out.from_headers = headers;
  if (params !== undefined) out.from_params = params;
  if (headers.length === 0 && params === undefined) {
    // Envoy's defaults when no location is given: pillion reads the header by default, not the param.
    out.from_params = ['access_token'];
  }
  p.drop('from_cookies', 'tokens from cookies: pillion reads headers and query parameters');
  const claims = p.list('claim_to_headers').map((c) => {
    const header = c.str('header_name');
    const claim = c.str('claim_name');
    if (header === undefined || claim === undefined) return c.fail('claim_to_headers needs header_name and claim_name');
    c.finish();
    return { claim, header };
  });
  if (claims.length > 0) out.claim_to_headers = claims;
  const skew = p.int('clock_skew_seconds');
  if (skew !== undefined) out.clock_skew = `${skew}s`;
  const cache = p.get('jwt_cache_config');
  if (cache !== undefined) {
    const size = cache.int('jwt_cache_size');
    if (size !== undefined) out.cache_max_entries = size;
    cache.finish();
  }
  const reqExp = p.bool('require_expiration');
  if (reqExp !== undefined) out.require_expiration = reqExp;
  p.drop('forward_payload_header', 'pillion does not forward the payload as a header');
  p.drop('payload_in_metadata', 'pillion has no dynamic metadata');
  p.drop('header_in_metadata', 'pillion has no dynamic metadata');
  p.drop('max_lifetime', 'pillion does not bound token lifetime');
  p.drop('subjects', 'pillion does not match the subject');
  p.finish();
  return out;
}

/** A rule's requirement: the provider it needs and whether a missing token passes; null: no check. */
function requirement(r: Node | undefined): { provider: string; allowMissing: boolean } | null | 'unsupported' {
  if (r === undefined) return null;
  const name = r.str('provider_name');
  if (name !== undefined) return finishing(r, { provider: name, allowMissing: false });
  const any = r.get('requires_any');
  if (any !== undefined) {
    const reqs = any.list('requirements');
    const names = reqs.map((x) => (x.isMap() ? (x.value as Record<string, unknown>).provider_name ?? (x.value as Record<string, unknown>).providerName : undefined));
    const missing = reqs.some((x) => x.has('allow_missing'));
    const providers = names.filter((n): n is string => typeof n === 'string');
    if (providers.length === 1 && reqs.length === providers.length + (missing ? 1 : 0)) {
      reqs.forEach((x) => { x.skip('provider_name', 'allow_missing'); x.finish(); });
      any.finish();
      return finishing(r, { provider: providers[0]!, allowMissing: missing });
    }
    return 'unsupported';
  }
  return 'unsupported';
}

function finishing<T>(n: Node, v: T): T {
  n.finish();
  return v;
}

/** A rule's match, when it is exactly one prefix or path (what can be compared with a route's). */
function ruleMatch(m: Node | undefined): { prefix?: string; path?: string } | undefined {
  if (m === undefined || !m.isMap()) return undefined;
  const keys = m.keys();
  if (keys.length !== 1) return undefined;
  const prefix = m.str('prefix');
  const path = m.str('path');
  m.finish();
  return prefix !== undefined ? { prefix } : path !== undefined ? { path } : undefined;
}

const sameMatch = (r: RawRoute, m: { prefix?: string; path?: string }) =>
  (r.match.headers === undefined || r.match.headers.length === 0) &&
  (m.prefix !== undefined ? r.match.prefix === m.prefix : r.match.path === m.path);

export const jwtAuthn: HttpFilterTranslator = {
  name: 'envoy.filters.http.jwt_authn',
  types: ['envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', 'envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig'],
  pillionName: NAME,
  hcm(entry, config, scope) {
    if (config === undefined) return entry.dropSelf('jwt_authn without a typed_config: no provider', true);
    const providers = config.entries('providers');
    const rules = config.list('rules');
    // The rules, read first: they say which provider is used and which routes are open.
    const open: { prefix?: string; path?: string }[] = [];
    let required: { provider: string; allowMissing: boolean } | undefined;
    let unsupported: Node | undefined;
    for (const rule of rules) {
      const m = rule.get('match');
      const req = requirement(rule.get('requires'));
      const match = ruleMatch(m);
      if (req === 'unsupported' || match === undefined) {
        unsupported = rule;
        break;
      }
      if (req === null) {
        open.push(match);
        rule.finish();
        continue;
      }
      if (match.prefix !== '/') {
        unsupported = rule;
        break;
      }
      required = req;
      rule.finish();
      break; // the catch-all: later rules never apply
    }
    if (unsupported !== undefined || required === undefined) {
      const why = rules.length === 0
        ? 'jwt_authn with no rules: Envoy checks no token unless a route names a requirement; pillion\'s filter checks every route'
        : 'jwt_authn rules: pillion applies one provider to every route (a route can turn it off); these rules need more';
      return entry.dropSelf(why, true);
    }
    const p = providers.find(([k]) => k === required!.provider);
    if (p === undefined) return config.fail(`rules require provider '${required.provider}', which providers does not define`);
    for (const [k, other] of providers) if (k !== required.provider) other.dropSelf(`provider '${k}': no rule requires it in a form pillion carries`);
    const out = provider(p[1]);
    if (required.allowMissing) out.allow_missing = true;
    config.drop('filter_state_rules', 'pillion has no filter state', true);
    config.drop('bypass_cors_preflight', 'pillion has no CORS handling');
    config.drop('requirement_map', 'named requirements: pillion has one provider per listener', true);
    config.skip('stat_prefix');
    config.finish();
    if (!addFilter(scope, entry, { name: NAME, ...out })) return;
    if (open.length > 0) {
      scope.afterRoutes.push(() => turnOff(scope, open, rules[0]!));
    }
  },
  perRoute(config, scope) {
    if (config.bool('disabled') === true) {
      config.finish();
      if (!routeFilter(scope, NAME, false)) config.dropSelf('per-route jwt_authn on a listener without the filter');
      return;
    }
    config.dropSelf('per-route requirement_name: pillion has one provider per listener', true);
  },
};

/** Routes whose match is exactly an open rule's get the filter turned off. */
function turnOff(scope: ListenerScope, open: { prefix?: string; path?: string }[], at: Node): void {
  for (const m of open) {
    const routes = scope.listener.routes.filter((r) => sameMatch(r, m));
    if (routes.length === 0) {
      at.note(`rule without requires for ${m.prefix !== undefined ? `prefix ${m.prefix}` : `path ${m.path}`} names no route with exactly that match: pillion checks tokens there`);
    }
    for (const r of routes) if (r.filters?.[NAME] === undefined) (r.filters ??= {})[NAME] = false;
  }
}
