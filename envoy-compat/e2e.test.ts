// `pillion proxy --envoy-config` end to end on real sockets: Envoy's own examples, unchanged, with the
// CLI's --listen/--upstream/--admin flags pointing them at a test origin on 127.0.0.1 (the examples name
// docker-compose hosts). Stats are the oracle: Envoy's names, with the HCM's stat_prefix as the scope.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Origin } from '../test/helpers/origin.js';
import { CLI, spawnProxy, startProxy } from '../test/helpers/proxy.js';
import { request, waitFor } from '../test/helpers/util.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/envoy/', import.meta.url));

describe('pillion proxy --envoy-config', { timeout: 120_000 }, () => {
  const origin = new Origin();
  before(async () => { await origin.start(); });
  after(async () => { await origin.stop(); });

  test('front-proxy/service-envoy.yaml: a request goes through and /stats reads http.<stat_prefix>.downstream_rq_total', async () => {
    const p = await startProxy({ args: ['--envoy-config', join(FIXTURES, 'front-proxy__service-envoy.yaml'), '--listen', '127.0.0.1:0', '--upstream', origin.url] });
    try {
      const ok = await request(p.port, { path: '/service/1/echo' });
      assert.equal(ok.status, 200);
      assert.equal(origin.seen('/service/1/echo').length, 1);
      const miss = await request(p.port, { path: '/other' });
      assert.equal(miss.status, 404, 'no route: the example routes /service/1 only');
      assert.equal(await p.stat('http.service_envoy_1.downstream_rq_total'), 2);
      assert.equal(await p.stat('http.service_envoy_1.downstream_rq_2xx'), 1);
      assert.equal(await p.stat('http.service_envoy_1.no_route'), 1);
      assert.equal(await p.stat('cluster.service1.upstream_rq_total'), 1);
      const prom = await p.admin('/stats/prometheus');
      assert.match(prom.body, /envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="service_envoy_1"\} 2/);
      assert.doesNotMatch(p.stderr(), /not carried over/, 'this example translates with nothing dropped');
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  test('refuses (exit 2) a config whose dropped fields weaken access control, naming them; --allow-unsupported runs it with warnings', async () => {
    const file = join(FIXTURES, 'rbac__envoy.yaml');
    const refused = spawnProxy({ args: ['--envoy-config', file, '--listen', '127.0.0.1:0', '--upstream', origin.url] });
    assert.equal(await refused.exited, 2, refused.stderr());
    assert.match(refused.stderr(), /rbac__envoy\.yaml:25: .*http_filters\[0\].*envoy\.filters\.http\.rbac/);
    assert.match(refused.stderr(), /--allow-unsupported/);
    await refused.stop();

    const p = await startProxy({ args: ['--envoy-config', file, '--allow-unsupported', '--listen', '127.0.0.1:0', '--upstream', origin.url] });
    try {
      assert.match(p.stderr(), /warn .*not carried over: .*rbac__envoy\.yaml:25: .*envoy\.filters\.http\.rbac/);
      assert.equal((await request(p.port, { path: '/echo' })).status, 200);
      assert.equal(await p.stat('http.ingress_http.downstream_rq_total'), 1);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  test('local_ratelimit example: 2 tokens per 5 s, enforced at 100%: the third request gets 429, counted under Envoy\'s stat names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-rl-'));
    // The example's second listener (port 10000, cluster `service` on docker host service:80) moved to a
    // free port and the test origin; nothing else changed.
    const text = readFileSync(join(FIXTURES, 'local_ratelimit__envoy.yaml'), 'utf8')
      .replace('port_value: 10000', 'port_value: 0')
      .replace('address: service\n', 'address: 127.0.0.1\n').replace('port_value: 80\n', `port_value: ${origin.port}\n`);
    writeFileSync(join(dir, 'envoy.yaml'), text);
    const p = await startProxy({ args: ['--envoy-config', join(dir, 'envoy.yaml'), '--listen', '127.0.0.1:0'] });
    try {
      const port = p.ports.get('ingress_http_2')!;
      const statuses: number[] = [];
      let limited;
      for (let i = 0; i < 3; i++) {
        const r = await request(port, { path: '/rl' });
        statuses.push(r.status);
        if (r.status === 429) limited = r;
      }
      assert.deepEqual(statuses, [200, 200, 429]);
      assert.equal(limited!.body.toString(), 'local_rate_limited\n');
      assert.equal(await p.stat('http.ingress_http_2.http_local_rate_limit.rate_limited'), 1);
      assert.equal(await p.stat('http.ingress_http_2.http_local_rate_limit.enforced'), 1);
      assert.equal(await p.stat('http.ingress_http_2.downstream_rq_4xx'), 1);
      assert.equal(origin.seen('/rl').length, 2);
    } finally {
      assert.equal(await p.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('api_key_auth example: keys, per-route allowed_clients, a per-route key source and credentials, a route with the filter disabled', async () => {
    // The example's cluster is upstream.com:443 over TLS; --upstream points it at the plain-HTTP test
    // origin (the flag replaces the endpoints; the cluster's TLS settings stay and are not used by http://).
    const p = await startProxy({ args: ['--envoy-config', join(FIXTURES, 'docs__http_filters__api-key-auth-filter.yaml'), '--listen', '127.0.0.1:0', '--upstream', origin.url] });
    try {
      const get = async (path: string, headers: Record<string, string> = {}) => (await request(p.port, { path, headers })).status;
      assert.equal(await get('/ak'), 401, 'no key');
      assert.equal(await get('/ak', { authorization: 'another_key' }), 200);
      assert.equal(await get('/ak', { authorization: 'one_key' }), 401, 'one_key (7 characters) is not carried over');
      assert.equal(await get('/static/x'), 200, 'the filter is disabled on /static');
      assert.equal(await get('/admin?api_key=another_key'), 200, 'allowed client, key from the query');
      assert.equal(await get('/special', { 'x-special-key': 'special_key' }), 200, 'the route\'s own credentials');
      assert.equal(await get('/special', { authorization: 'another_key' }), 401, 'the listener\'s keys do not apply on /special');
      assert.equal(await p.stat('http.ingress_http.api_key_auth.allowed'), 3);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  test('jwt_authn: a provider with an inline JWKS, a rule that leaves /health open, Envoy\'s default token locations, claim_to_headers', async () => {
    const secret = randomBytes(32);
    const jwks = JSON.stringify({ keys: [{ kty: 'oct', alg: 'HS256', kid: 'k1', k: secret.toString('base64url') }] });
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = (claims: Record<string, unknown>) => {
      const head = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${b64(claims)}`;
      return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
    };
    const exp = Math.floor(Date.now() / 1000) + 600;
    const good = token({ iss: 'https://issuer.test', aud: 'api', sub: 'alice', exp });
    const wrongAud = token({ iss: 'https://issuer.test', aud: 'other', sub: 'alice', exp });
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-jwt-'));
    writeFileSync(join(dir, 'envoy.yaml'), `static_resources:
  listeners:
  - address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: jwt
          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                test:
                  issuer: https://issuer.test
                  audiences: [api]
                  local_jwks: {inline_string: '${jwks}'}
                  claim_to_headers: [{claim_name: sub, header_name: x-user}]
              rules:
              - match: {prefix: /health}
              - match: {prefix: /}
                requires: {provider_name: test}
          - name: envoy.filters.http.router
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - {match: {prefix: /health}, direct_response: {status: 200, body: {inline_string: ok}}}
              - {match: {prefix: /}, route: {cluster: app}}
  clusters:
  - name: app
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${origin.port}}}}}]}]}
`);
    const p = await startProxy({ args: ['--envoy-config', join(dir, 'envoy.yaml')] });
    try {
      assert.doesNotMatch(p.stderr(), /not carried over/);
      assert.equal((await request(p.port, { path: '/jwt-a' })).status, 401, 'no token');
      assert.equal((await request(p.port, { path: '/health' })).status, 200, 'the open rule');
      assert.equal((await request(p.port, { path: '/echo/jwt-b', headers: { authorization: `Bearer ${good}` } })).status, 200);
      const seen = origin.seen('/echo/jwt-b')[0]!;
      assert.equal(seen.headers['x-user'], 'alice');
      assert.equal(seen.headers.authorization, undefined, 'Envoy\'s default: forward false, the token is removed');
      assert.equal((await request(p.port, { path: `/jwt-c?access_token=${good}` })).status, 200, 'Envoy\'s default locations include ?access_token=');
      assert.equal((await request(p.port, { path: '/jwt-d', headers: { authorization: `Bearer ${wrongAud}` } })).status, 401);
    } finally {
      assert.equal(await p.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('basic_auth: 401 without or with wrong credentials, 200 with them, a route with the filter disabled, a route with its own users', async () => {
    const sha = (pw: string) => `{SHA}${createHash('sha1').update(pw).digest('base64')}`;
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-basic-'));
    writeFileSync(join(dir, 'htpasswd'), `# admins\nroot:${sha('t00r')}\n`);
    writeFileSync(join(dir, 'envoy.yaml'), `static_resources:
  listeners:
  - address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: basic
          http_filters:
          - name: envoy.filters.http.basic_auth
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth
              users:
                inline_string: |-
                  user1:${sha('pass1')}
                  user2:${sha('pass2')}
              forward_username_header: x-username
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /open}
                route: {cluster: app}
                typed_per_filter_config:
                  envoy.filters.http.basic_auth: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
              - match: {prefix: /admin}
                route: {cluster: app}
                typed_per_filter_config:
                  envoy.filters.http.basic_auth:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute
                    users: {filename: ${join(dir, 'htpasswd')}}
              - {match: {prefix: /}, route: {cluster: app}}
  clusters:
  - name: app
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${origin.port}}}}}]}]}
`);
    const auth = (up: string) => ({ authorization: `Basic ${Buffer.from(up).toString('base64')}` });
    const p = await startProxy({ args: ['--envoy-config', join(dir, 'envoy.yaml')] });
    try {
      assert.doesNotMatch(p.stderr(), /not carried over/);
      const none = await request(p.port, { path: '/echo/ba-none' });
      assert.equal(none.status, 401, 'no credentials');
      assert.equal(none.headers['www-authenticate'], `Basic realm="http://127.0.0.1:${p.port}/echo/ba-none"`, "Envoy's realm: the request URI");
      assert.equal((await request(p.port, { path: '/echo/ba-wrong', headers: auth('user1:pass2') })).status, 401, 'wrong password');
      assert.equal((await request(p.port, { path: '/echo/ba-unknown', headers: auth('user3:pass1') })).status, 401, 'unknown user');
      assert.equal(origin.seen('/echo/ba-none').length + origin.seen('/echo/ba-wrong').length + origin.seen('/echo/ba-unknown').length, 0, 'nothing denied reaches the upstream');
      assert.equal((await request(p.port, { path: '/echo/ba-ok', headers: { ...auth('user2:pass2'), 'x-username': 'root' } })).status, 200);
      const seen = origin.seen('/echo/ba-ok')[0]!;
      assert.equal(seen.headers['x-username'], 'user2', 'forward_username_header replaces what the client sent');
      assert.equal(seen.headers.authorization, auth('user2:pass2').authorization, 'Envoy forwards the credential');
      assert.equal((await request(p.port, { path: '/open/x' })).status, 200, 'the filter is disabled on /open');
      assert.equal((await request(p.port, { path: '/admin/x', headers: auth('user1:pass1') })).status, 401, "the listener's users do not apply on /admin");
      assert.equal((await request(p.port, { path: '/admin/x', headers: auth('root:t00r') })).status, 200, 'the route\'s users from a file');
      assert.equal(await p.stat('http.basic.basic_auth.allowed'), 2);
      assert.equal(await p.stat('http.basic.basic_auth.denied'), 4);
      assert.equal(await p.stat('http.basic.downstream_rq_4xx'), 4);
    } finally {
      assert.equal(await p.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('virtual hosts by domain: the Host header picks the virtual host, and a host-specific one never falls through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-vh-'));
    const text = `static_resources:
  listeners:
  - address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: vh
          http_filters: [{name: envoy.filters.http.router}]
          route_config:
            virtual_hosts:
            - {name: any, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: app, prefix_rewrite: /any/}}]}
            - {name: api, domains: [api.example.com], routes: [{match: {prefix: /v1/}, route: {cluster: app}}]}
  clusters:
  - name: app
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${origin.port}}}}}]}]}
`;
    writeFileSync(join(dir, 'envoy.yaml'), text);
    const p = await startProxy({ args: ['--envoy-config', join(dir, 'envoy.yaml')] });
    try {
      assert.equal((await request(p.port, { path: '/v1/x', headers: { host: 'api.example.com' } })).status, 200);
      assert.equal(origin.seen('/v1/x').length, 1);
      assert.equal((await request(p.port, { path: '/v2', headers: { host: 'api.example.com' } })).status, 404, 'the api virtual host has no /v2 route');
      assert.equal((await request(p.port, { path: '/v1/x', headers: { host: 'other.example.com' } })).status, 200);
      assert.equal(origin.seen('/any/v1/x').length, 1, 'other hosts go to the * virtual host');
    } finally {
      assert.equal(await p.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('filesystem xDS (dynamic-config-fs): LDS and CDS files are read, and a changed CDS file is applied while traffic flows', async () => {
    const second = new Origin();
    await second.start();
    const dir = mkdtempSync(join(tmpdir(), 'pillion-envoy-fs-'));
    try {
      // The example's paths and docker hosts, moved to a temp dir and 127.0.0.1 (port 0: a free port).
      const boot = readFileSync(join(FIXTURES, 'dynamic-config-fs__envoy.yaml'), 'utf8')
        .replace(/\/var\/lib\/envoy\//g, `${dir}/`).replace('port_value: 19000', 'port_value: 0').replace('0.0.0.0', '127.0.0.1');
      const lds = readFileSync(join(FIXTURES, 'dynamic-config-fs__configs__lds.yaml'), 'utf8').replace('port_value: 10000', 'port_value: 0');
      const cds = readFileSync(join(FIXTURES, 'dynamic-config-fs__configs__cds.yaml'), 'utf8');
      const cdsFor = (o: Origin) => cds.replace('address: service1', 'address: 127.0.0.1').replace('port_value: 8080', `port_value: ${o.port}`);
      writeFileSync(join(dir, 'envoy.yaml'), boot);
      writeFileSync(join(dir, 'lds.yaml'), lds);
      writeFileSync(join(dir, 'cds.yaml'), cdsFor(origin));
      const p = await startProxy({ args: ['--envoy-config', join(dir, 'envoy.yaml')] });
      try {
        assert.equal((await request(p.port, { path: '/fs-a' })).status, 200);
        assert.equal(origin.seen('/fs-a').length, 1);
        // Replace the file by rename, as Envoy's docs tell users to (and as ConfigMaps do).
        writeFileSync(join(dir, 'cds.yaml.tmp'), cdsFor(second));
        renameSync(join(dir, 'cds.yaml.tmp'), join(dir, 'cds.yaml'));
        let failures = 0;
        await waitFor('requests to reach the second origin', async () => {
          const r = await request(p.port, { path: '/fs-b' });
          if (r.status !== 200) failures++;
          return second.seen('/fs-b').length > 0;
        }, 10_000);
        assert.equal(failures, 0, 'no request failed during the reload');
        assert.equal(await p.stat('pillion.config.reload_success'), 1);
        assert.equal(await p.stat('http.ingress_http.downstream_rq_total'), 1 + origin.seen('/fs-b').length + second.seen('/fs-b').length);

        // A broken CDS file is refused with the Envoy field and line; the previous config keeps serving.
        writeFileSync(join(dir, 'cds.yaml.tmp'), cdsFor(second).replace('type: STRICT_DNS', 'type: STRICT_DNS\n  connect_timeout: soon'));
        renameSync(join(dir, 'cds.yaml.tmp'), join(dir, 'cds.yaml'));
        await p.waitStat('pillion.config.reload_rejected', 1, 10_000);
        assert.match(p.stderr(), /cds\.yaml:5: resources\[0\]\.connect_timeout: must be a duration/);
        assert.equal((await request(p.port, { path: '/fs-c' })).status, 200);
        assert.equal(second.seen('/fs-c').length, 1);
      } finally {
        assert.equal(await p.stop(), 0);
      }
    } finally {
      await second.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pillion envoy-compat check', { timeout: 120_000 }, () => {
  const check = (...args: string[]) => spawnSync(process.execPath, [CLI, 'envoy-compat', 'check', ...args], { encoding: 'utf8' });

  test('prints the translation as YAML and exits 0; --strict exits 1 only when something was dropped', () => {
    const clean = check(join(FIXTURES, 'front-proxy__service-envoy.yaml'), '--strict');
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stdout, /name: service_envoy_1/);
    assert.match(clean.stdout, /# Not carried over \(0\)/);
    const dropped = check(join(FIXTURES, 'ext_authz__config__http-service.yaml'), '--strict');
    assert.equal(dropped.status, 1);
    assert.match(dropped.stdout, /ext_authz__config__http-service\.yaml:26: .*http_filters\[0\]: envoy\.filters\.http\.ext_authz/);
    assert.equal(check(join(FIXTURES, 'ext_authz__config__http-service.yaml')).status, 0);
  });

  test('a config with nothing pillion can run exits 2 and names each field', () => {
    const r = check(join(FIXTURES, 'dynamic-config-cp__envoy.yaml'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no listener pillion can run/);
    assert.match(r.stderr, /dynamic_resources\.ads_config: ADS over gRPC/);
  });
});
