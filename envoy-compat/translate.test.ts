// The translator on small hand-written configs: the spellings Envoy accepts, virtual-host flattening,
// header matchers, per-route filter settings, and errors that name the Envoy field and line.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { translateDocs } from './bootstrap.js';
import { loadEnvoyConfig } from './index.js';
import { parseDoc } from './source.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/config/validate.js';

const translate = (yaml: string) => translateDocs([parseDoc(yaml, 'envoy.yaml')]);

/** A bootstrap with one HCM listener; `hcm` and `clusters` are spliced in as YAML. */
function boot(hcm: string, clusters = '  - name: app\n    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]}\n'): string {
  return `static_resources:
  listeners:
  - address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
${hcm.replace(/^/gm, '          ')}
  clusters:
${clusters}`;
}

const ROUTES_TO_APP = `route_config:
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - match: {prefix: /}
      route: {cluster: app}`;

describe('reading Envoy\'s spellings', () => {
  test('snake_case and lowerCamelCase mixed, durations as strings and {seconds, nanos}, 64-bit ints as strings', () => {
    const t = translate(`staticResources:
  listeners:
  - address: {socketAddress: {address: 127.0.0.1, portValue: "10000"}}
    filterChains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typedConfig:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          statPrefix: mixed
          http_filters: [{name: envoy.filters.http.router}]
          routeConfig:
            virtualHosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /}
                route: {cluster: app, timeout: {seconds: 2, nanos: 500000000}, idleTimeout: 0.25s}
  clusters:
  - name: app
    connectTimeout: 1.5s
    lbPolicy: LEAST_REQUEST
    loadAssignment: {endpoints: [{lbEndpoints: [{endpoint: {address: {socketAddress: {address: "::1", portValue: 8080}}}}]}]}
`);
    assert.deepEqual(t.report.dropped, []);
    assert.deepEqual(t.config.listeners, [{ name: 'mixed', address: '127.0.0.1', port: 10000, routes: [{ match: { prefix: '/' }, cluster: 'app', timeout: '2500ms', idle_timeout: '250ms' }] }]);
    assert.deepEqual(t.config.clusters, [{ name: 'app', endpoints: ['http://[::1]:8080'], connect_timeout: '1500ms', lb_policy: 'least_request' }]);
  });

  test('a field nobody reads is reported with its Envoy path and line; an unknown HTTP filter too', () => {
    const t = translate(boot(`stat_prefix: s
generate_request_id: true
preserve_external_request_id: true
http_filters:
- name: envoy.filters.http.my_filter
- name: envoy.filters.http.router
${ROUTES_TO_APP}`));
    assert.deepEqual(t.report.dropped.map((d) => [d.line, d.path]), [
      [13, 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]'],
      [11, 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.preserve_external_request_id'],
    ]);
    assert.equal(t.report.dropped[0]!.unsafe, true, 'an unknown HTTP filter may be access control');
  });
});

describe('routes', () => {
  test('virtual hosts: exact domains first, then *.suffix, then *; each host-specific one ends in a 404', () => {
    const t = translate(boot(`stat_prefix: s
route_config:
  virtual_hosts:
  - name: fallback
    domains: ["*"]
    routes: [{match: {prefix: /}, route: {cluster: app}}]
  - name: wild
    domains: ["*.example.com"]
    routes: [{match: {prefix: /w}, route: {cluster: app}}]
  - name: api
    domains: [api.example.com, "api.example.com:8443"]
    routes: [{match: {path: /v1}, route: {cluster: app}}]`));
    const r = t.config.listeners[0]!.routes;
    assert.deepEqual(r.map((x) => [x.name, x.match.path ?? x.match.prefix, x.match.headers?.[0]?.regex, x.direct_response?.status]), [
      [undefined, '/v1', 'api\\.example\\.com|api\\.example\\.com:8443', undefined],
      ['api_no_route', '/', 'api\\.example\\.com|api\\.example\\.com:8443', 404],
      [undefined, '/w', '.+\\.example\\.com', undefined],
      ['wild_no_route', '/', '.+\\.example\\.com', 404],
      [undefined, '/', undefined, undefined],
    ]);
  });

  test('header matchers: string_match kinds, present, :authority; an inverted one drops the route rather than widen it', () => {
    const t = translate(boot(`stat_prefix: s
route_config:
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - match:
        prefix: /a
        headers:
        - {name: x-exact, string_match: {exact: v}}
        - {name: x-suffix, string_match: {suffix: .json}}
        - {name: x-contains, string_match: {contains: "a+b"}}
        - {name: x-re, string_match: {safe_regex: {regex: "v[0-9]+"}}}
        - {name: x-present, present_match: true}
        - {name: ":authority", exact_match: example.com}
      route: {cluster: app}
    - match:
        prefix: /b
        headers: [{name: x-not, string_match: {exact: v}, invert_match: true}]
      route: {cluster: app}`));
    const routes = t.config.listeners[0]!.routes;
    assert.equal(routes.length, 1);
    assert.deepEqual(routes[0]!.match.headers, [
      { name: 'x-exact', exact: 'v' },
      { name: 'x-suffix', regex: '.*\\.json' },
      { name: 'x-contains', regex: '.*a\\+b.*' },
      { name: 'x-re', regex: 'v[0-9]+' },
      { name: 'x-present', present: true },
      { name: 'host', exact: 'example.com' },
    ]);
    assert.deepEqual(t.report.dropped.map((d) => d.path.replace(/^.*route_config\./, '')), [
      'virtual_hosts[0].routes[1].match.headers[0].invert_match',
      'virtual_hosts[0].routes[1]',
    ]);
  });

  test('per-route filter settings: FilterConfig disabled, a virtual host override, and a filter disabled in the HCM', () => {
    const t = translate(boot(`stat_prefix: s
http_filters:
- name: rl
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
    stat_prefix: rl
    token_bucket: {max_tokens: 10, fill_interval: 1s}
    filter_enabled: {default_value: {numerator: 100}}
    filter_enforced: {default_value: {numerator: 50, denominator: HUNDRED}}
- name: keys
  disabled: true
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth
    credentials: [{key: a-long-enough-key, client: c1}]
    key_sources: [{header: x-key}]
- name: envoy.filters.http.router
route_config:
  virtual_hosts:
  - name: all
    domains: ["*"]
    typed_per_filter_config:
      rl: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
    routes:
    - match: {prefix: /health}
      route: {cluster: app}
    - match: {prefix: /private}
      route: {cluster: app}
      typed_per_filter_config:
        keys: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {"@type": type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute, allowed_clients: [c1]}}
        rl:
          "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          stat_prefix: rl2
          token_bucket: {max_tokens: 1, tokens_per_fill: 1, fill_interval: 60s}`));
    assert.deepEqual(t.report.dropped, []);
    const l = t.config.listeners[0]!;
    assert.deepEqual(l.filters, [
      { name: 'local_ratelimit', token_bucket: { max_tokens: 10, tokens_per_fill: 1, fill_interval: '1000ms' }, enabled: 100, enforced: 50, response_headers: false },
      { name: 'api_key_auth', header: 'x-key', hide_credentials: false, keys: [{ client: 'c1', key: 'a-long-enough-key' }] },
    ]);
    assert.deepEqual(l.routes.map((r) => r.filters), [
      { local_ratelimit: false, api_key_auth: false },
      {
        api_key_auth: { allow: ['c1'] },
        local_ratelimit: { token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: '60000ms' }, enabled: 0, enforced: 0, response_headers: false, descriptors: [] },
      },
    ]);
  });
});

describe('basic_auth', () => {
  const sha = (pw: string) => `{SHA}${createHash('sha1').update(pw).digest('base64')}`;
  const filter = (name: string, users: string, extra = '') => `- name: ${name}
  ${extra}typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth
    users: {inline_bytes: ${Buffer.from(users).toString('base64')}}
`;

  test('BasicAuth -> basic_auth; BasicAuthPerRoute users -> the route override; FilterConfig disabled -> false; it validates', () => {
    const t = translate(boot(`stat_prefix: s
http_filters:
${filter('envoy.filters.http.basic_auth', `alice:${sha('a')}\n`)}- name: envoy.filters.http.router
route_config:
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - match: {prefix: /health}
      route: {cluster: app}
      typed_per_filter_config:
        envoy.filters.http.basic_auth: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
    - match: {prefix: /admin}
      route: {cluster: app}
      typed_per_filter_config:
        envoy.filters.http.basic_auth:
          "@type": type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute
          users: {inline_string: "root:${sha('r')}"}
    - match: {prefix: /}
      route: {cluster: app}`.replace('users: {inline_bytes', 'forward_username_header: x-user\n    users: {inline_bytes')));
    assert.deepEqual(t.report.dropped, []);
    const l = t.config.listeners[0]!;
    assert.deepEqual(l.filters, [{ name: 'basic_auth', users: `alice:${sha('a')}\n`, forward_username_header: 'x-user' }]);
    assert.deepEqual(l.routes.map((r) => r.filters), [{ basic_auth: false }, { basic_auth: { users: `root:${sha('r')}` } }, undefined]);
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-unit-'));
    try {
      const file = join(dir, 'envoy.yaml');
      writeFileSync(file, boot(`stat_prefix: s\nhttp_filters:\n${filter('envoy.filters.http.basic_auth', `alice:${sha('a')}`)}${ROUTES_TO_APP}`));
      const v = loadEnvoyConfig(file).validated;
      assert.deepEqual((v.listeners[0]!.filters[0]!.config as { credentials: [string, string][] }).credentials, [['alice', sha('a').slice(5)]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("Envoy Gateway's shape: one disabled filter per policy, each turned on by its routes, becomes route overrides", () => {
    const t = translate(boot(`stat_prefix: s
http_filters:
${filter('envoy.filters.http.basic_auth/p1', `u1:${sha('1')}`, 'disabled: true\n  ')}${filter('envoy.filters.http.basic_auth/p2', `u2:${sha('2')}`, 'disabled: true\n  ')}- name: envoy.filters.http.router
route_config:
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - match: {prefix: /one}
      route: {cluster: app}
      typed_per_filter_config:
        envoy.filters.http.basic_auth/p1: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, config: {}}
    - match: {prefix: /two}
      route: {cluster: app}
      typed_per_filter_config:
        envoy.filters.http.basic_auth/p2: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig}
    - match: {prefix: /}
      route: {cluster: app}`));
    assert.deepEqual(t.report.dropped, []);
    const l = t.config.listeners[0]!;
    assert.deepEqual(l.filters, [{ name: 'basic_auth', users: `u1:${sha('1')}` }]);
    assert.deepEqual(l.routes.map((r) => r.filters), [{ basic_auth: {} }, { basic_auth: { users: `u2:${sha('2')}` } }, { basic_auth: false }]);
  });

  test('a second basic_auth on every route, an htpasswd line Envoy refuses, and no users', () => {
    const two = translate(boot(`stat_prefix: s
http_filters:
${filter('a', `u1:${sha('1')}`)}${filter('b', `u2:${sha('2')}`)}- name: envoy.filters.http.router
${ROUTES_TO_APP}`));
    assert.equal(two.report.dropped.length, 1);
    assert.match(two.report.dropped[0]!.reason, /second basic_auth filter on every route/);
    assert.equal(two.report.dropped[0]!.unsafe, true);
    assert.throws(() => translate(boot(`stat_prefix: s\nhttp_filters:\n${filter('a', 'u1:$apr1$x$y')}${ROUTES_TO_APP}`)),
      /envoy\.yaml:\d+: .*http_filters\[0\]\.typed_config\.users: htpasswd line 1: user 'u1': unsupported hash; only \{SHA\}/);
    const none = translate(boot(`stat_prefix: s\nhttp_filters:\n- name: envoy.filters.http.basic_auth\n${ROUTES_TO_APP}`));
    assert.deepEqual(none.config.listeners[0]!.filters, [{ name: 'basic_auth', users: '' }]);
    assert.match(none.report.notes.map((n) => n.reason).join('\n'), /no users: every request gets 401/);
  });
});

describe('what users observe', () => {
  test('suppress_envoy_headers on every router turns envoy_headers off; on some only, it is reported; Prometheus names are always Envoy\'s', () => {
    const router = (suppress: boolean) => `- name: envoy.filters.http.router
  typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router, suppress_envoy_headers: ${suppress}}
`;
    const all = translate(boot(`stat_prefix: s\nhttp_filters:\n${router(true)}${ROUTES_TO_APP}`));
    assert.equal(all.config.envoy_headers, false);
    assert.deepEqual(all.config.stats, { prometheus_names: 'envoy' });
    assert.deepEqual(all.report.dropped, []);
    const none = translate(boot(`stat_prefix: s\nhttp_filters:\n${router(false)}${ROUTES_TO_APP}`));
    assert.equal(none.config.envoy_headers, undefined, "pillion's default: on, as in Envoy");
    const listener = (prefix: string, suppress: boolean) => `  - address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${prefix}
          http_filters:
${router(suppress).replace(/^/gm, '          ')}
${ROUTES_TO_APP.replace(/^/gm, '          ')}
`;
    const mixed = translate(`static_resources:\n  listeners:\n${listener('a', true)}${listener('b', false)}  clusters:\n  - name: app\n`);
    assert.equal(mixed.config.envoy_headers, undefined);
    assert.equal(mixed.report.dropped.length, 1);
    assert.match(mixed.report.dropped[0]!.path, /listeners\[0\].*suppress_envoy_headers$/);
    assert.match(mixed.report.dropped[0]!.reason, /some HTTP listeners only/);
  });

  test('a direct_response behind an auth filter keeps the filter (pillion runs filters before answering, as Envoy does); one the filter is off for keeps it off', () => {
    const t = translate(boot(`stat_prefix: s
http_filters:
- name: envoy.filters.http.basic_auth
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth
    users: {inline_string: "u:{SHA}${'A'.repeat(27)}="}
- name: envoy.filters.http.router
route_config:
  virtual_hosts:
  - name: all
    domains: ["*"]
    routes:
    - match: {path: /health}
      direct_response: {status: 200}
      typed_per_filter_config:
        envoy.filters.http.basic_auth: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
    - match: {prefix: /}
      direct_response: {status: 200, body: {inline_string: secret}}`));
    assert.equal(t.report.dropped.length, 0);
    const routes = t.config.listeners[0]!.routes;
    assert.equal(routes.length, 2);
    assert.equal(routes[0]!.filters?.basic_auth, false);
    assert.equal(routes[1]!.filters?.basic_auth, undefined, 'the listener filter applies');
    assert.equal(routes[1]!.direct_response?.body, 'secret');
  });
});

describe('errors name the Envoy field and line', () => {
  test('a route to a cluster that does not exist: pillion\'s validation error is pointed at the Envoy route', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-unit-'));
    try {
      const file = join(dir, 'envoy.yaml');
      writeFileSync(file, boot(`stat_prefix: s\n${ROUTES_TO_APP.replace('cluster: app', 'cluster: nope')}`));
      assert.throws(() => loadEnvoyConfig(file), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.line, 15);
        assert.match(err.message, /envoy\.yaml:15: static_resources\.listeners\[0\]\..*routes\[0\] \(pillion listeners\[0\]\.routes\[0\]\.cluster\): names no cluster/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a malformed duration names its field', () => {
    assert.throws(() => translate(boot(`stat_prefix: s\n${ROUTES_TO_APP.replace('cluster: app}', 'cluster: app, timeout: soon}')}`)),
      /envoy\.yaml:16: .*routes\[0\]\.route\.timeout: must be a duration/);
  });
});
