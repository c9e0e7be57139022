// TLS passthrough by SNI: two real node:tls servers with their own self-signed certificates (made
// here with the openssl CLI) behind one tcp_proxy listener. The proxy reads the ClientHello's server
// name without terminating: the client verifies the upstream's own certificate end to end.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { clientHello, inspect, matchServerName } from '../../src/l4/inspect.js';
import { spliceAvailable } from '../../src/l4/native.js';
import { waitFor } from '../helpers/util.js';
import { cluster, closeServer, L4Harness, listen, listenerConfig } from './helpers.js';

function selfSigned(dir: string, name: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

function tlsServer(id: string, creds: { key: Buffer; cert: Buffer }): TlsServer {
  return createTlsServer(creds, (s) => {
    s.on('error', () => {});
    s.end(`hello from ${id} (sni ${(s as unknown as { servername?: string }).servername})\n`);
  });
}

function ask(port: number, servername: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername, ca });
    let out = '';
    s.on('data', (d: Buffer) => { out += d.toString(); });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? false : 'no openssl CLI to make test certificates (apt-get install openssl)';

describe('SNI passthrough', { skip: noOpenssl }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-sni-'));
  let a: ReturnType<typeof selfSigned>;
  let b: ReturnType<typeof selfSigned>;
  let sa: TlsServer;
  let sb: TlsServer;
  let pa = 0;
  let pb = 0;
  before(async () => {
    a = selfSigned(dir, 'a.test');
    b = selfSigned(dir, 'b.example.org');
    sa = tlsServer('A', a);
    sb = tlsServer('B', b);
    pa = await listen(sa as unknown as Server);
    pb = await listen(sb as unknown as Server);
  });
  after(async () => {
    await closeServer(sa as unknown as Server);
    await closeServer(sb as unknown as Server);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const splice of [true, false]) {
    test(`routes by server name, certificates verified end to end (${splice ? 'splice' : 'stream'})`, { skip: splice && !spliceAvailable() ? 'no native addon' : false }, async () => {
      const h = new L4Harness();
      const port = await h.start(listenerConfig({
        splice,
        sni: [{ server_names: ['a.test'], cluster: 'a' }, { server_names: ['*.example.org'], cluster: 'b' }],
      }), [cluster('a', pa), cluster('b', pb)]);
      assert.equal(await ask(port, 'a.test', a.cert), 'hello from A (sni a.test)\n');
      assert.equal(await ask(port, 'b.example.org', b.cert), 'hello from B (sni b.example.org)\n');
      // No route for this name and no default cluster: closed, counted.
      assert.equal(await ask(port, 'c.test', a.cert).catch(() => ''), '');
      await waitFor('three records', () => h.records.length === 3);
      assert.equal(h.stat('tcp.test.downstream_cx_no_route'), 1);
      const byName = new Map(h.records.map((r) => [r.server_name, r]));
      assert.equal(byName.get('a.test')?.upstream_cluster, 'a');
      assert.equal(byName.get('b.example.org')?.upstream_cluster, 'b');
      assert.equal(byName.get('a.test')?.protocol, 'tls');
      assert.equal(byName.get('a.test')?.path, splice ? 'splice' : 'stream');
      assert.equal(byName.get('c.test')?.response_flags, 'NR');
      // Every byte the clients sent is counted once, the inspected ClientHello included.
      const sent = h.records.reduce((n, r) => n + r.bytes_received, 0);
      assert.equal(h.stat('tcp.test.downstream_cx_rx_bytes_total'), sent);
      assert.ok(byName.get('a.test')!.bytes_received > 200);
      h.close();
    });
  }

  test('a listener cluster catches names no sni route lists, and clients that send no SNI', async () => {
    const h = new L4Harness();
    const port = await h.start(listenerConfig({ cluster: 'a', sni: [{ server_names: ['b.example.org'], cluster: 'b' }] }), [cluster('a', pa), cluster('b', pb)]);
    assert.equal(await ask(port, 'a.test', a.cert), 'hello from A (sni a.test)\n');
    h.close();
  });

  test('a client that sends nothing is routed after inspect_timeout', async () => {
    const plain = createNetServer((s) => { s.on('error', () => {}); s.end('plain\n'); });
    const pp = await listen(plain);
    const h = new L4Harness();
    const port = await h.start(listenerConfig({ cluster: 'plain', inspect_timeout_ms: 100, sni: [{ server_names: ['a.test'], cluster: 'a' }] }), [cluster('plain', pp), cluster('a', pa)]);
    const got = await new Promise<string>((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1');
      let out = '';
      s.on('data', (d: Buffer) => { out += d.toString(); });
      s.on('end', () => { resolve(out); s.end(); });
      s.on('error', reject);
    });
    assert.equal(got, 'plain\n');
    assert.equal(h.stat('pillion.tcp.test.inspect_timeout'), 1);
    h.close();
    await closeServer(plain);
  });
});

describe('ClientHello parsing', () => {
  test('a real ClientHello split at every byte boundary: more, then the name', async () => {
    // Capture what node's TLS client sends.
    const hello = await new Promise<Buffer>((resolve) => {
      const srv = createNetServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); srv.close(); }));
      srv.listen(0, '127.0.0.1', () => {
        const c = tlsConnect({ port: (srv.address() as AddressInfo).port, host: '127.0.0.1', servername: 'Split.Example.COM' });
        c.on('error', () => {});
      });
    });
    for (let n = 0; n < hello.length; n++) assert.deepEqual(clientHello(hello.subarray(0, n)), { kind: 'more' }, `prefix ${n}`);
    assert.deepEqual(clientHello(hello), { kind: 'tls', serverName: 'split.example.com' });
    // The same handshake message cut into two TLS records.
    const body = hello.subarray(5);
    const rec = (p: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, p.length >> 8, p.length & 0xff]), p]);
    const two = Buffer.concat([rec(body.subarray(0, 40)), rec(body.subarray(40))]);
    assert.deepEqual(clientHello(two), { kind: 'tls', serverName: 'split.example.com' });
  });

  test('HTTP detection and opaque bytes', () => {
    assert.deepEqual(inspect(Buffer.from('GE'), false, true), { kind: 'more' });
    assert.deepEqual(inspect(Buffer.from('GET / HTTP/1.1\r\n'), false, true), { kind: 'http' });
    assert.deepEqual(inspect(Buffer.from('PRI * HTTP/2.0\r\n'), false, true), { kind: 'opaque' });
    assert.deepEqual(inspect(Buffer.from('SSH-2.0-OpenSSH'), true, true), { kind: 'opaque' });
    assert.deepEqual(inspect(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0]), true, false), { kind: 'tls', serverName: null });
  });

  test('wildcards match one or more labels, never the bare domain', () => {
    assert.ok(matchServerName('*.example.org', 'b.example.org'));
    assert.ok(matchServerName('*.example.org', 'a.b.example.org'));
    assert.ok(!matchServerName('*.example.org', 'example.org'));
    assert.ok(!matchServerName('*.example.org', 'badexample.org'));
    assert.ok(matchServerName('a.test', 'a.test'));
  });
});
