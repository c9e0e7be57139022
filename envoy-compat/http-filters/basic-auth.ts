// envoy.filters.http.basic_auth -> pillion's `basic_auth` filter (src/filters/basic-auth).
// users (a DataSource: inline_string, inline_bytes, filename, environment_variable) -> users,
// forward_username_header and authentication_header as they are, BasicAuthPerRoute (users) -> the
// route's override. Inline htpasswd is checked here as Envoy checks it, so a bad line is reported at
// its Envoy field and line.
//
// pillion runs one basic_auth per listener. Envoy Gateway writes one basic_auth filter per security
// policy, each disabled in the HCM and turned on by the routes of that policy (basic-auth.listeners.yaml).
// Such a second (third...) filter becomes a route override on the routes that turn it on: the same
// requests get the same users. A second filter that is on for every route is refused (unsafe): Envoy
// would ask for both credentials in turn.
import { parseHtpasswd } from '../../src/filters/basic-auth/config.js';
import type { RawListener } from '../context.js';
import { addFilter, routeFilter, type HttpFilterTranslator, type RouteScope } from '../extensions.js';
import type { Node } from '../source.js';

const NAME = 'basic_auth';

interface Variants {
  /** The filter on the listener is disabled in the HCM (routes turn it on). */
  firstDisabled: boolean;
  /** Further disabled filters by their http_filters name: their config, for the routes that turn them on. */
  byName: Map<string, Record<string, unknown>>;
}
const variants = new WeakMap<RawListener, Variants>();

/** A DataSource of htpasswd lines as pillion's `users`. */
function users(d: Node | undefined): unknown {
  if (d === undefined) return '';
  const file = d.str('filename');
  const env = d.str('environment_variable');
  const text = d.str('inline_string') ?? (d.has('inline_bytes') ? Buffer.from(d.str('inline_bytes')!, 'base64').toString('utf8') : undefined);
  d.skip('watched_directory'); // pillion reads the file at each config load (and reload), not on change
  d.finish();
  if (text !== undefined) {
    parseHtpasswd(text, (reason) => d.fail(`htpasswd ${reason}`));
    return text;
  }
  if (file !== undefined) return { file };
  if (env !== undefined) return { env };
  return '';
}

/** BasicAuth (HCM) or BasicAuthPerRoute fields as pillion's. */
function fields(config: Node | undefined, out: Record<string, unknown>, perRoute: boolean): void {
  if (config === undefined) return;
  if (!perRoute || config.has('users')) out.users = users(config.get('users'));
  const fwd = config.str('forward_username_header');
  if (fwd !== undefined && fwd !== '') out.forward_username_header = fwd;
  const auth = config.str('authentication_header');
  if (auth !== undefined && auth !== '') out.authentication_header = auth;
  config.finish();
}

export const basicAuth: HttpFilterTranslator = {
  name: 'envoy.filters.http.basic_auth',
  types: ['envoy.extensions.filters.http.basic_auth.v3.BasicAuth', 'envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute'],
  pillionName: NAME,
  hcm(entry, config, scope) {
    const out: Record<string, unknown> = { users: '' };
    fields(config, out, false);
    if (out.users === '') (config ?? entry).note('basic_auth with no users: every request gets 401, as in Envoy');
    const disabled = entry.bool('disabled') === true;
    const existing = variants.get(scope.listener);
    if (existing === undefined) {
      if (addFilter(scope, entry, { name: NAME, ...out })) variants.set(scope.listener, { firstDisabled: disabled, byName: new Map() });
      return;
    }
    const name = entry.str('name');
    if (!disabled || !existing.firstDisabled || name === undefined) {
      return entry.dropSelf('a second basic_auth filter on every route of the listener: pillion runs one basic_auth per listener', true);
    }
    existing.byName.set(name, out);
    entry.note('a second basic_auth filter, disabled here: carried as the users of the routes that turn it on (pillion runs one basic_auth per listener)');
  },
  enable(cfg, scope) {
    const v = variants.get(scope.listener)?.byName.get(scope.key ?? '');
    // The listener's own (first) filter: on with its config.
    if (v === undefined) {
      if (!routeFilter(scope, NAME, {})) cfg.dropSelf('basic_auth turned on for a route of a listener without the filter', true);
      return;
    }
    enableVariant(scope, v, cfg);
  },
  perRoute(config, scope) {
    const out: Record<string, unknown> = { ...(variants.get(scope.listener)?.byName.get(scope.key ?? '') ?? {}) };
    fields(config, out, true);
    enableVariant(scope, out, config);
  },
};

/** Sets the route's basic_auth. A route that turns on two different basic_auth filters is reported
 *  (unsafe): Envoy would check both in turn, pillion checks one per route. */
function enableVariant(scope: RouteScope, out: Record<string, unknown>, at: Node): void {
  const current = scope.route.filters?.[NAME];
  if (current !== undefined && current !== false && Object.keys(current).length > 0 && JSON.stringify(current) !== JSON.stringify(out)) {
    return at.dropSelf('a second basic_auth filter on this route: pillion checks one basic_auth per route', true);
  }
  if (!routeFilter(scope, NAME, out)) at.dropSelf('per-route basic_auth on a listener without the filter', true);
}
