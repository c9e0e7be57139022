// L4 throughput benchmark: large transfers through pillion with the splice pump, pillion with stream
// piping (PILLION_NO_NATIVE=1), HAProxy in `mode tcp` (with and without `option splice-auto`), and
// direct (no proxy: the ceiling of the load generator). Not a test: run it by hand,
//
//   npm run build && node dist/test/l4/bench.js [MiB per transfer, default 2048] [rounds, default 3]
//
// One fresh proxy process per variant and round, variants in a different order every round, median
// reported. Load: one node process that writes a preallocated 1 MiB block to one connection and
// discards what it receives on the other side. CPU: the proxy process's utime+stime from /proc
// (threads included, so the splice thread counts), per GiB moved.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { CLI } from '../helpers/proxy.js';

const MiB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 2048);
const rounds = Number(process.argv[3] ?? 3);
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const LOAD = `
const net = require('node:net');
const [target, sinkPort, total] = process.argv.slice(1).map(Number);
const sink = net.createServer((s) => { let n = 0; s.on('data', (d) => n += d.length); s.on('end', () => { s.end(); console.log(JSON.stringify({ bytes: n, ms: Number(process.hrtime.bigint() - t0) / 1e6 })); process.exit(0); }); });
let t0;
sink.listen(sinkPort, '127.0.0.1', () => process.send('ready'));
process.on('message', () => {
  const block = Buffer.alloc(1 << 20, 97);
  const c = net.connect(target, '127.0.0.1');
  let sent = 0;
  const pump = () => { while (sent < total) { sent++; if (!c.write(block)) return void c.once('drain', pump); } c.end(); };
  c.on('connect', () => { t0 = process.hrtime.bigint(); pump(); });
  c.resume();
});
`;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    if (r.stdout.trim() !== '') return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${port}`);
}

interface Variant {
  name: string;
  start(listenPort: number, sinkPort: number, dir: string): ChildProcess | null;
}

const pillion = (name: string, env: NodeJS.ProcessEnv): Variant => ({
  name,
  start(listenPort, sinkPort, dir) {
    const cfg = join(dir, 'pillion.yaml');
    writeFileSync(cfg, `admin: { port: 0 }
listeners:
  - { name: unused, address: 127.0.0.1, port: 0, routes: [{ direct_response: { status: 200 } }] }
tcp_clusters:
  - { name: sink, endpoints: ["127.0.0.1:${sinkPort}"] }
tcp_listeners:
  - { name: bench, address: 127.0.0.1, port: ${listenPort}, cluster: sink }
`);
    return spawn(process.execPath, [CLI, 'proxy', '--config', cfg], { stdio: 'ignore', env: { ...process.env, ...env } });
  },
});

const haproxy = (name: string, splice: boolean): Variant => ({
  name,
  start(listenPort, sinkPort, dir) {
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, `global
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
${splice ? '  option splice-auto\n' : ''}frontend f
  bind 127.0.0.1:${listenPort}
  default_backend b
backend b
  server s1 127.0.0.1:${sinkPort}
`);
    return spawn('haproxy', ['-db', '-f', cfg], { stdio: 'ignore' });
  },
});

const direct: Variant = { name: 'direct (no proxy)', start: () => null };

async function runOnce(v: Variant): Promise<{ mibps: number; cpuPerGiB: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-bench-'));
  const listenPort = await freePort();
  const sinkPort = await freePort();
  const proxy = v.start(listenPort, sinkPort, dir);
  try {
    if (proxy !== null) await waitListening(listenPort);
    const load = spawn(process.execPath, ['-e', LOAD, String(proxy === null ? sinkPort : listenPort), String(sinkPort), String(totalMiB)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      load.once('message', () => resolve());
      load.once('exit', (code) => reject(new Error(`load generator exited (${code}) before it was ready`)));
    });
    const cpu0 = proxy === null ? 0 : cpuTicks(proxy.pid!);
    let out = '';
    load.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const done = new Promise<void>((r) => load.once('exit', () => r()));
    load.send('go');
    await done;
    const cpu1 = proxy === null ? 0 : cpuTicks(proxy.pid!);
    const { bytes, ms } = JSON.parse(out) as { bytes: number; ms: number };
    if (bytes !== totalMiB * MiB) throw new Error(`${v.name}: sink got ${bytes} bytes`);
    return { mibps: totalMiB / (ms / 1000), cpuPerGiB: ((cpu1 - cpu0) / TICK) / (totalMiB / 1024) };
  } finally {
    proxy?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const variants = [pillion('pillion splice', {}), pillion('pillion stream piping', { PILLION_NO_NATIVE: '1' }), haproxy('haproxy mode tcp', false), haproxy('haproxy mode tcp + splice-auto', true), direct];
  const haveHaproxy = spawnSync('haproxy', ['-v']).status === 0;
  const active = variants.filter((v) => haveHaproxy || !v.name.startsWith('haproxy'));
  const results = new Map<string, { mibps: number[]; cpu: number[] }>();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? active : [...active].reverse();
    for (const v of order) {
      const x = await runOnce(v);
      const e = results.get(v.name) ?? { mibps: [], cpu: [] };
      e.mibps.push(x.mibps);
      e.cpu.push(x.cpuPerGiB);
      results.set(v.name, e);
    }
  }
  const hv = haveHaproxy ? spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : 'haproxy not installed';
  console.log(`L4 bulk transfer, ${totalMiB} MiB per run, one connection, loopback, median of ${rounds} rounds`);
  console.log(`node ${process.version}; ${cpus()[0]?.model} x${cpus().length}; ${hv}`);
  console.log('variant                          MiB/s   proxy CPU s/GiB');
  for (const v of active) {
    const e = results.get(v.name)!;
    console.log(`${v.name.padEnd(32)} ${median(e.mibps).toFixed(0).padStart(6)}   ${v === direct ? '-' : median(e.cpu).toFixed(3)}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
