// envoy.filters.http.api_key_auth -> pillion's `api_key_auth` filter (src/filters/api-key-auth).
// credentials -> keys, key_sources -> header / query_param (pillion reads one header and one query
// parameter), forwarding.hide_credentials -> hide_credentials (Envoy's default is false, pillion's
// true: written out), ApiKeyAuthPerRoute -> the route's override (allowed_clients -> allow).
// Differences: Envoy strips "Bearer " from a header's value, pillion compares the whole value;
// pillion refuses keys shorter than 8 characters (those credentials are not carried over).
import { addFilter, routeFilter, type HttpFilterTranslator } from '../extensions.js';
import type { Node } from '../source.js';

const NAME = 'api_key_auth';
const MIN_KEY = 8;

function credentials(list: Node[]): { client: string; key: string }[] {
  const keys: { client: string; key: string }[] = [];
  for (const c of list) {
    const key = c.str('key');
    const client = c.str('client');
    if (key === undefined || client === undefined) return c.fail('a credential needs key and client');
    if (key.length < MIN_KEY) {
      c.dropSelf(`credential of client '${client}': pillion refuses keys shorter than ${MIN_KEY} characters; requests with this key get 401`);
      continue;
    }
    c.finish();
    keys.push({ client, key });
  }
  return keys;
}

/** key_sources -> {header, query_param}; extra sources and cookies are reported. */
function sources(list: Node[], out: Record<string, unknown>): void {
  let header: string | undefined;
  let query: string | undefined;
  for (const s of list) {
    const h = s.str('header');
    const q = s.str('query');
    if (h !== undefined && header === undefined) {
      header = h.toLowerCase();
      if (header === 'authorization') s.get('header')!.dropSelf('Envoy strips "Bearer " from this header\'s value; pillion compares the whole value (send the bare key)');
    } else if (q !== undefined && query === undefined) query = q;
    else if (h !== undefined || q !== undefined) s.dropSelf('a second header or query source: pillion reads one header and one query parameter');
    s.drop('cookie', 'API keys from cookies: pillion reads a header or a query parameter');
    s.finish();
  }
  if (header !== undefined) out.header = header;
  if (query !== undefined) out.query_param = query;
  if (header === undefined && list.length > 0) list[0]!.note('no header source: pillion still reads its default header x-api-key');
}

function forwarding(f: Node | undefined, out: Record<string, unknown>): void {
  out.hide_credentials = f?.bool('hide_credentials') ?? false; // Envoy's default: the key is forwarded
  f?.drop('header', 'the client name as a request header: pillion does not add it');
  f?.finish();
}

export const apiKeyAuth: HttpFilterTranslator = {
  name: 'envoy.filters.http.api_key_auth',
  types: ['envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth', 'envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute'],
  pillionName: NAME,
  hcm(entry, config, scope) {
    if (config === undefined) return entry.dropSelf('api_key_auth without a typed_config: no credentials', true);
    const out: Record<string, unknown> = {};
    const keys = credentials(config.list('credentials'));
    sources(config.list('key_sources'), out);
    forwarding(config.get('forwarding'), out);
    config.finish();
    if (keys.length === 0) {
      // Envoy answers 401 to every request; pillion's filter needs a key, and a made-up one would be
      // one more secret in a file. Reported instead (unsafe: without the filter, requests pass).
      return entry.dropSelf('api_key_auth with no credential pillion can use: every request would get 401 in Envoy', true);
    }
    out.keys = keys;
    addFilter(scope, entry, { name: NAME, ...out });
  },
  perRoute(config, scope) {
    const out: Record<string, unknown> = {};
    if (config.has('credentials')) {
      out.keys = credentials(config.list('credentials'));
      if ((out.keys as unknown[]).length === 0) {
        return config.dropSelf('per-route api_key_auth with no credential pillion can use (Envoy answers 401 here; pillion would take the listener\'s keys)', true);
      }
    }
    if (config.has('key_sources')) sources(config.list('key_sources'), out);
    if (config.has('forwarding')) forwarding(config.get('forwarding'), out);
    const allowed = config.strings('allowed_clients');
    if (allowed !== undefined) out.allow = allowed;
    config.finish();
    if (!routeFilter(scope, NAME, out)) config.dropSelf('per-route api_key_auth on a listener without the filter', true);
  },
};
