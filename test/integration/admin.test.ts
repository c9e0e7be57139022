// The admin port over real sockets: /ready and /healthcheck/fail|ok, /stats (text, filter, JSON) with
// exact counts after known traffic, /stats/prometheus under `promtool check metrics`, /config_dump
// (effective config, secrets redacted), /clusters, method rules, /quitquitquit, and the bind address.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startFixture, type Fixture } from '../helpers/fixture.js';
import { Origin } from '../helpers/origin.js';
import { spawnProxy, startProxy } from '../helpers/proxy.js';
import { RawClient } from '../helpers/raw.js';
import { request, waitFor } from '../helpers/util.js';

function promtool(text: string): { ok: boolean; output: string } | null {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error !== undefined) return null;
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}
const hasPromtool = spawnSync('promtool', ['--version']).error === undefined;

describe('admin', () => {
  let f: Fixture;
  before(async () => { f = await startFixture(); });
  after(async () => { await f?.stop(); });

  test('GET /ready: 200 LIVE while serving', async () => {
    const r = await f.proxy.admin('/ready');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'LIVE\n');
  });

  test('POST /healthcheck/fail turns /ready to 503 FAILED (traffic still served); /healthcheck/ok undoes it', async () => {
    assert.equal((await f.proxy.admin('/healthcheck/fail', 'POST')).status, 200);
    const r = await f.proxy.admin('/ready');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'FAILED\n');
    assert.equal((await request(f.proxy.port, { path: '/bytes/2' })).status, 200);
    assert.equal((await f.proxy.admin('/healthcheck/ok', 'POST')).status, 200);
    assert.equal((await f.proxy.admin('/ready')).status, 200);
  });

  test('mutating commands need POST: GET gets 405 with Allow, and does nothing', async () => {
    for (const path of ['/healthcheck/fail', '/quitquitquit']) {
      const r = await f.proxy.admin(path);
      assert.equal(r.status, 405, path);
      assert.equal(r.headers.get('allow'), 'POST');
    }
    assert.equal((await f.proxy.admin('/ready')).status, 200);
    assert.equal(f.proxy.exitCode, undefined, 'GET /quitquitquit stopped the proxy');
  });

  test('unknown path: 404; / lists the commands', async () => {
    assert.equal((await f.proxy.admin('/nope')).status, 404);
    const help = await f.proxy.admin('/');
    for (const c of ['/ready', '/stats', '/stats/prometheus', '/config_dump', '/clusters', '/healthcheck/fail', '/healthcheck/ok', '/quitquitquit']) {
      assert.ok(help.body.includes(c), c);
    }
  });

  test('/stats counts exactly: totals, status classes, per listener and per cluster', async () => {
    const before = await f.proxy.stats();
    const delta = async (name: string) => (await f.proxy.stat(name)) - (before.get(name) ?? NaN);
    for (let i = 0; i < 3; i++) await request(f.proxy.port, { path: '/bytes/1' });
    for (let i = 0; i < 2; i++) await request(f.proxy.port, { path: '/status/404' });
    await request(f.proxy.port, { path: '/status/503' });
    await request(f.proxy.port, { path: '/status/302' });
    assert.equal(await delta('http.ingress.downstream_rq_total'), 7);
    assert.equal(await delta('http.ingress.downstream_rq_2xx'), 3);
    assert.equal(await delta('http.ingress.downstream_rq_3xx'), 1);
    assert.equal(await delta('http.ingress.downstream_rq_4xx'), 2);
    assert.equal(await delta('http.ingress.downstream_rq_5xx'), 1);
    assert.equal(await delta('cluster.local_app.upstream_rq_total'), 7);
    assert.equal(await delta('cluster.local_app.upstream_rq_2xx'), 3);
    assert.equal(await delta('cluster.local_app.upstream_rq_4xx'), 2);
    assert.equal(await delta('cluster.local_app.upstream_rq_5xx'), 1);
    assert.equal(await f.proxy.stat('http.ingress.downstream_rq_active'), 0);
    assert.equal(await f.proxy.stat('cluster.local_app.upstream_rq_active'), 0);
  });

  test('/stats gauges: requests in flight and open connections, per listener and cluster', async () => {
    const addr = `listener.127.0.0.1_${f.proxy.port}.downstream_cx_active`;
    assert.equal(await f.proxy.stat(addr), 0);
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(f.proxy.port)));
    try {
      clients[0]!.write('GET /hang?gauge=1 HTTP/1.1\r\nHost: a\r\n\r\n');
      clients[1]!.write('GET /hang?gauge=2 HTTP/1.1\r\nHost: a\r\n\r\n');
      await waitFor('both at the origin', () => f.origin.seen('/hang?gauge=').length === 2);
      assert.equal(await f.proxy.stat('http.ingress.downstream_rq_active'), 2);
      assert.equal(await f.proxy.stat('cluster.local_app.upstream_rq_active'), 2);
      assert.equal(await f.proxy.stat(addr), 3);
    } finally {
      for (const c of clients) c.destroy();
    }
    await f.proxy.waitStat('http.ingress.downstream_rq_active', 0);
    await f.proxy.waitStat(addr, 0);
  });

  test('/stats?filter= and ?format=json', async () => {
    const text = (await f.proxy.admin('/stats?filter=downstream_rq_2xx')).body.trim().split('\n');
    assert.deepEqual(text.map((l) => l.split(':')[0]), ['http.ingress.downstream_rq_2xx']);
    const json = JSON.parse((await f.proxy.admin('/stats?format=json&filter=^cluster\\.local_app\\.upstream_rq_total$')).body);
    assert.equal(json.stats.length, 1);
    assert.equal(json.stats[0].name, 'cluster.local_app.upstream_rq_total');
    assert.equal(json.stats[0].value, await f.proxy.stat('cluster.local_app.upstream_rq_total'));
    assert.equal((await f.proxy.admin('/stats?filter=(')).status, 400);
  });

  test('/stats/prometheus: valid under promtool check metrics, Envoy-style names and labels, same values as /stats', {
    skip: hasPromtool ? false : 'promtool not installed',
  }, async () => {
    const r = await f.proxy.admin('/stats/prometheus');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const check = promtool(r.body)!;
    assert.ok(check.ok, check.output);
    const n2xx = await f.proxy.stat('http.ingress.downstream_rq_2xx');
    assert.ok(r.body.includes(`envoy_http_downstream_rq_xx_total{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"} ${n2xx}\n`), 'downstream 2xx sample');
    assert.match(r.body, /^# TYPE envoy_cluster_upstream_rq_active gauge$/m);
    assert.match(r.body, /^envoy_cluster_upstream_cx_connect_fail_total\{envoy_cluster_name="local_app"\} 0$/m);
    assert.match(r.body, /^envoy_server_live 1$/m);
  });

  test('/config_dump: the effective config as JSON (bound ports, defaults filled in)', async () => {
    const r = await f.proxy.admin('/config_dump');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    const d = JSON.parse(r.body);
    assert.equal(d.source, f.proxy.configFile);
    assert.equal(d.config.listeners[0].name, 'ingress');
    assert.equal(d.config.listeners[0].port, f.proxy.port);
    assert.deepEqual(d.config.clusters[0].endpoints, [f.origin.url]);
    assert.equal(d.config.clusters[0].connect_timeout_ms, 5000);
  });

  test('/clusters: text and JSON list every endpoint', async () => {
    const host = `127.0.0.1:${f.origin.port}`;
    const t = (await f.proxy.admin('/clusters')).body;
    assert.ok(t.includes(`local_app::${host}::health_flags::healthy`), t);
    const j = JSON.parse((await f.proxy.admin('/clusters?format=json')).body);
    assert.equal(j.cluster_statuses[0].name, 'local_app');
    assert.deepEqual(j.cluster_statuses[0].host_statuses.map((h: { address: string }) => h.address), [f.origin.url]);
  });
});

describe('admin: secrets, bind address, quit', () => {
  test('/config_dump never shows an API key, nor an access-log sink\'s credentials', async () => {
    const origin = new Origin();
    await origin.start();
    const secret = 'super-secret-key-123456';
    const p = await startProxy({ config: `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    filters:
      - name: api_key_auth
        keys:
          - { client: alice, key: ${secret} }
    access_log:
      - http: { url: "http://loki:pw-in-url-77@127.0.0.1:9/push", headers: { Authorization: "Bearer tok-in-header-88", X-Scope-OrgID: t1 } }
    routes:
      - name: r
        cluster: app
clusters:
  - name: app
    endpoints: [${origin.url}]
` });
    try {
      assert.equal((await request(p.port, { path: '/x', headers: { 'x-api-key': secret } })).status, 200);
      const dump = (await p.admin('/config_dump')).body;
      assert.ok(!dump.includes(secret), 'the key is in /config_dump');
      assert.ok(!dump.includes(Buffer.from(secret).toString('base64')), 'the key (base64) is in /config_dump');
      assert.ok(!dump.includes('pw-in-url-77') && !dump.includes('tok-in-header-88'), 'a sink credential is in /config_dump');
      assert.ok(dump.includes('http://loki:[redacted]@127.0.0.1:9/push') && dump.includes('"x-scope-orgid": "t1"'), dump);
    } finally {
      await p.stop();
      await origin.stop();
    }
  });

  test('stats are kept per listener and per cluster', async () => {
    const a = new Origin();
    const b = new Origin();
    await a.start();
    await b.start();
    const p = await startProxy({ config: `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: front_a
    address: 127.0.0.1
    port: 0
    routes: [ { name: r, cluster: ca } ]
  - name: front_b
    address: 127.0.0.1
    port: 0
    routes: [ { name: r, cluster: cb } ]
clusters:
  - { name: ca, endpoints: [${a.url}] }
  - { name: cb, endpoints: [${b.url}] }
` });
    try {
      assert.equal(p.ports.size, 2);
      for (let i = 0; i < 3; i++) await request(p.ports.get('front_a')!, { path: '/x' });
      await request(p.ports.get('front_b')!, { path: '/status/404' });
      const s = await p.stats();
      assert.equal(s.get('http.front_a.downstream_rq_total'), 3);
      assert.equal(s.get('http.front_a.downstream_rq_2xx'), 3);
      assert.equal(s.get('http.front_b.downstream_rq_total'), 1);
      assert.equal(s.get('http.front_b.downstream_rq_4xx'), 1);
      assert.equal(s.get('cluster.ca.upstream_rq_total'), 3);
      assert.equal(s.get('cluster.cb.upstream_rq_total'), 1);
      assert.equal(s.get('cluster.cb.upstream_rq_4xx'), 1);
      assert.equal(a.requests.length, 3);
      assert.equal(b.requests.length, 1);
    } finally {
      await p.stop();
      await a.stop();
      await b.stop();
    }
  });

  test('the admin binds 127.0.0.1 when the config gives no address', async () => {
    const p = await startProxy({ config: `admin: { port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    routes: [ { name: r, direct_response: { status: 200, body: ok } } ]
` });
    try {
      assert.match(p.stderr(), /admin on http:\/\/127\.0\.0\.1:\d+/);
      const dump = JSON.parse((await p.admin('/config_dump')).body);
      assert.equal(dump.config.admin.address, '127.0.0.1');
    } finally {
      await p.stop();
    }
  });

  test('an admin port already taken: exit 1, named, before any listener starts', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    try {
      const p = spawnProxy({ args: ['--upstream', 'http://127.0.0.1:9', '--admin', `127.0.0.1:${port}`] });
      const t = setTimeout(() => p.signal('SIGKILL'), 10_000);
      assert.equal(await p.exited, 1, p.stderr());
      clearTimeout(t);
      assert.match(p.stderr(), new RegExp(`admin: cannot bind 127\\.0\\.0\\.1:${port}: already in use`));
      await p.stop();
    } finally {
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  test('POST /quitquitquit: 200, /ready 503 at once, then exit 0', async () => {
    const p = await startProxy({ args: ['--upstream', 'http://127.0.0.1:9'], drainTime: '1s' });
    const r = await p.admin('/quitquitquit', 'POST');
    assert.equal(r.status, 200);
    const ready = await p.admin('/ready');
    assert.equal(ready.status, 503);
    assert.equal(ready.body, 'DRAINING\n');
    const t = setTimeout(() => p.signal('SIGKILL'), 10_000);
    assert.equal(await p.exited, 0, p.stderr());
    clearTimeout(t);
    assert.match(p.stderr(), /draining \(\/quitquitquit\)/);
    await p.stop();
  });
});

describe('admin: stats.prometheus_names', () => {
  test("pillion: the same metrics under pillion_ with plain label names, histograms included; valid under promtool; /stats keeps Envoy's names", {
    skip: hasPromtool ? false : 'promtool not installed',
  }, async () => {
    const f = await startFixture({ extra: 'stats:\n  prometheus_names: pillion\n' });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(f.proxy.port, { path: '/bytes/2' })).status, 200);
      assert.equal((await request(f.proxy.port, { path: '/status/503' })).status, 503);
      // The histograms reach the main thread with a scrape: ask until they show.
      let body = '';
      await waitFor('the downstream histogram', async () => {
        body = (await f.proxy.admin('/stats/prometheus')).body;
        return /^pillion_http_downstream_rq_time_count\{listener="ingress"\} 4$/m.test(body);
      });
      const check = promtool(body)!;
      assert.ok(check.ok, check.output);
      assert.doesNotMatch(body, /envoy_/, 'no Envoy family or label name is left');
      assert.match(body, /^pillion_http_downstream_rq_xx_total\{code_class="2",listener="ingress"\} 3$/m);
      assert.match(body, /^pillion_http_downstream_rq_xx_total\{code_class="5",listener="ingress"\} 1$/m);
      assert.match(body, /^pillion_cluster_upstream_rq_total\{cluster="local_app"\} 4$/m);
      assert.match(body, /^# TYPE pillion_cluster_upstream_rq_time histogram$/m);
      assert.match(body, /^pillion_cluster_upstream_rq_time_bucket\{cluster="local_app",le="\+Inf"\} 4$/m);
      assert.match(body, /^pillion_server_live 1$/m);
      assert.match(body, /^pillion_config_reload_success_total 0$/m, 'stats pillion names anyway keep their name');
      assert.match(body, /^pillion_listener_downstream_cx_active\{address="127\.0\.0\.1_\d+"\} \d+$/m);
      assert.equal(await f.proxy.stat('cluster.local_app.upstream_rq_total'), 4, '/stats is not affected');
    } finally {
      await f.stop();
    }
  });

  test('an unknown value is refused at load with the field', async () => {
    const p = spawnProxy({ config: 'admin: {port: 0}\nlisteners: [{port: 0, address: 127.0.0.1, routes: [{direct_response: {status: 200}}]}]\nstats: {prometheus_names: prom}\n' });
    await waitFor('exit', () => p.exitCode !== undefined);
    assert.equal(p.exitCode, 2);
    assert.match(p.stderr(), /stats\.prometheus_names: must be 'envoy' or 'pillion'/);
  });
});
