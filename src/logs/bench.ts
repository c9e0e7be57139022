// Log-collection benchmark: 10 files of ~110-byte lines read from their start by a fresh
// `pillion logs` process, to a file sink and to an HTTP sink (NDJSON; gzip and not), until the collector's
// /metrics says every line was acknowledged. Reports lines/s and input MiB/s over the wall time, the
// collector's CPU seconds (utime+stime from /proc) and its peak RSS (VmHWM).
//   node dist/src/logs/bench.js [--mib-per-file N] [--cases file,http,http-gzip] [--extra 'collector flags'] [--node-flags 'node flags']
// The HTTP receiver runs in another process and only drains bodies (like the TCP sink of Vector's
// file-to-tcp harness); it shares the machine's cores with the collector.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../cli.js', import.meta.url).pathname;
const FILES = 10;
/** Extra collector flags: --extra '--batch-max-bytes 524288'. */
const EXTRA = arg('--extra', '').split(' ').filter((a) => a !== '');
/** Node flags for the collector process: --node-flags '--max-semi-space-size=2'. */
const NODE_FLAGS = arg('--node-flags', '').split(' ').filter((a) => a !== '');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? def : process.argv[i + 1]!;
}

function generate(dir: string, mib: number): { lines: number; bytes: number } {
  let lines = 0;
  let bytes = 0;
  const paths = ['/api/v1/items', '/api/v1/users/42', '/healthz', '/api/v2/orders?page=3', '/static/app.js'];
  for (let f = 0; f < FILES; f++) {
    const fd = openSync(join(dir, `app-${f}.log`), 'w');
    let written = 0;
    let n = 0;
    while (written < mib * 1024 * 1024) {
      let chunk = '';
      for (let k = 0; k < 5000; k++, n++) {
        chunk += `2024-05-01T10:${String((n / 60000) % 60 | 0).padStart(2, '0')}:00.${String(n % 1000).padStart(3, '0')}Z INFO [worker-${n % 8}] request id=${(n * 2654435761 >>> 0).toString(16)} path=${paths[n % 5]} status=${n % 17 === 0 ? 500 : 200} duration_ms=${n % 97}\n`;
      }
      writeSync(fd, chunk);
      written += Buffer.byteLength(chunk);
      lines += 5000;
    }
    closeSync(fd);
    bytes += written;
  }
  return { lines, bytes };
}

const RECEIVER = `
const http = require('node:http');
const s = http.createServer((req, res) => { req.on('data', () => {}); req.on('end', () => res.end('{}')); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
`;

function startReceiver(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(String(d).trim()) })));
}

function procStat(pid: number): { cpuS: number; hwmMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS, hwmMiB: hwm === null ? 0 : Number(hwm[1]) / 1024 };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function shipped(port: number): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = /^pillion_logs_records_shipped_total (\d+)$/m.exec(text);
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0; // not listening yet
  }
}

async function runCase(name: string, dir: string, total: { lines: number; bytes: number }): Promise<string> {
  const state = join(dir, `state-${name}`);
  const metricsPort = await freePort();
  let receiver: { child: ChildProcess; port: number } | null = null;
  const sinkArgs: string[] = [];
  if (name === 'file') sinkArgs.push('--sink', `file:${join(dir, 'out.ndjson')}`);
  else {
    receiver = await startReceiver();
    sinkArgs.push('--sink', `http://127.0.0.1:${receiver.port}/push`);
    if (name === 'http') sinkArgs.push('--no-gzip');
  }
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'logs', '--path', join(dir, '*.log'), '--state-dir', state, '--metrics-address', `127.0.0.1:${metricsPort}`, ...sinkArgs, ...EXTRA], { stdio: ['ignore', 'ignore', 'inherit'] });
  let done = 0;
  let exited = false;
  child.once('exit', () => { exited = true; });
  const deadline = Date.now() + 300_000;
  while (done < total.lines && Date.now() < deadline && !exited) {
    await new Promise((r) => setTimeout(r, 50));
    done = await shipped(metricsPort);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const ps = procStat(child.pid!);
  if (!exited) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  receiver?.child.kill('SIGTERM');
  if (name === 'file') rmSync(join(dir, 'out.ndjson'), { force: true });
  const mibs = total.bytes / 1024 / 1024 / secs;
  return `${name.padEnd(10)} ${String(done).padStart(9)} lines in ${secs.toFixed(2)} s: ${(done / secs / 1000).toFixed(0)} k lines/s, ${mibs.toFixed(1)} MiB/s; collector CPU ${ps.cpuS.toFixed(2)} s (${((ps.cpuS / secs) * 100).toFixed(0)} % of a core), peak RSS ${ps.hwmMiB.toFixed(0)} MiB${done < total.lines ? ' (INCOMPLETE)' : ''}`;
}

async function main(): Promise<void> {
  const mib = Number(arg('--mib-per-file', '20'));
  const cases = arg('--cases', 'file,http,http-gzip').split(',');
  const dir = mkdtempSync(join(tmpdir(), 'pillion-logs-bench-'));
  try {
    const total = generate(dir, mib);
    const avg = total.bytes / total.lines;
    process.stdout.write(`collector: node ${NODE_FLAGS.join(' ')} … logs ${EXTRA.join(' ')}\n`);
    process.stdout.write(`node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${FILES} files, ${total.lines} lines of ${avg.toFixed(0)} bytes, ${(total.bytes / 1024 / 1024).toFixed(0)} MiB (sizes: ${statSync(join(dir, 'app-0.log')).size} bytes each)\n`);
    for (const c of cases) process.stdout.write((await runCase(c, dir, total)) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
