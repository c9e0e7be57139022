// --concurrency N: N worker threads, each a uWS app on the same port with its own pools; the main
// thread sums their stats, reloads them all, drains them all, and restarts one that dies (killed here
// through the inspector, the only way to end one thread of a process from outside).
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Origin } from '../helpers/origin.js';
import { spawnProxy, startProxy, yamlConfig, type Proxy } from '../helpers/proxy.js';
import { request, sleep, waitFor } from '../helpers/util.js';

describe('workers (--concurrency 2)', () => {
  const origin = new Origin();
  let p: Proxy;
  const config = (body: string) => yamlConfig({
    routes: `- name: which\n  match: { path: /which }\n  direct_response: { status: 200, body: ${body} }\n- name: r\n  match: { prefix: / }\n  cluster: app`,
    // One upstream connection per worker's pool: the origin can tell how many pools serve.
    clusters: `- name: app\n  endpoints: [ORIGIN]\n  max_connections: 1`.replace('ORIGIN', origin.url),
  });

  before(async () => {
    await origin.start();
    p = await startProxy({ config: config('w1'), args: ['--concurrency', '2', '--drain-timeout', '10s'] });
  });
  after(async () => {
    await p?.stop();
    await origin.stop();
  });

  test('the start line says 2 worker threads; server.concurrency is 2', async () => {
    assert.match(p.stderr(), /2 worker threads/);
    assert.equal(await p.stat('server.concurrency'), 2);
  });

  test('both workers serve: with one upstream connection per worker, 2 requests run at the origin at once', async () => {
    origin.maxConcurrent = 0;
    // Fresh connections are spread over the two SO_REUSEPORT sockets by hash; 24 of them all landing on
    // one worker has odds of 2^-23.
    const rs = await Promise.all(Array.from({ length: 24 }, (_, i) => request(p.port, { path: `/sleep/150?w=${i}` })));
    assert.deepEqual(rs.map((r) => r.status), Array(24).fill(200));
    assert.equal(origin.maxConcurrent, 2);
  });

  test('stats are summed over the workers, exactly', async () => {
    const t0 = await p.stat('http.ingress.downstream_rq_total');
    const u0 = await p.stat('cluster.app.upstream_rq_total');
    await Promise.all(Array.from({ length: 20 }, () => request(p.port, { path: '/bytes/1' })));
    assert.equal(await p.stat('http.ingress.downstream_rq_total'), t0 + 20);
    assert.equal(await p.stat('cluster.app.upstream_rq_total'), u0 + 20);
    await p.waitStat('http.ingress.downstream_rq_active', 0);
  });

  test('SIGHUP reloads every worker: 20 fresh connections all see the new config', async () => {
    p.writeConfig(config('w2'));
    p.signal('SIGHUP');
    await p.waitStat('pillion.config.reload_success', 1, 8000);
    const bodies = await Promise.all(Array.from({ length: 20 }, () => request(p.port, { path: '/which' })));
    assert.deepEqual([...new Set(bodies.map((r) => r.body.toString()))], ['w2']);
  });

  test('SIGTERM drains every worker: requests in flight on both finish, then exit 0', async () => {
    const inflight = Array.from({ length: 8 }, (_, i) => request(p.port, { path: `/sleep/800?drain=${i}`, timeoutMs: 10_000 }));
    await waitFor('requests at the origin', () => origin.seen('/sleep/800?drain=').length >= 2, 5000);
    p.signal('SIGTERM');
    const rs = await Promise.all(inflight);
    assert.deepEqual(rs.map((r) => `${r.status} ${r.complete}`), Array(8).fill('200 true'));
    const t = setTimeout(() => p.signal('SIGKILL'), 10_000);
    assert.equal(await p.exited, 0, p.stderr());
    clearTimeout(t);
  });
});

test('front: node needs concurrency 1: refused at load with exit 2, naming the field', async () => {
  const text = yamlConfig({ front: 'node', routes: '- name: r\n  direct_response: { status: 200, body: x }', clusters: '[]' });
  const p = spawnProxy({ config: text, args: ['--concurrency', '2'] });
  const t = setTimeout(() => p.signal('SIGKILL'), 10_000);
  assert.equal(await p.exited, 2, p.stderr());
  clearTimeout(t);
  assert.match(p.stderr(), /listeners\[0\]\.front: 'node' needs concurrency 1/);
  await p.stop();
});

describe('worker restart', () => {
  test('a worker thread that dies (uncaught exception) is restarted: worker_restarts counted, both workers serve again', {
    timeout: 60_000,
  }, async () => {
    // Nothing in the request path kills a worker on purpose, so the test reaches into the process the
    // way an operator's debugger would: the inspector (port 0, named on stderr) and its NodeWorker
    // domain, to throw an uncaught exception inside one worker thread (which ends that thread only).
    const { WebSocket } = await import('undici');
    const origin = new Origin();
    await origin.start();
    const text = yamlConfig({
      routes: '- name: r\n  match: { prefix: / }\n  cluster: app',
      clusters: `- name: app\n  endpoints: [${origin.url}]\n  max_connections: 1`,
    });
    const p = await startProxy({ config: text, args: ['--concurrency', '2'], env: { NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
    let ws: InstanceType<typeof WebSocket> | null = null;
    try {
      const url = /Debugger listening on (ws:\/\/\S+)/.exec(p.stderr())?.[1];
      assert.ok(url !== undefined, `no inspector URL:\n${p.stderr()}`);
      const sock = new WebSocket(url);
      ws = sock;
      const workers: string[] = [];
      const replies = new Map<number, unknown>();
      sock.addEventListener('message', (ev) => {
        const m = JSON.parse(String(ev.data)) as { id?: number; method?: string; params?: { sessionId: string } };
        if (m.method === 'NodeWorker.attachedToWorker') workers.push(m.params!.sessionId);
        if (m.id !== undefined) replies.set(m.id, m);
      });
      await new Promise<void>((resolve, reject) => {
        sock.addEventListener('open', () => resolve());
        sock.addEventListener('error', () => reject(new Error('inspector connection failed')));
      });
      sock.send(JSON.stringify({ id: 1, method: 'NodeWorker.enable', params: { waitForDebuggerOnStart: false } }));
      await waitFor('two workers attached', () => workers.length === 2, 5000);
      assert.equal(await p.stat('pillion.server.worker_restarts'), 0);
      sock.send(JSON.stringify({
        id: 2,
        method: 'NodeWorker.sendMessageToWorker',
        params: { sessionId: workers[0], message: JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: "setImmediate(() => { throw new Error('worker killed by the test') }); 1" } }) },
      }));
      await p.waitStat('pillion.server.worker_restarts', 1, 10_000);
      assert.match(p.stderr(), /worker thread died; starting a new one/);
      // The replacement serves: with one upstream connection per worker, 2 requests at once at the origin.
      await waitFor('/ready', async () => (await p.admin('/ready')).status === 200, 5000);
      await sleep(300);
      origin.maxConcurrent = 0;
      const rs = await Promise.all(Array.from({ length: 24 }, (_, i) => request(p.port, { path: `/sleep/150?after-restart=${i}` })));
      assert.deepEqual(rs.map((r) => r.status), Array(24).fill(200));
      assert.equal(origin.maxConcurrent, 2);
      assert.equal(p.exitCode, undefined, 'the process itself stayed up');
    } finally {
      ws?.close();
      await p.stop();
      await origin.stop();
    }
  });
});
