// What Envoy users observe and script against: /server_info, /drain_listeners, upstream_cx_active,
// and Envoy's response headers, which `envoy_headers: false` turns off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Origin } from '../helpers/origin.js';
import { startProxy } from '../helpers/proxy.js';
import { request, waitFor } from '../helpers/util.js';

function config(originUrl: string, extra = ''): string {
  return `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    filters:
      - name: local_ratelimit
        token_bucket: { max_tokens: 2, fill_interval: 1h }
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [${originUrl}]
${extra}`;
}

test('Envoy headers, /server_info, upstream_cx_active and /drain_listeners', async () => {
  const origin = new Origin();
  await origin.start();
  const p = await startProxy({ config: config(origin.url) });
  try {
    const ok = await request(p.port, { path: '/sleep/20' });
    assert.equal(ok.status, 200);
    assert.match(String(ok.headers['x-envoy-upstream-service-time']), /^\d+$/);
    assert.ok(Number(ok.headers['x-envoy-upstream-service-time']) >= 15, 'the upstream took about 20 ms');
    await request(p.port, { path: '/' });
    const limited = await request(p.port, { path: '/' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['x-envoy-ratelimited'], 'true');

    const info = JSON.parse((await p.admin('/server_info')).body);
    assert.equal(info.state, 'LIVE');
    assert.match(info.version, /^pillion\/\d+\.\d+\.\d+/);
    assert.match(info.uptime_current_epoch, /^\d+s$/);
    assert.equal(await p.stat('cluster.app.upstream_cx_active'), 1, 'one keep-alive upstream connection');

    assert.equal((await p.admin('/drain_listeners', 'GET')).status, 405, 'mutating commands need POST');
    assert.equal((await p.admin('/drain_listeners', 'POST')).status, 200);
    await waitFor('the listener closed', async () => {
      try {
        await request(p.port, { path: '/', timeoutMs: 1000 });
        return false;
      } catch {
        return true;
      }
    }, 5000);
    assert.equal((await p.admin('/ready')).status, 200, 'drain_listeners keeps the process running');
  } finally {
    await p.stop();
  }

  const quiet = await startProxy({ config: config(origin.url, 'envoy_headers: false\n') });
  try {
    const r = await request(quiet.port, { path: '/' });
    assert.equal(r.headers['x-envoy-upstream-service-time'], undefined);
    await request(quiet.port, { path: '/' });
    assert.equal((await request(quiet.port, { path: '/' })).headers['x-envoy-ratelimited'], undefined);
  } finally {
    await quiet.stop();
    await origin.stop();
  }
});
