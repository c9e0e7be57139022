// Transparent interception end to end, in two network namespaces made here and joined by a veth:
//
//   pod (10.232.0.1, fd00:232::1)                        svc (10.232.0.2, fd00:232::2)
//     client (uid 65534) ──iptables──▶ pillion :15002 ───────▶ :7000 raw TCP (banner + echo)
//     app :8081 ◀── pillion :15006 ◀──iptables── inbound ◀──── client      :8080 HTTP
//
// `pillion iptables install` runs in the pod namespace with its defaults (the proxy is uid 1337):
// pillion runs as uid 1337, the app's client as nobody (65534), as in a pod. The client calls the service's own address; the connection is redirected
// into pillion, which recovers the original destination and passes through to it: raw TCP at L4
// (IPv4 and IPv6), HTTP at L7. Inbound connections reach the app through the inbound listener.
// Then `uninstall` leaves no rule, and traffic goes direct again.
import { strict as assert } from 'node:assert';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { test } from 'node:test';
import { CLI, writeTempConfig } from '../helpers/proxy.js';
import { waitFor } from '../helpers/util.js';
import { spliceAvailable } from '../../src/l4/native.js';
import { netnsUnavailable, pair, type NetNs } from './netns.js';

// Servers in the svc namespace: a banner-then-echo TCP service on 7000 and an HTTP service on 8080
// that says who called it. The app in the pod namespace: an HTTP server on 8081.
const SERVERS = `
const net = require('node:net'), http = require('node:http');
net.createServer({ allowHalfOpen: true }, (s) => { s.write('banner from ' + s.localAddress.replace(/^::ffff:/, '') + '\\n'); s.pipe(s); s.on('error', () => {}); }).listen(7000, '::');
http.createServer((q, r) => r.end(JSON.stringify({ from: q.socket.remoteAddress, path: q.url, host: q.headers.host }))).listen(+process.argv[1], '::', () => console.log('ready'));
`;

// The client, run as nobody in the pod namespace: one raw exchange per address, then one HTTP GET.
const CLIENT = `
const net = require('node:net'), http = require('node:http');
const raw = (host) => new Promise((resolve, reject) => {
  const c = net.connect({ host, port: 7000, allowHalfOpen: true });
  let out = '';
  c.on('data', (d) => { out += d; if (out.includes('\\n') && !c.sent) { c.sent = true; c.end('ping'); } });
  c.on('end', () => resolve(out));
  c.on('error', reject);
});
const get = (host, port) => new Promise((resolve, reject) => {
  http.get({ host, port, path: '/hello?x=1', agent: false }, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => resolve({ status: r.statusCode, body: b })); }).on('error', reject);
});
(async () => {
  const [h4, h6] = process.argv.slice(1);
  const out = { raw4: await raw(h4), raw6: await raw(h6), http: await get(h4, 8080) };
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

const STATS = `fetch('http://127.0.0.1:15000/stats?format=json').then((r) => r.json()).then((j) => console.log(JSON.stringify(Object.fromEntries(j.stats.map((s) => [s.name, s.value])))))`;

function lines(c: ChildProcess): { text: () => string } {
  let text = '';
  c.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
  c.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  return { text: () => text };
}

function asNobody(ns: NetNs, script: string, ...args: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script, ...args], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`client failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const skip = netnsUnavailable() || (spliceAvailable() ? false : 'native addon not built: no SO_ORIGINAL_DST');

test('redirected outbound (raw TCP over IPv4 and IPv6, HTTP at L7) and inbound traffic, then uninstall', { skip, timeout: 60_000 }, async () => {
  const { a: pod, b: svc, a4, b4, b6 } = pair(232);
  const children: ChildProcess[] = [];
  try {
    const servers = svc.spawn(process.execPath, ['-e', SERVERS, '8080']);
    const app = pod.spawn(process.execPath, ['-e', SERVERS.replace("listen(7000, '::')", "listen(7001, '::')"), '8081']);
    children.push(servers, app);
    const so = lines(servers);
    const ao = lines(app);
    await waitFor('servers', () => so.text().includes('ready') && ao.text().includes('ready'), 10_000);

    const { file, dir } = writeTempConfig(`admin: { address: 127.0.0.1, port: 15000 }
listeners:
  - { name: unused, address: 127.0.0.1, port: 15001, routes: [{ direct_response: { status: 200 } }] }
tcp_listeners:
  - name: outbound
    address: "::"
    port: 15002
    original_dst: true
    http: l7
    inspect_timeout: 200ms
  - name: inbound
    address: "::"
    port: 15006
    original_dst: true
    http: l4
`);
    chmodSync(dir, 0o755); // pillion runs as 1337 and reads it
    chmodSync(file, 0o644);
    const proxy = pod.spawn('setpriv', ['--reuid=1337', '--regid=1337', '--clear-groups', process.execPath, CLI, 'proxy', '--config', file, '--drain-time', '0ms']);
    children.push(proxy);
    const po = lines(proxy);
    await waitFor('pillion', () => /pillion proxy: .*admin on/.test(po.text()), 10_000).catch((e: Error) => { throw new Error(`${e.message}\n${po.text()}`); });

    const installed = pod.exec(process.execPath, CLI, 'iptables', 'install', '--ipv6');
    assert.match(installed, /-m owner --uid-owner 1337 -j RETURN/);
    assert.match(installed, /iptables -t nat -A OUTPUT -p tcp -j PILLION_OUTPUT/);

    // Outbound from the app's uid: redirected, original destination recovered, passed through.
    const out = JSON.parse(asNobody(pod, CLIENT, b4, b6)) as { raw4: string; raw6: string; http: { status: number; body: string } };
    assert.equal(out.raw4, `banner from ${b4}\nping`, 'raw TCP over IPv4 reached the service through pillion');
    assert.equal(out.raw6, `banner from ${b6}\nping`, 'raw TCP over IPv6 reached the service through pillion');
    assert.equal(out.http.status, 200);
    const seen = JSON.parse(out.http.body) as { from: string; path: string; host: string };
    assert.deepEqual({ path: seen.path, host: seen.host }, { path: '/hello?x=1', host: `${b4}:8080` });
    assert.equal(seen.from.replace(/^::ffff:/, ''), a4);

    // Inbound: a client in svc calls the app's port in the pod; PREROUTING sends it to :15006.
    const inbound = spawnSync('ip', ['netns', 'exec', svc.name, process.execPath, '-e',
      `require('node:http').get('http://${a4}:8081/in', (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => console.log(b)); })`], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(inbound.status, 0, inbound.stderr);
    assert.equal((JSON.parse(inbound.stdout) as { path: string }).path, '/in');

    const stats = JSON.parse(pod.exec(process.execPath, '-e', STATS)) as Record<string, number>;
    assert.equal(stats['tcp.outbound.downstream_cx_total'], 3, JSON.stringify(stats));
    assert.equal(stats['pillion.tcp.outbound.http_l7_total'], 1);
    assert.equal(stats['http.outbound.downstream_rq_2xx'], 1);
    assert.equal(stats['pillion.tcp.outbound.splice_total'], 2, 'raw TCP went to the splice pump');
    assert.equal(stats['cluster.PassthroughCluster.upstream_cx_total'], 3, 'two raw + one inbound passthrough connection');
    assert.equal(stats['tcp.inbound.downstream_cx_total'], 1);
    assert.ok(stats['tcp.outbound.downstream_cx_rx_bytes_total']! >= 8);

    // Uninstall: no rule left, and traffic goes direct (pillion's counters stay where they were).
    pod.exec(process.execPath, CLI, 'iptables', 'uninstall', '--ipv6');
    const left = pod.exec('iptables-save', '-t', 'nat') + pod.exec('ip6tables-save', '-t', 'nat');
    assert.doesNotMatch(left, /PILLION|REDIRECT/);
    const direct = JSON.parse(asNobody(pod, CLIENT, b4, b6)) as { raw4: string; http: { body: string } };
    assert.equal(direct.raw4, `banner from ${b4}\nping`);
    const after = JSON.parse(pod.exec(process.execPath, '-e', STATS)) as Record<string, number>;
    assert.equal(after['tcp.outbound.downstream_cx_total'], 3, 'no new connection went through pillion');
  } finally {
    for (const c of children) c.kill('SIGKILL');
    pod.destroy();
    svc.destroy();
  }
});
