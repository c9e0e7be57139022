// `npm run bench -- split`: where a proxied small GET's CPU goes, by measuring the parts alone.
//
//   pillion          the proxy as `npm run bench` runs it (uWS front, undici upstream)
//   uWS front alone  pillion answering a direct_response route: uWS + pillion's request handling
//   undici alone     an undici Pool with 64 requests in flight, pillion's dispatch options
//   nginx            for scale (when installed)
//
// User and system CPU per request are reported apart (from /proc/PID/stat, or process.cpuUsage for
// the undici client), since the kernel's share (loopback TCP) is one a proxy in user space cannot cut.
// Layout as in bench/run.ts: wrk on core 0, origin and the process measured on core 1; the undici
// client runs on core 0 (it is the load generator there). Needs wrk and taskset.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, TASKSET, freePort, sleep, waitHttp200, which } from './procs.js';
import { processTree } from './procstat.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = path.resolve(HERE, '../..');
const CLI = path.join(ROOT, 'dist/src/cli.js');
const WARMUP_S = 2;
const MEASURE_S = 5;

interface Row { name: string; rps: number; userUs: number; sysUs: number }

function ticks(pids: number[]): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const p of pids) {
    try {
      const t = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]);
      sys += Number(f[12]);
    } catch {
      // gone
    }
  }
  return { user, sys };
}

async function wrk(wrkBin: string, url: string, seconds: number): Promise<number> {
  const c = new Child('wrk', wrkBin, ['-t1', '-c64', `-d${seconds}s`, url], 0, { stdin: 'ignore' });
  await c.exitPromise;
  const m = /^\s*(\d+) requests in/m.exec(c.output());
  if (m === null) throw new Error(`wrk: ${c.output().slice(-400)}`);
  return Number(m[1]);
}

/** Load `url` with wrk and charge the CPU of `pid`'s process tree to the requests. */
async function measure(name: string, wrkBin: string, pid: number, url: string): Promise<Row> {
  await wrk(wrkBin, url, WARMUP_S);
  const pids = processTree(pid);
  const a = ticks(pids);
  const t0 = performance.now();
  const n = await wrk(wrkBin, url, MEASURE_S);
  const s = (performance.now() - t0) / 1000;
  const b = ticks(pids);
  const hz = 100; // USER_HZ
  return { name, rps: n / s, userUs: ((b.user - a.user) / hz) * 1e6 / n, sysUs: ((b.sys - a.sys) / hz) * 1e6 / n };
}

async function main(): Promise<void> {
  const wrkBin = which('wrk');
  if (wrkBin === null || TASKSET === null || os.cpus().length < 2) {
    process.stderr.write('bench split: needs wrk, taskset and 2 cores\n');
    process.exitCode = 2;
    return;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pillion-split-'));
  const rows: Row[] = [];
  const origin = new Child('origin', process.execPath, [path.join(HERE, 'origin.js'), '0'], 1);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      origin.proc.stdout!.once('data', (b: Buffer) => { try { resolve((JSON.parse(b.toString()) as { port: number }).port); } catch (e) { reject(e as Error); } });
    });
    const originUrl = `http://127.0.0.1:${port}`;

    const run = async (name: string, args: (listen: number) => string[]): Promise<void> => {
      process.stderr.write(`${name} ...\n`);
      const listen = await freePort();
      const admin = await freePort();
      const p = new Child(name, process.execPath, [CLI, 'proxy', '--admin', `127.0.0.1:${admin}`, ...args(listen)], 1);
      try {
        await waitHttp200(`http://127.0.0.1:${admin}/ready`, p);
        rows.push(await measure(name, wrkBin, p.pid, `http://127.0.0.1:${listen}/small`));
      } finally {
        await p.stop();
      }
    };
    await run('pillion', (listen) => ['--listen', `127.0.0.1:${listen}`, '--upstream', originUrl]);
    await run('uWS front alone (direct_response)', (listen) => {
      const file = path.join(tmp, 'direct.yaml');
      writeFileSync(file, `listeners:\n  - name: ingress\n    address: 127.0.0.1\n    port: ${listen}\n    routes:\n      - match: { prefix: / }\n        direct_response: { status: 200, body: "hello world\\n" }\nclusters: []\n`);
      return ['--config', file];
    });

    process.stderr.write('undici alone ...\n');
    const u = new Child('undici', process.execPath, [path.join(HERE, 'undici-alone.js'), originUrl, String(WARMUP_S), String(MEASURE_S)], 0);
    await u.exitPromise;
    const m = /^(\{.*\})$/m.exec(u.output());
    if (m === null) throw new Error(`undici-alone: ${u.output().slice(-400)}`);
    const j = JSON.parse(m[1]!) as { rps: number; userUs: number; sysUs: number };
    rows.push({ name: 'undici alone (client on core 0)', ...j });

    const nginxBin = which('nginx');
    if (nginxBin !== null) {
      process.stderr.write('nginx ...\n');
      const dir = path.join(tmp, 'nginx');
      mkdirSync(path.join(dir, 'logs'), { recursive: true });
      const np = await freePort();
      writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  keepalive_requests 10000000; keepalive_timeout 120s;
  upstream origin { server 127.0.0.1:${port}; keepalive 64; keepalive_requests 10000000; }
  server { listen 127.0.0.1:${np}; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
    proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; } } }
`);
      const n = new Child('nginx', nginxBin, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], 1);
      try {
        await waitHttp200(`http://127.0.0.1:${np}/small`, n);
        await sleep(200);
        rows.push(await measure('nginx (1 worker, upstream keepalive)', wrkBin, n.pid, `http://127.0.0.1:${np}/small`));
      } finally {
        await n.stop('SIGQUIT');
      }
    }
  } finally {
    await origin.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`\nsmall GET, 64 connections, node ${process.version}, ${os.cpus().length} cores; CPU of the process measured, per request\n\n`);
  process.stdout.write(`${'case'.padEnd(w)}  ${'req/s'.padStart(8)}  ${'user us'.padStart(8)}  ${'sys us'.padStart(8)}  ${'total'.padStart(8)}\n`);
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(w)}  ${Math.round(r.rps).toLocaleString('en-US').padStart(8)}  ${r.userUs.toFixed(1).padStart(8)}  ${r.sysUs.toFixed(1).padStart(8)}  ${(r.userUs + r.sysUs).toFixed(1).padStart(8)}\n`);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench split: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
