// Config through the real CLI: errors that name the field and the line (exit 2), YAML and JSON files,
// flags over the file, route matching (prefix, path, regex, headers), load-balancing policies, and
// reloads on SIGHUP and on file change (--watch): a good config is applied, a bad one refused with a
// log line and a stat while the old one keeps serving, and requests in flight are not cut.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Origin } from '../helpers/origin.js';
import { spawnProxy, startProxy, type Proxy } from '../helpers/proxy.js';
import { freePort, request, sleep, waitFor } from '../helpers/util.js';

/** Runs the CLI to its exit (bounded); returns the code and stderr. */
async function runToExit(opts: Parameters<typeof spawnProxy>[0]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const p = spawnProxy(opts);
  let stdout = '';
  p.child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  // Generous: a loaded CI machine can take seconds to start node.
  const t = setTimeout(() => p.signal('SIGKILL'), 20_000);
  const code = await p.exited;
  clearTimeout(t);
  await p.stop();
  return { code, stderr: p.stderr(), stdout };
}

const BASE = (clusterLines: string, routeLines: string) => `admin:
  address: 127.0.0.1
  port: 0
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    routes:
${routeLines}
clusters:
${clusterLines}
`;

describe('config errors: exit 2, and the message names the field and its line', () => {
  const cases: [string, string, RegExp][] = [
    ['an unknown field in a route', BASE(
      '  - name: app\n    endpoints: [http://127.0.0.1:9]',
      '      - name: r\n        match: { prefix: / }\n        cluster: app\n        bogus: 1'),
    /pillion\.yaml:12: listeners\[0\]\.routes\[0\]\.bogus: unknown field/],
    ['a bad lb_policy', BASE(
      '  - name: app\n    endpoints: [http://127.0.0.1:9]\n    lb_policy: fastest',
      '      - name: r\n        cluster: app'),
    /pillion\.yaml:14: clusters\[0\]\.lb_policy: must be one of round_robin, least_request, random/],
    ['a route naming no cluster', BASE(
      '  - name: app\n    endpoints: [http://127.0.0.1:9]',
      '      - name: r\n        cluster: nope'),
    /pillion\.yaml:10: listeners\[0\]\.routes\[0\]\.cluster: names no cluster \(known: app\)/],
    ['a bad duration', BASE(
      '  - name: app\n    endpoints: [http://127.0.0.1:9]\n    connect_timeout: soon',
      '      - name: r\n        cluster: app'),
    /pillion\.yaml:14: clusters\[0\]\.connect_timeout: must be a duration/],
    ['an endpoint that is not a URL', BASE(
      '  - name: app\n    endpoints: [not a url]',
      '      - name: r\n        cluster: app'),
    /pillion\.yaml:13: clusters\[0\]\.endpoints\[0\]: is not a URL/],
    ['a YAML syntax error', 'admin:\n  port: 0\nlisteners: [\n  - name: x\n  port: }\n', /pillion\.yaml:\d+: \(syntax\)/],
  ];
  for (const [name, text, want] of cases) {
    test(name, async () => {
      const r = await runToExit({ config: text });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line expected:\n${r.stderr}`);
    });
  }

  test('a JSON config file: the error names the line too', async () => {
    const json = JSON.stringify({
      admin: { address: '127.0.0.1', port: 0 },
      listeners: [{ name: 'ingress', address: '127.0.0.1', port: 0, routes: [{ name: 'r', cluster: 'app' }] }],
      clusters: [{ name: 'app', endpoints: ['http://127.0.0.1:9'], max_connections: -1 }],
    }, null, 2);
    const line = json.split('\n').findIndex((l) => l.includes('max_connections')) + 1;
    const r = await runToExit({ config: json, configName: 'pillion.json' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`pillion\\.json:${line}: clusters\\[0\\]\\.max_connections: must be an integer`));
  });

  test('a missing config file: exit 2, named', async () => {
    const r = await runToExit({ args: ['--config', '/nonexistent/pillion.yaml'] });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\/nonexistent\/pillion\.yaml: \(file\): cannot read/);
  });

  test('bad flags: exit 2 naming the flag', async () => {
    for (const [args, want] of [
      [['--concurrency', '0'], /--concurrency: expected an integer from 1 to 256, got '0'/],
      [['--listen', 'nope:port'], /--listen: expected \[HOST:\]PORT/],
      [['--upstream', 'ftp://x'], /--upstream: expected an http:\/\/ URL/],
      [['--drain-time', 'forever'], /--drain-time: expected a duration/],
      [['--no-such-flag'], /no-such-flag/],
    ] as const) {
      const r = await runToExit({ args: [...args] });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
  });

  test('--check prints the effective config (defaults filled in) and exits 0', async () => {
    const r = await runToExit({ config: BASE('  - name: app\n    endpoints: [http://127.0.0.1:9]', '      - name: r\n        cluster: app'), args: ['--check'] });
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.listeners[0].routes[0].timeout_ms, 15_000);
    assert.equal(c.clusters[0].lb_policy, 'round_robin');
    assert.equal(c.drain_time_ms, 0); // the test helper passes --drain-time 0ms
  });

  test('no arguments: the embedded default is a drop-in sidecar (0.0.0.0:15001 -> 127.0.0.1:8080, admin 127.0.0.1:15000)', async () => {
    // `proxy --check` and nothing else, so that nothing binds the fixed ports on a shared machine.
    const { spawnSync } = await import('node:child_process');
    const { CLI } = await import('../helpers/proxy.js');
    const r = spawnSync(process.execPath, [CLI, 'proxy', '--check'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.listeners.length, 1);
    assert.equal(c.listeners[0].address, '0.0.0.0');
    assert.equal(c.listeners[0].port, 15001);
    assert.equal(c.listeners[0].routes[0].match.prefix, '/');
    const cluster = c.clusters.find((x: { name: string }) => x.name === c.listeners[0].routes[0].cluster);
    assert.deepEqual(cluster.endpoints, ['http://127.0.0.1:8080']);
    assert.deepEqual(c.admin, { address: '127.0.0.1', port: 15000 });
    assert.equal(c.concurrency, 1);
    assert.equal(c.drain_time_ms, 5000);
    assert.equal(c.drain_timeout_ms, 30_000);
  });

  test('--log-format json: the start line (and every line after) is one JSON object', async () => {
    const p = spawnProxy({ args: ['--upstream', 'http://127.0.0.1:9', '--log-format', 'json'] });
    try {
      await waitFor('the start line', () => /listener ingress/.test(p.stderr()), 15_000);
      p.signal('SIGTERM');
      await p.exited;
      const lines = p.stderr().trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
      const start = lines.find((l) => l.msg.includes('listener ingress on http://127.0.0.1:'))!;
      assert.equal(start.level, 'info');
      assert.ok(!Number.isNaN(Date.parse(start.time)));
      assert.ok(lines.some((l) => l.msg === 'stopped'));
    } finally {
      await p.stop();
    }
  });

  test('--help and --version exit 0', async () => {
    const h = await runToExit({ args: ['--help'] });
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: pillion proxy/);
  });
});

describe('config: files, flags, route matching, load balancing', () => {
  const a = new Origin();
  const b = new Origin();
  before(async () => { await a.start(); await b.start(); });
  after(async () => { await a.stop(); await b.stop(); });

  test('a JSON config serves; --listen and --upstream override the file', async () => {
    const port = await freePort();
    const json = JSON.stringify({
      admin: { address: '127.0.0.1', port: 0 },
      listeners: [{ name: 'ingress', address: '127.0.0.1', port: 0, routes: [{ name: 'r', cluster: 'app' }] }],
      clusters: [{ name: 'app', endpoints: [a.url] }],
    });
    const p = await startProxy({ config: json, configName: 'pillion.json', args: ['--listen', `127.0.0.1:${port}`, '--upstream', b.url] });
    try {
      assert.equal(p.port, port);
      const before = b.requests.length;
      assert.equal((await request(port, { path: '/x' })).status, 200);
      assert.equal(b.requests.length, before + 1, 'the request went to --upstream, not to the file\'s endpoint');
    } finally {
      await p.stop();
    }
  });

  test('route matching: path, prefix, regex and headers, first match wins', async () => {
    const p = await startProxy({ config: BASE('  - name: app\n    endpoints: [http://127.0.0.1:9]', `
      - name: exact
        match: { path: /exact }
        direct_response: { status: 200, body: exact }
      - name: by-header
        match: { prefix: /, headers: [ { name: x-tenant, exact: blue } ] }
        direct_response: { status: 200, body: header }
      - name: header-absent
        match: { prefix: /absent, headers: [ { name: x-debug, present: false } ] }
        direct_response: { status: 200, body: absent }
      - name: regex
        match: { regex: "/items/[0-9]+" }
        direct_response: { status: 200, body: regex }
      - name: prefix
        match: { prefix: /api/ }
        direct_response: { status: 201, body: prefix }
      - name: fallback
        match: { prefix: / }
        direct_response: { status: 200, body: fallback }`.replace(/^\n/, '')) });
    try {
      const body = async (path: string, headers: Record<string, string> = {}) => {
        const r = await request(p.port, { path, headers });
        return `${r.status} ${r.body.toString()}`;
      };
      assert.equal(await body('/exact'), '200 exact');
      assert.equal(await body('/exact/more'), '200 fallback');
      assert.equal(await body('/exact', { 'x-tenant': 'blue' }), '200 exact');
      assert.equal(await body('/anything', { 'x-tenant': 'blue' }), '200 header');
      assert.equal(await body('/anything', { 'x-tenant': 'green' }), '200 fallback');
      assert.equal(await body('/absent'), '200 absent');
      assert.equal(await body('/absent', { 'x-debug': '1' }), '200 fallback');
      assert.equal(await body('/items/42'), '200 regex');
      assert.equal(await body('/items/42x'), '200 fallback');
      assert.equal(await body('/api/v1'), '201 prefix');
      assert.equal(await body('/apiv1'), '200 fallback');
    } finally {
      await p.stop();
    }
  });

  for (const policy of ['round_robin', 'least_request', 'random'] as const) {
    test(`lb_policy ${policy}: both endpoints serve${policy === 'round_robin' ? ', strictly alternating' : ''}`, async () => {
      const p = await startProxy({ config: BASE(`  - name: app\n    endpoints: [${a.url}, ${b.url}]\n    lb_policy: ${policy}`, '      - name: r\n        cluster: app') });
      try {
        const a0 = a.requests.length;
        const b0 = b.requests.length;
        const order: string[] = [];
        for (let i = 0; i < 20; i++) {
          const na = a.requests.length;
          assert.equal((await request(p.port, { path: '/lb' })).status, 200);
          order.push(a.requests.length > na ? 'a' : 'b');
        }
        const na = a.requests.length - a0;
        const nb = b.requests.length - b0;
        assert.equal(na + nb, 20);
        if (policy === 'round_robin') {
          assert.equal(na, 10);
          assert.ok(order.every((x, i) => i === 0 || x !== order[i - 1]), order.join(''));
        } else {
          // 2^-19 odds of one endpoint taking all 20 by chance.
          assert.ok(na > 0 && nb > 0, `a=${na} b=${nb}`);
        }
      } finally {
        await p.stop();
      }
    });
  }

  test('least_request prefers the idle endpoint when the other is busy', async () => {
    // Endpoint a holds 4 requests; with power of two choices, the next 20 short ones go mostly to b.
    const p = await startProxy({ config: BASE(`  - name: app\n    endpoints: [${a.url}, ${b.url}]\n    lb_policy: least_request`, '      - name: r\n        cluster: app') });
    try {
      a.custom = (req) => req.url === '/lb-hold';
      b.custom = (req, res) => {
        if (req.url !== '/lb-hold') return false;
        res.end('b');
        return true;
      };
      // Park requests on a: retry until 4 are held there.
      const held: Promise<unknown>[] = [];
      const heldAt = () => a.seen('/lb-hold').filter((r) => !r.finished && !r.aborted).length;
      for (let i = 0; i < 40 && heldAt() < 4; i++) {
        held.push(request(p.port, { path: '/lb-hold', timeoutMs: 30_000 }).catch(() => undefined));
        await sleep(20);
      }
      assert.ok(heldAt() >= 4);
      const a0 = a.requests.length;
      const b0 = b.requests.length;
      for (let i = 0; i < 20; i++) await request(p.port, { path: '/short' });
      const na = a.requests.length - a0;
      const nb = b.requests.length - b0;
      assert.equal(na + nb, 20);
      // Both picks land on a (the busy one) only when both random draws are a: 1 in 4 on average.
      assert.ok(na <= 12, `a (busy) got ${na} of 20`);
    } finally {
      a.custom = null;
      b.custom = null;
      await p.stop();
    }
  });
});

describe('reload', () => {
  const a = new Origin();
  const b = new Origin();
  before(async () => { await a.start(); await b.start(); });
  after(async () => { await a.stop(); await b.stop(); });

  const config = (body: string, cluster = 'app', endpoint?: string, maxConnections = 8) => BASE(
    `  - name: app\n    endpoints: [${endpoint ?? a.url}]\n    max_connections: ${maxConnections}\n  - name: other\n    endpoints: [${b.url}]`,
    `      - name: direct\n        match: { path: /which }\n        direct_response: { status: 200, body: "${body}" }\n      - name: r\n        cluster: ${cluster}`);

  const which = async (p: Proxy) => (await request(p.port, { path: '/which' })).body.toString();

  for (const trigger of ['SIGHUP', '--watch'] as const) {
    describe(`on ${trigger}`, () => {
      let p: Proxy;
      before(async () => {
        p = await startProxy({ config: config('v1'), args: trigger === '--watch' ? ['--watch'] : [] });
      });
      after(async () => { await p?.stop(); });

      const reload = (text: string) => {
        p.writeConfig(text);
        if (trigger === 'SIGHUP') p.signal('SIGHUP');
      };

      test('a good config is applied (routes and clusters), reload_success counted, same ports', async () => {
        assert.equal(await which(p), 'v1');
        const port = p.port;
        const before = b.requests.length;
        reload(config('v2', 'other'));
        await waitFor('v2 served', async () => (await which(p)) === 'v2', 8000);
        assert.equal(await p.stat('pillion.config.reload_success'), 1);
        assert.equal((await request(port, { path: '/to-b' })).status, 200);
        assert.equal(b.requests.length, before + 1, 'traffic moved to the new cluster');
        assert.match(p.stderr(), /config reloaded/);
      });

      test('a bad config is refused with the reason in the log and reload_rejected; the old one keeps serving', async () => {
        const bad = config('v3').replace('max_connections: 8', 'max_connections: lots');
        const logBefore = p.stderr().length;
        reload(bad);
        await p.waitStat('pillion.config.reload_rejected', 1, 8000);
        const log = p.stderr().slice(logBefore);
        assert.match(log, /config reload .* refused; the previous config keeps serving/);
        assert.match(log, /clusters\[0\]\.max_connections/);
        assert.equal(await which(p), 'v2');
        assert.equal(await p.stat('pillion.config.reload_success'), 1);
        assert.equal((await p.admin('/ready')).status, 200);
      });

      test('requests in flight are not cut by a reload that replaces their pool', async () => {
        // Back to cluster app on a, then start slow requests and reload with a new pool setting.
        reload(config('v4', 'app'));
        await waitFor('v4 served', async () => (await which(p)) === 'v4', 8000);
        const inflight = Array.from({ length: 3 }, (_, i) => request(p.port, { path: `/sleep/1500?reload=${trigger}&i=${i}`, timeoutMs: 10_000 }));
        await waitFor('the slow requests at the origin', () => a.seen(`/sleep/1500?reload=${trigger}`).length === 3, 5000);
        reload(config('v5', 'app', undefined, 4));
        await waitFor('v5 served', async () => (await which(p)) === 'v5', 8000);
        const rs = await Promise.all(inflight);
        assert.deepEqual(rs.map((r) => `${r.status} ${r.complete} ${r.body.toString()}`), Array(3).fill('200 true slept\n'));
        assert.ok(a.seen(`/sleep/1500?reload=${trigger}`).every((r) => r.finished && !r.aborted));
      });
    });
  }

  test('--watch picks up a config replaced by rename (as editors and config-sync write it), twice', async () => {
    const { renameSync, writeFileSync } = await import('node:fs');
    const p = await startProxy({ config: config('r1'), args: ['--watch'] });
    try {
      for (const v of ['r2', 'r3']) {
        const tmp = `${p.configFile!}.tmp`;
        writeFileSync(tmp, config(v));
        renameSync(tmp, p.configFile!);
        await waitFor(`${v} served`, async () => (await which(p)) === v, 8000);
      }
      assert.equal(await p.stat('pillion.config.reload_success'), 2);
    } finally {
      await p.stop();
    }
  });

  test('SIGHUP on an unchanged listener keeps client keep-alive connections working', async () => {
    const p = await startProxy({ config: config('k1') });
    try {
      const { RawClient } = await import('../helpers/raw.js');
      const c = await RawClient.connect(p.port);
      try {
        c.write('GET /which HTTP/1.1\r\nHost: a\r\n\r\n');
        assert.equal((await c.responses(1)).responses[0]?.body.toString(), 'k1');
        p.writeConfig(config('k2'));
        p.signal('SIGHUP');
        await p.waitStat('pillion.config.reload_success', 1, 8000);
        c.write('GET /which HTTP/1.1\r\nHost: a\r\n\r\n');
        const r = await c.responses(2);
        assert.equal(r.responses[1]?.body.toString(), 'k2');
      } finally {
        c.destroy();
      }
    } finally {
      await p.stop();
    }
  });
});
