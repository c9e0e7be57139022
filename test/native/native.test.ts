// The native addon on its own: originalDst on connections that were and were not redirected (IPv4
// and IPv6, with iptables REDIRECT inside a network namespace made here), and the fallback when the
// addon is off: the proxy says so at start, and a transparent listener refuses to start with the
// reason.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nativeStatus, originalDst, spliceAvailable } from '../../src/l4/native.js';
import { CLI, writeTempConfig } from '../helpers/proxy.js';
import { netnsUnavailable, pair } from '../l4/netns.js';

const noAddon = spliceAvailable() ? false : `native addon not loaded: ${nativeStatus}`;

test('originalDst: a connection that was not redirected has none', { skip: noAddon }, async () => {
  const accepted = new Promise<Socket>((resolve) => {
    const srv = createServer((s) => { resolve(s); srv.close(); });
    srv.listen(0, '127.0.0.1', () => connect((srv.address() as { port: number }).port, '127.0.0.1').on('error', () => {}));
  });
  const s = await accepted;
  assert.equal(originalDst(s), null);
  s.destroy();
});

test('originalDst: IPv4 and IPv6 connections REDIRECTed by iptables (in a network namespace)', { skip: noAddon || netnsUnavailable() }, () => {
  const { a, b, b4, b6 } = pair(231);
  try {
    const listenPort = 17001;
    a.exec('iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', b4, '--dport', '9999', '-j', 'REDIRECT', '--to-ports', String(listenPort));
    a.exec('ip6tables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', b6, '--dport', '9998', '-j', 'REDIRECT', '--to-ports', String(listenPort));
    const child = fileURLToPath(new URL('./original-dst-child.js', import.meta.url));
    const out = a.exec(process.execPath, child, String(listenPort), `${b4}:9999`, `[${b6}]:9998`);
    assert.deepEqual(JSON.parse(out), [
      { address: b4, port: 9999, family: 'IPv4' },
      { address: b6, port: 9998, family: 'IPv6' },
    ]);
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('without the addon: the proxy says the fast path is off, and original_dst refuses to start', () => {
  const { file } = writeTempConfig(`admin: { port: 0 }
listeners:
  - { name: unused, address: 127.0.0.1, port: 0, routes: [{ direct_response: { status: 200 } }] }
tcp_listeners:
  - { name: outbound, address: 127.0.0.1, port: 0, original_dst: true }
`);
  const r = spawnSync(process.execPath, [CLI, 'proxy', '--config', file], { env: { ...process.env, PILLION_NO_NATIVE: '1' }, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /warn pillion: native addon disabled by PILLION_NO_NATIVE: L4 uses stream piping \(no splice\), transparent listeners unavailable/);
  assert.match(r.stderr, /error pillion: tcp listener outbound: original_dst \(transparent interception\) needs the native addon: native addon disabled by PILLION_NO_NATIVE/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'a configuration problem, not a stack trace');
});
