// The L7 path of transparent listeners, in process: a connection that was not redirected has no
// original destination, so it goes to the listener's cluster, and HTTP/1 on it is forwarded request
// by request (keep-alive, bodies, hop-by-hop headers dropped), with http.<stat_prefix>.* stats and
// Envoy's 503 UF when the target refuses. Opaque bytes on the same listener stay at L4.
import { strict as assert } from 'node:assert';
import { createServer, request, Agent } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { test } from 'node:test';
import { spliceAvailable } from '../../src/l4/native.js';
import { waitFor } from '../helpers/util.js';
import { cluster, closeServer, exchange, L4Harness, listen, listenerConfig } from './helpers.js';

function call(port: number, agent: Agent, method: string, path: string, body?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const q = request({ port, host: '127.0.0.1', method, path, agent, headers: { connection: 'keep-alive, x-drop', 'x-drop': 'hop', 'x-test': 'yes' } }, (r) => {
      let b = '';
      r.on('data', (d: Buffer) => { b += d.toString(); });
      r.on('end', () => resolve({ status: r.statusCode!, body: b, headers: r.headers }));
    });
    q.on('error', reject);
    q.end(body);
  });
}

test('HTTP/1 on a transparent listener: per request, keep-alive, bodies, stats', { skip: spliceAvailable() ? false : 'original_dst needs the native addon' }, async () => {
  const seen: { method: string; url: string; body: string; xTest: unknown; xDrop: unknown; remotePort: number }[] = [];
  const web = createServer((q, r) => {
    let b = '';
    q.on('data', (d: Buffer) => { b += d.toString(); });
    q.on('end', () => {
      seen.push({ method: q.method!, url: q.url!, body: b, xTest: q.headers['x-test'], xDrop: q.headers['x-drop'], remotePort: q.socket.remotePort! });
      r.setHeader('x-upstream', 'web');
      r.end(`${q.method} ${q.url} ${b.length}`);
    });
  });
  const webPort = await listen(web as unknown as import('node:net').Server);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ original_dst: true, passthrough: true, http: 'l7', cluster: 'web' }), [cluster('web', webPort)]);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const a = await call(port, agent, 'GET', '/one?x=1');
  const b = await call(port, agent, 'POST', '/two', 'hello body');
  assert.deepEqual([a.status, a.body, a.headers['x-upstream']], [200, 'GET /one?x=1 0', 'web']);
  assert.deepEqual([b.status, b.body], [200, 'POST /two 10']);
  assert.deepEqual(seen.map((s) => [s.method, s.url, s.body, s.xTest]), [['GET', '/one?x=1', '', 'yes'], ['POST', '/two', 'hello body', 'yes']]);
  assert.equal(seen[0]!.xDrop, undefined, 'a header named by Connection is hop-by-hop');
  assert.equal(seen[0]!.remotePort, seen[1]!.remotePort, 'one upstream connection, kept alive');
  agent.destroy();
  await waitFor('the record', () => h.records.length === 1);
  assert.equal(h.stat('http.test.downstream_rq_total'), 2);
  assert.equal(h.stat('http.test.downstream_rq_2xx'), 2);
  assert.equal(h.stat('pillion.tcp.test.http_l7_total'), 1);
  assert.equal(h.stat('tcp.test.downstream_cx_total'), 1, 'two requests, one connection');
  assert.equal(h.records[0]!.protocol, 'http');
  assert.equal(h.records[0]!.path, 'http');
  assert.ok(h.stat('tcp.test.downstream_cx_rx_bytes_total') > 0);

  // Opaque bytes on the same listener: L4 to the same cluster (the web server answers 400 itself).
  const raw = await exchange(port, (s) => s.end('\x00\x01 not http\r\n\r\n'));
  assert.match(raw.data.toString(), /^HTTP\/1\.1 400/);
  await waitFor('two records', () => h.records.length === 2);
  assert.equal(h.records[1]!.protocol, 'tcp');
  h.close();
  await closeServer(web as unknown as import('node:net').Server);
});

test('HTTP/1 on a transparent listener: a dead target gets 503 UF', { skip: spliceAvailable() ? false : 'original_dst needs the native addon' }, async () => {
  const dead = createNetServer();
  const deadPort = await listen(dead);
  await closeServer(dead);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ original_dst: true, http: 'l7', cluster: 'dead' }), [cluster('dead', deadPort)]);
  const agent = new Agent({ keepAlive: false });
  const r = await call(port, agent, 'GET', '/');
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-pillion-error'], 'UF');
  assert.equal(r.body, 'upstream connect error or disconnect/reset before headers\n');
  await waitFor('5xx counted', () => h.stat('http.test.downstream_rq_5xx') === 1);
  h.close();
});

test('HTTP/1 on a transparent listener: an Upgrade (WebSocket-style) becomes a raw tunnel to the target', { skip: spliceAvailable() ? false : 'original_dst needs the native addon' }, async () => {
  const web = createServer((_q, r) => r.end('plain'));
  web.on('upgrade', (q, sock: import('node:net').Socket) => {
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\nx-path: ${q.url}\r\n\r\n`);
    sock.pipe(sock);
  });
  const webPort = await listen(web as unknown as import('node:net').Server);
  const h = new L4Harness();
  const port = await h.start(listenerConfig({ original_dst: true, http: 'l7', cluster: 'web' }), [cluster('web', webPort)]);
  const r = await exchange(port, (s) => {
    s.write('GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n\r\n') && !got.includes('tunnelled')) s.write('tunnelled bytes');
      if (got.endsWith('tunnelled bytes')) s.end();
    });
  });
  const text = r.data.toString();
  assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(text, /x-path: \/ws/);
  assert.ok(text.endsWith('\r\n\r\ntunnelled bytes'), text);
  h.close();
  await closeServer(web as unknown as import('node:net').Server);
});
