// Issue 3 end to end: the real proxy, real origins, stats as the oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Origin } from '../helpers/origin.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { freePort, request, sleep, waitFor } from '../helpers/util.js';

/** A config with one listener `ingress` on 127.0.0.1:0; `listener` adds fields (filters) to it. */
function config(opts: { filters?: string; routes: string; clusters: string }): string {
  return `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
${opts.filters !== undefined ? `    filters:\n${opts.filters}\n` : ''}    routes:
${opts.routes}
clusters:
${opts.clusters}
`;
}

async function withProxy(cfg: string, fn: (p: Proxy) => Promise<void>, env?: NodeJS.ProcessEnv): Promise<void> {
  const p = await startProxy({ config: cfg, env });
  try {
    await fn(p);
  } finally {
    await p.stop();
  }
}

test('api_key_auth: 401 without or with an unknown key, 403 for a client not allowed, 200 otherwise; the key never reaches the app', async () => {
  const origin = new Origin();
  await origin.start();
  const cfg = config({
    filters: `      - name: api_key_auth
        query_param: api_key
        keys:
          - { client: alice, key: alice-key-0001 }
          - { client: bob, key: bob-key-000002 }
        keys_env: { carol: PILLION_TEST_CAROL_KEY }`,
    routes: `      - name: health
        match: { path: /healthz }
        cluster: app
        filters: { api_key_auth: false }
      - name: admin
        match: { prefix: /admin }
        cluster: app
        filters: { api_key_auth: { allow: [alice] } }
      - name: default
        match: { prefix: / }
        cluster: app`,
    clusters: `  - name: app\n    endpoints: [${origin.url}]`,
  });
  try {
    await withProxy(cfg, async (p) => {
      const missing = await request(p.port, { path: '/echo' });
      assert.equal(missing.status, 401);
      assert.equal(missing.headers['www-authenticate'], 'ApiKey');
      assert.equal(missing.headers['x-pillion-error'], 'UAEX');
      assert.equal((await request(p.port, { path: '/echo', headers: { 'x-api-key': 'alice-key-0002' } })).status, 401);

      const ok = await request(p.port, { path: '/echo', headers: { 'x-api-key': 'bob-key-000002' } });
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(ok.body.toString()).headers['x-api-key'], undefined, 'the key header is stripped');
      const viaQuery = await request(p.port, { path: '/echo?a=1&api_key=alice-key-0001&b=2' });
      assert.equal(viaQuery.status, 200);
      assert.equal(JSON.parse(viaQuery.body.toString()).url, '/echo?a=1&b=2', 'the key parameter is stripped');
      assert.equal((await request(p.port, { path: '/echo', headers: { 'x-api-key': 'carol-env-key-3' } })).status, 200, 'a key from an env var');

      assert.equal((await request(p.port, { path: '/admin/x', headers: { 'x-api-key': 'bob-key-000002' } })).status, 403);
      assert.equal((await request(p.port, { path: '/admin/x', headers: { 'x-api-key': 'alice-key-0001' } })).status, 200);
      assert.equal((await request(p.port, { path: '/healthz' })).status, 200, 'the health route stays open');

      const s = await p.stats();
      assert.equal(s.get('http.ingress.api_key_auth.allowed'), 4);
      assert.equal(s.get('http.ingress.api_key_auth.unauthorized'), 2);
      assert.equal(s.get('http.ingress.api_key_auth.forbidden'), 1);
      assert.equal(origin.requests.length, 5);
      const dump = (await p.admin('/config_dump')).body;
      for (const k of ['alice-key-0001', 'bob-key-000002', 'carol-env-key-3']) assert.ok(!dump.includes(k), 'no key in /config_dump');
      assert.ok(!p.stderr().includes('alice-key-0001'), 'no key in the log');
    }, { PILLION_TEST_CAROL_KEY: 'carol-env-key-3' });
  } finally {
    await origin.stop();
  }
});

test('local_ratelimit: exact 429 counts for a known bucket, with Retry-After and x-ratelimit headers; shadow mode only counts', async () => {
  const origin = new Origin();
  await origin.start();
  const mk = (enforced: number) => config({
    filters: `      - name: local_ratelimit
        token_bucket: { max_tokens: 5, tokens_per_fill: 5, fill_interval: 1h }
        enforced: ${enforced}
        response_headers: true`,
    routes: `      - match: { prefix: / }\n        cluster: app`,
    clusters: `  - name: app\n    endpoints: [${origin.url}]`,
  });
  try {
    await withProxy(mk(100), async (p) => {
      const statuses: number[] = [];
      let limited;
      for (let i = 0; i < 8; i++) {
        const r = await request(p.port, { path: '/' });
        statuses.push(r.status);
        if (r.status === 429) limited = r;
        else assert.equal(r.headers['x-ratelimit-remaining'], String(4 - i));
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
      assert.equal(limited!.body.toString(), 'local_rate_limited\n');
      assert.equal(limited!.headers['x-ratelimit-limit'], '5');
      assert.equal(limited!.headers['x-ratelimit-remaining'], '0');
      assert.ok(Number(limited!.headers['retry-after']) > 3000, `Retry-After in seconds until the next fill (got ${limited!.headers['retry-after']})`);
      const s = await p.stats();
      assert.deepEqual(['enabled', 'ok', 'rate_limited', 'enforced'].map((k) => s.get(`http.ingress.http_local_rate_limit.${k}`)), [8, 5, 3, 3]);
      assert.equal(origin.requests.length, 5);
    });
    await withProxy(mk(0), async (p) => {
      for (let i = 0; i < 8; i++) assert.equal((await request(p.port, { path: '/' })).status, 200);
      const s = await p.stats();
      assert.deepEqual(['enabled', 'ok', 'rate_limited', 'enforced'].map((k) => s.get(`http.ingress.http_local_rate_limit.${k}`)), [8, 5, 3, 0]);
    });
  } finally {
    await origin.stop();
  }
});

test('local_ratelimit: per-client buckets by header, and the listener limit shared by two worker threads', async () => {
  const origin = new Origin();
  await origin.start();
  const cfg = config({
    filters: `      - name: local_ratelimit
        descriptors:
          - key: header:x-client
            token_bucket: { max_tokens: 2, fill_interval: 1h }
        max_descriptor_entries: 100`,
    routes: `      - match: { prefix: / }\n        cluster: app`,
    clusters: `  - name: app\n    endpoints: [${origin.url}]`,
  });
  try {
    await withProxy(cfg, async (p) => {
      const by = async (c: string) => (await request(p.port, { path: '/', headers: { 'x-client': c } })).status;
      assert.deepEqual([await by('a'), await by('a'), await by('a'), await by('b'), await by('b'), await by('b')], [200, 200, 429, 200, 200, 429]);
      assert.equal((await request(p.port, { path: '/' })).status, 200, 'no descriptor value: not limited by it');
    });
    // Two workers, one bucket of 6: new connections spread over both threads, the total stays exact.
    const shared = config({
      filters: `      - name: local_ratelimit\n        token_bucket: { max_tokens: 6, fill_interval: 1h }`,
      routes: `      - match: { prefix: / }\n        cluster: app`,
      clusters: `  - name: app\n    endpoints: [${origin.url}]`,
    }) + 'concurrency: 2\n';
    await withProxy(shared, async (p) => {
      const results = await Promise.all(Array.from({ length: 20 }, () => request(p.port, { path: '/' })));
      assert.equal(results.filter((r) => r.status === 200).length, 6);
      assert.equal(results.filter((r) => r.status === 429).length, 14);
    });
  } finally {
    await origin.stop();
  }
});

test('circuit breaker: max_requests 1 with 64 concurrent clients sheds at once with 503 UO, counts it, and recovers', async () => {
  const origin = new Origin();
  await origin.start();
  const cfg = config({
    routes: `      - match: { prefix: / }\n        cluster: app`,
    clusters: `  - name: app\n    endpoints: [${origin.url}]\n    circuit_breakers: { max_requests: 1 }`,
  });
  try {
    await withProxy(cfg, async (p) => {
      const slow = request(p.port, { path: '/sleep/1500' });
      await waitFor('the slow request at the origin', () => origin.seen('/sleep').length === 1);
      const open = (await p.admin('/stats?filter=circuit_breakers')).body;
      assert.match(open, /cluster\.app\.circuit_breakers\.default\.rq_open: 1/);
      assert.match(open, /cluster\.app\.circuit_breakers\.default\.remaining_rq: 0/);
      const t0 = Date.now();
      const shed = await Promise.all(Array.from({ length: 63 }, () => request(p.port, { path: '/' })));
      const elapsed = Date.now() - t0;
      assert.ok(shed.every((r) => r.status === 503 && r.headers['x-envoy-overloaded'] === 'true' && r.headers['x-pillion-error'] === 'UO'));
      assert.ok(elapsed < 1000, `shed at once, not queued behind the slow request (${elapsed} ms)`);
      assert.equal((await slow).status, 200);
      assert.equal(await p.stat('cluster.app.upstream_rq_pending_overflow'), 63);
      assert.equal(origin.requests.length, 1);
      assert.equal((await request(p.port, { path: '/' })).status, 200, 'recovers once the slot is free');
      assert.match((await p.admin('/stats?filter=rq_open')).body, /rq_open: 0/);
    });
  } finally {
    await origin.stop();
  }
});

test('outlier detection: an endpoint that fails 5 times in a row is ejected and traffic goes to the others', async () => {
  const bad = new Origin();
  const good = new Origin();
  await bad.start();
  await good.start();
  bad.custom = (_req, res) => { res.writeHead(500); res.end('broken\n'); return true; };
  const cfg = config({
    routes: `      - match: { prefix: / }\n        cluster: app`,
    clusters: `  - name: app
    endpoints: [${bad.url}, ${good.url}]
    outlier_detection: { consecutive_5xx: 5, base_ejection_time: 30s, max_ejection_percent: 50 }`,
  });
  try {
    await withProxy(cfg, async (p) => {
      // Round robin: the bad endpoint gets every other request until its fifth 500.
      for (let i = 0; i < 10; i++) await request(p.port, { path: '/' });
      assert.equal(bad.requests.length, 5);
      assert.equal(await p.stat('cluster.app.outlier_detection.ejections_enforced_total'), 1);
      for (let i = 0; i < 10; i++) assert.equal((await request(p.port, { path: '/' })).status, 200);
      assert.equal(bad.requests.length, 5, 'no request reached the ejected endpoint');
      const clusters = (await p.admin('/clusters')).body;
      assert.match(clusters, new RegExp(`app::127\\.0\\.0\\.1:${bad.port}::health_flags::/failed_outlier_check`));
      assert.match(clusters, new RegExp(`app::127\\.0\\.0\\.1:${good.port}::health_flags::healthy`));
    });
  } finally {
    await bad.stop();
    await good.stop();
  }
});

test('retries land on a healthy endpoint, carry x-pillion-attempt-count, and respect max_retries', async () => {
  const good = new Origin();
  await good.start();
  const dead = `http://127.0.0.1:${await freePort()}`;
  const mk = (maxRetries: number) => config({
    routes: `      - match: { prefix: / }
        cluster: app
        retry_policy: { retry_on: [connect-failure, 5xx], num_retries: 2 }`,
    clusters: `  - name: app
    endpoints: [${dead}, ${good.url}]
    circuit_breakers: { max_retries: ${maxRetries} }`,
  });
  try {
    await withProxy(mk(3), async (p) => {
      for (let i = 0; i < 6; i++) assert.equal((await request(p.port, { path: '/echo' })).status, 200);
      // Round robin advances on retries too, so every first attempt may meet the dead endpoint.
      const retried = good.requests.filter((r) => r.headers['x-pillion-attempt-count'] === '2').length;
      const first = good.requests.filter((r) => r.headers['x-pillion-attempt-count'] === '1').length;
      assert.equal(retried + first, 6, 'every request reached the good endpoint, with its attempt count');
      assert.ok(retried >= 3, `at least the requests that met the dead endpoint were retried (${retried})`);
      assert.equal(await p.stat('cluster.app.upstream_rq_retry'), retried);
      assert.equal(await p.stat('cluster.app.upstream_rq_retry_success'), retried);

      // Bodies: a small one (kept whole) is sent again on the retry, intact; one over the 64 KiB it
      // keeps is not retried. Each pair of requests meets the dead endpoint once (round robin).
      const small = Buffer.alloc(10_000, 'b');
      const big = Buffer.alloc(64 * 1024 + 1, 'c');
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      good.requests.length = 0;
      const smallStatuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await request(p.port, { method: 'POST', path: '/echo', body: small });
        smallStatuses.push(r.status);
        const seen = JSON.parse(r.body.toString()) as { len: number; sha256: string };
        assert.equal(seen.len, small.length);
        assert.equal(seen.sha256, sha(small));
      }
      assert.deepEqual(smallStatuses, [200, 200, 200, 200]);
      assert.ok(good.requests.some((r) => r.headers['x-pillion-attempt-count'] === '2'), 'a POST with a small body was retried');
      const bigStatuses: number[] = [];
      for (let i = 0; i < 4; i++) bigStatuses.push((await request(p.port, { method: 'POST', path: '/echo', body: big })).status);
      assert.ok(bigStatuses.includes(503), `a body over the kept size is not retried (${bigStatuses})`);
      assert.ok(bigStatuses.includes(200), `${bigStatuses}`);
    });
    good.requests.length = 0;
    await withProxy(mk(0), async (p) => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await request(p.port, { path: '/' })).status);
      const failed = statuses.filter((s) => s === 503).length;
      assert.ok(failed >= 2, `requests that met the dead endpoint fail without a retry (${statuses})`);
      assert.equal(await p.stat('cluster.app.upstream_rq_retry_overflow'), failed);
      assert.equal(await p.stat('cluster.app.upstream_rq_retry'), 0);
    });
  } finally {
    await good.stop();
  }
});

test('active health checks take a failing endpoint out and bring it back', async () => {
  const a = new Origin();
  const b = new Origin();
  await a.start();
  await b.start();
  let aHealthy = false;
  a.custom = (req, res) => {
    if (req.url !== '/healthz') return false;
    res.writeHead(aHealthy ? 200 : 503);
    res.end();
    return true;
  };
  const cfg = config({
    routes: `      - match: { prefix: / }\n        cluster: app`,
    clusters: `  - name: app
    endpoints: [${a.url}, ${b.url}]
    health_checks: { path: /healthz, interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }`,
  });
  try {
    await withProxy(cfg, async (p) => {
      await waitFor('a marked unhealthy, b healthy', async () => /::health_flags::\/failed_active_hc[\s\S]*::health_flags::healthy/.test((await p.admin('/clusters')).body));
      const before = a.requests.filter((r) => r.url !== '/healthz').length;
      for (let i = 0; i < 6; i++) assert.equal((await request(p.port, { path: '/' })).status, 200);
      assert.equal(a.requests.filter((r) => r.url !== '/healthz').length, before, 'no traffic to the failing endpoint');
      aHealthy = true;
      await waitFor('a healthy again', async () => !(await p.admin('/clusters')).body.includes('failed_active_hc'));
      for (let i = 0; i < 6; i++) await request(p.port, { path: '/' });
      assert.ok(a.requests.filter((r) => r.url !== '/healthz').length > 0, 'traffic returns to it');
      assert.ok((await p.stat('cluster.app.health_check.failure')) >= 1);
    });
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a bad filter config names the field and its line', async () => {
  const { spawnProxy } = await import('../helpers/proxy.js');
  const p = spawnProxy({
    config: config({
      filters: `      - name: local_ratelimit\n        token_bucket: { max_tokens: 5, fill_interval: 10ms }`,
      routes: `      - match: { prefix: / }\n        cluster: app`,
      clusters: `  - name: app\n    endpoints: [http://127.0.0.1:1]`,
    }),
  });
  assert.equal(await p.exited, 2);
  assert.match(p.stderr(), /pillion\.yaml:8: listeners\[0\]\.filters\[0\]\.token_bucket\.fill_interval: must be at least 50ms/);
  await p.stop();
  await sleep(0);
});
