// envoy.filters.http.local_ratelimit -> pillion's `local_ratelimit` filter (src/filters/local-ratelimit).
// Same token bucket and shadow mode. Differences that matter:
// - Envoy's filter_enabled and filter_enforced default to 0% (a bucket without them limits nothing);
//   pillion's default to 100%, so the translation always writes both.
// - Envoy's tokens_per_fill defaults to 1; pillion's to max_tokens: written out too.
// - A per-route LocalRateLimit replaces the listener's config in Envoy; pillion merges a route's
//   override over the listener's, so the override is written complete.
// - Envoy's descriptors give buckets to given descriptor values (built by the route's rate_limits
//   actions); pillion's give one bucket per distinct value of one key. Not carried over.
// - Stats: Envoy's `<stat_prefix>.http_local_rate_limit.*` are pillion's
//   `http.<listener>.http_local_rate_limit.*` (enabled, enforced, rate_limited, ok).
import { addFilter, percentOf, routeFilter, type HttpFilterTranslator } from '../extensions.js';
import { ms } from '../context.js';
import type { Node } from '../source.js';

const NAME = 'local_ratelimit';

/** The fields of a LocalRateLimit pillion carries, complete (Envoy's defaults written out). */
function translate(cfg: Node): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  cfg.skip('stat_prefix', 'stage', 'rate_limited_as_resource_exhausted');
  const tb = cfg.get('token_bucket');
  if (tb !== undefined) out.token_bucket = bucket(tb);
  out.enabled = percentOf(cfg.get('filter_enabled'), 0);
  out.enforced = percentOf(cfg.get('filter_enforced'), 0);
  const xrl = cfg.str('enable_x_ratelimit_headers');
  out.response_headers = xrl === 'DRAFT_VERSION_03';
  const status = cfg.get('status');
  if (status !== undefined) {
    const code = status.int('code');
    if (code !== undefined && code !== 429) status.dropSelf(`status ${code}: pillion answers 429`);
    else status.finish();
  }
  for (const d of cfg.list('descriptors')) {
    d.dropSelf('descriptor with given entry values: pillion\'s descriptors are one bucket per distinct client (header value, remote address, API-key client, JWT claim), not buckets for given values');
  }
  const maxDyn = cfg.int('max_dynamic_descriptors');
  if (maxDyn !== undefined) out.max_descriptor_entries = maxDyn;
  if (cfg.bool('local_rate_limit_per_downstream_connection') === true) {
    cfg.get('local_rate_limit_per_downstream_connection')!.dropSelf('a bucket per downstream connection: pillion\'s bucket is shared by all connections');
  }
  if (cfg.bool('always_consume_default_token_bucket') === false) {
    cfg.get('always_consume_default_token_bucket')!.dropSelf('pillion has no descriptors for given values, so the listener bucket is always consumed');
  }
  cfg.drop('response_headers_to_add', 'headers added to rate-limited responses: pillion sends its own (Retry-After, x-ratelimit-*)');
  cfg.drop('request_headers_to_add_when_not_enforced', 'pillion adds no request headers in shadow mode');
  cfg.drop('vh_rate_limits', 'pillion has no virtual-host rate limit actions');
  cfg.finish();
  return out;
}

function bucket(tb: Node): Record<string, unknown> {
  const max = tb.int('max_tokens');
  if (max === undefined) tb.fail('token_bucket needs max_tokens');
  const fill = tb.durationMs('fill_interval');
  if (fill === undefined) tb.fail('token_bucket needs fill_interval');
  const perFill = tb.int('tokens_per_fill') ?? 1; // Envoy's default; pillion's would be max_tokens
  tb.finish();
  return { max_tokens: max, tokens_per_fill: perFill, fill_interval: ms(fill) };
}

export const localRatelimit: HttpFilterTranslator = {
  name: 'envoy.filters.http.local_ratelimit',
  types: ['envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit'],
  pillionName: NAME,
  hcm(entry, config, scope) {
    if (config === undefined) return entry.dropSelf('local_ratelimit without a typed_config: nothing to limit with');
    const out = translate(config);
    if (out === undefined) return;
    if (out.token_bucket === undefined) {
      // Envoy limits nothing here; routes may still override. pillion needs a bucket on the listener
      // for that, so it gets one that is never looked at (enabled 0%).
      out.token_bucket = { max_tokens: 1, tokens_per_fill: 1, fill_interval: '1000ms' };
      out.enabled = 0;
      out.enforced = 0;
      config.note('no token_bucket: Envoy limits nothing on this listener; pillion gets a stand-in bucket at enabled 0%, and routes override it');
    }
    addFilter(scope, entry, { name: NAME, ...out });
  },
  perRoute(config, scope) {
    const out = translate(config);
    if (out === undefined) return;
    if (out.token_bucket === undefined) {
      out.enabled = 0;
      out.enforced = 0;
      config.note('no token_bucket: Envoy limits nothing on this route (enabled 0% in pillion)');
    }
    out.descriptors = []; // a replacement, as in Envoy: the listener's descriptors do not apply here
    if (!routeFilter(scope, NAME, out)) config.dropSelf('per-route local_ratelimit on a listener without the filter');
  },
};
