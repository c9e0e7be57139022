// Child processes of the bench: spawn (pinned with taskset when asked), keep the tail of their
// output for error messages, and make sure none outlives the bench, whatever happens to it
// (normal end, exception, Ctrl-C, SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { processTree } from './procstat.js';

const live = new Set<ChildProcess>();

/** SIGKILL a child and everything below it (a killed nginx master leaves its worker running). */
function killTree(c: ChildProcess): void {
  const pids = c.pid !== undefined && c.exitCode === null && c.signalCode === null ? processTree(c.pid) : [];
  for (const pid of pids.reverse()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone: nothing left to kill
    }
  }
}

function killAllNow(): void {
  for (const c of live) killTree(c);
  live.clear();
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping every child process\n`);
    killAllNow();
    process.exit(130);
  });
}

/** Where taskset lives, or null. */
export const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p)) ?? null;

export function which(name: string, extra: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin', ...extra];
  for (const d of dirs) {
    if (d !== '' && existsSync(`${d}/${name}`)) return `${d}/${name}`;
  }
  return null;
}

export class Child {
  readonly proc: ChildProcess;
  private tail = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exited = false;
  readonly exitPromise: Promise<void>;

  constructor(readonly name: string, cmd: string, args: string[], core: number | null, opts: { cwd?: string; stdin?: 'pipe' | 'ignore' } = {}) {
    const [file, argv] = core !== null && TASKSET !== null ? [TASKSET, ['-c', String(core), cmd, ...args]] : [cmd, args];
    // taskset execs the command, so proc.pid is the command's own pid.
    this.proc = spawn(file, argv, { cwd: opts.cwd, stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'] });
    live.add(this.proc);
    const keep = (b: Buffer): void => {
      this.tail = (this.tail + b.toString('utf8')).slice(-4000);
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.proc.stdin?.on('error', () => undefined); // EPIPE once the child is gone
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        live.delete(this.proc);
        resolve();
      });
      this.proc.on('error', (err) => {
        this.tail += `\nspawn error: ${err.message}`;
        this.exited = true;
        live.delete(this.proc);
        resolve();
      });
    });
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error(`${this.name}: not started (${this.output().trim()})`);
    return this.proc.pid;
  }

  output(): string {
    return this.tail;
  }

  describeExit(): string {
    return this.exitSignal !== null ? `killed by ${this.exitSignal}` : `exit code ${String(this.exitCode)}`;
  }

  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`. Always resolves. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
    if (this.exited) return;
    if (signal === 'SIGKILL') killTree(this.proc);
    else {
      try {
        this.proc.kill(signal);
      } catch {
        // raced with its exit
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        killTree(this.proc);
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exitPromise, killed]);
    clearTimeout(timer);
    await Promise.race([this.exitPromise, new Promise((r) => setTimeout(r, 1000))]);
  }
}

/** A TCP port that was free a moment ago (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = a !== null && typeof a === 'object' ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** One GET; resolves with the status code (0 on a socket error), never rejects. */
export function httpGetStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    // The TLS candidates use a certificate made for the run: no verification here.
    const get = url.startsWith('https:') ? (u: string, o: object, cb: (r: http.IncomingMessage) => void) => https.get(u, { ...o, rejectUnauthorized: false }, cb) : http.get;
    const req = get(url, { agent: false, timeout: timeoutMs, headers: { 'x-api-key': 'bench-api-key-0001' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

/** Polls `url` until it answers 200, the child exits, or `timeoutMs` passes. */
export async function waitHttp200(url: string, child: Child | null, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (child !== null && child.exited) {
      throw new Error(`${child.name} exited (${child.describeExit()}) before ${url} answered: ${child.output().trim().slice(-1500)}`);
    }
    last = await httpGetStatus(url, 1000);
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last status ${last})${child !== null ? `: ${child.output().trim().slice(-1500)}` : ''}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
