// tcp listeners inside the real `pillion proxy`: reload (SIGHUP) swaps clusters for new connections
// and opens/closes listeners, drain (SIGTERM) lets open connections finish until drain_timeout and
// then resets them; and many concurrent connections through the splice pump at once.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { spliceAvailable } from '../../src/l4/native.js';
import { startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/util.js';
import { cluster, closeServer, echoServer, exchange, l4Config, L4Harness, listen, listenerConfig, tcpPorts } from './helpers.js';

function banner(text: string): Server {
  return createServer((s) => { s.on('error', () => {}); s.end(text); });
}

async function read(port: number): Promise<string> {
  const r = await exchange(port, () => {});
  return r.data.toString();
}

test('SIGHUP: a changed cluster takes new connections; a new listener opens, a removed one closes', { timeout: 30_000 }, async () => {
  const one = banner('one');
  const two = banner('two');
  const p1 = await listen(one);
  const p2 = await listen(two);
  const clusters = `  - { name: one, endpoints: ["127.0.0.1:${p1}"] }\n  - { name: two, endpoints: ["127.0.0.1:${p2}"] }`;
  const p = await startProxy({ config: l4Config('  - { name: a, address: 127.0.0.1, port: 0, cluster: one }', clusters) });
  try {
    const port = tcpPorts(p).get('a')!;
    assert.equal(await read(port), 'one');
    p.writeConfig(l4Config(`  - { name: a, address: 127.0.0.1, port: ${port}, cluster: two }\n  - { name: b, address: 127.0.0.1, port: 0, cluster: one }`, clusters));
    p.signal('SIGHUP');
    await waitFor('reloaded', () => /config reloaded/.test(p.stderr()));
    assert.equal(await read(port), 'two', 'same listener, new cluster');
    const portB = tcpPorts(p).get('b')!;
    assert.equal(await read(portB), 'one', 'the new listener serves');
    p.writeConfig(l4Config(`  - { name: b, address: 127.0.0.1, port: ${portB}, cluster: one }`, clusters));
    p.signal('SIGHUP');
    await waitFor('reloaded twice', () => (p.stderr().match(/config reloaded/g) ?? []).length === 2);
    const refused = await exchange(port, () => {}).catch((e: Error) => ({ how: `error: ${e.message}`, data: Buffer.alloc(0) }));
    assert.match(refused.how, /ECONNREFUSED/, 'the removed listener no longer accepts');
    assert.equal(await p.stat('tcp.a.downstream_cx_total'), 2);
  } finally {
    await p.stop();
    await closeServer(one);
    await closeServer(two);
  }
});

test('SIGTERM: an open tcp connection gets drain_timeout, then a reset; exit 0', { timeout: 30_000 }, async () => {
  const echo = echoServer();
  const ep = await listen(echo);
  const p = await startProxy({
    config: l4Config('  - { name: a, address: 127.0.0.1, port: 0, cluster: echo }', `  - { name: echo, endpoints: ["127.0.0.1:${ep}"] }`)
      .replace('listeners:', 'drain_timeout: 500ms\nlisteners:'),
  });
  try {
    const port = tcpPorts(p).get('a')!;
    let echoed = '';
    const pending = exchange(port, (s) => { s.write('still here'); s.on('data', (d: Buffer) => { echoed += d.toString(); }); }, 10_000);
    await waitFor('echo', () => echoed === 'still here');
    const t0 = Date.now();
    p.signal('SIGTERM');
    const r = await pending;
    const took = Date.now() - t0;
    assert.match(r.how, /error: ECONNRESET/, `reset at the end of the drain (got ${r.how} after ${took} ms; proxy stderr:\n${p.stderr()})`);
    assert.ok(took >= 400, `the connection had drain_timeout (closed after ${took} ms)`);
    assert.equal(await p.exited, 0);
  } finally {
    await p.stop();
    await closeServer(echo);
  }
});

test('200 concurrent connections through the splice pump, each intact', { skip: spliceAvailable() ? false : 'no native addon', timeout: 30_000 }, async () => {
  const echo = echoServer();
  const ep = await listen(echo);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ cluster: 'echo' }), [cluster('echo', ep)]);
  const one = () => new Promise<boolean>((resolve, reject) => {
    const payload = randomBytes(64 * 1024 + Math.floor(Math.random() * 64 * 1024));
    const want = createHash('sha256').update(payload).digest('hex');
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const h2 = createHash('sha256');
    s.on('data', (d: Buffer) => h2.update(d));
    s.on('end', () => { s.end(); resolve(h2.digest('hex') === want); });
    s.on('error', reject);
    s.on('connect', () => {
      // Written in pieces, so that both directions are busy at once.
      let off = 0;
      const step = () => {
        if (off >= payload.length) return void s.end();
        s.write(payload.subarray(off, off + 7000));
        off += 7000;
        setImmediate(step);
      };
      step();
    });
  });
  const results = await Promise.all(Array.from({ length: 200 }, one));
  assert.equal(results.filter(Boolean).length, 200);
  await waitFor('all ended', () => h.records.length === 200);
  assert.equal(h.stat('pillion.tcp.test.splice_total'), 200);
  assert.equal(h.records.filter((r) => r.end_reason === 'done').length, 200);
  h.close();
  await closeServer(echo);
});
