// Runs the real `pillion proxy` CLI as a child process on free ports (port 0: the proxy picks free
// ports and names them in its start line), waits until it serves, reads its admin stats, and stops it.
// Every child started here is killed when the test process exits, even after a failed assertion.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './util.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export interface ProxyOptions {
  /** CLI arguments after `proxy`. Without `--listen`/`--admin`/`--config`, 127.0.0.1:0 is used. */
  args?: string[];
  /** A config file's text (YAML or JSON); written to a temp file and passed with --config. */
  config?: string;
  /** File name for the config (its extension matters to nobody, but shows in messages). */
  configName?: string;
  /** Default drain time for tests: 0, so that stopping is quick. */
  drainTime?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the start line and /ready (default 15 s). */
  startTimeoutMs?: number;
}

export class Proxy {
  /** Listener name -> bound port, from the start line. */
  readonly ports = new Map<string, number>();
  adminPort = 0;
  private err = '';
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;
  exitSignal: NodeJS.Signals | null = null;

  constructor(readonly child: ChildProcess, readonly configFile: string | undefined, private readonly dir: string) {
    children.add(child);
    child.stderr!.on('data', (d: Buffer) => { this.err += d.toString(); });
    child.stdout!.resume();
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      this.exitCode = code;
      this.exitSignal = signal;
      children.delete(child);
      resolve(code);
    }));
  }

  /** The first listener's port. */
  get port(): number {
    return this.ports.values().next().value ?? 0;
  }

  get pid(): number {
    return this.child.pid!;
  }

  stderr(): string {
    return this.err;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  /** Rewrites the config file (for SIGHUP or --watch reloads). */
  writeConfig(text: string): void {
    if (this.configFile === undefined) throw new Error('this proxy was started without a config file');
    writeFileSync(this.configFile, text);
  }

  /** Stats as a map: name -> value (from `GET /stats`). */
  async stats(): Promise<Map<string, number>> {
    const res = await fetch(`${this.adminUrl}/stats`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const m = new Map<string, number>();
    for (const line of text.split('\n')) {
      const i = line.lastIndexOf(': ');
      if (i > 0) m.set(line.slice(0, i), Number(line.slice(i + 2)));
    }
    return m;
  }

  /** One stat; throws when the proxy does not have it (a typo must not read as 0). */
  async stat(name: string): Promise<number> {
    const v = (await this.stats()).get(name);
    if (v === undefined) throw new Error(`no stat named ${name}`);
    return v;
  }

  /** Waits until a stat has the value (stats are read at scrape time; drains are asynchronous). */
  async waitStat(name: string, value: number, timeoutMs = 5000): Promise<void> {
    let last: number | undefined;
    await waitFor(`${name} == ${value} (last ${last})`, async () => (last = await this.stat(name)) === value, timeoutMs)
      .catch((e: Error) => { throw new Error(`${e.message}; ${name} was ${last}`); });
  }

  async admin(path: string, method = 'GET'): Promise<{ status: number; body: string; headers: Headers }> {
    const res = await fetch(`${this.adminUrl}${path}`, { method, signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text(), headers: res.headers };
  }

  /** Resident set size of the proxy process, in bytes (Linux /proc). */
  rss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    if (m === null) throw new Error('no VmRSS line');
    return Number(m[1]) * 1024;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exitCode === undefined) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code (null when killed). */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.exitCode === undefined) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return this.exitCode ?? null;
  }
}

/** Writes a config into a fresh temp dir; returns its path. */
export function writeTempConfig(text: string, name = 'pillion.yaml'): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-it-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return { file, dir };
}

/** Spawns the CLI without waiting for anything (for exit-code tests). */
export function spawnProxy(opts: ProxyOptions = {}): Proxy {
  const args = ['proxy', ...(opts.args ?? [])];
  let file: string | undefined;
  let dir: string;
  if (opts.config !== undefined) {
    ({ file, dir } = writeTempConfig(opts.config, opts.configName));
    args.push('--config', file);
  } else {
    dir = mkdtempSync(join(tmpdir(), 'pillion-it-'));
  }
  const has = (f: string) => args.includes(f);
  if (opts.config === undefined && !has('--listen')) args.push('--listen', '127.0.0.1:0');
  if (!has('--admin') && (opts.config === undefined || !/^admin:/m.test(opts.config))) args.push('--admin', '127.0.0.1:0');
  if (!has('--drain-time')) args.push('--drain-time', opts.drainTime ?? '0ms');
  // A test that leaves a request hanging must not wait the default 30 s to stop.
  if (!has('--drain-timeout')) args.push('--drain-timeout', '2s');
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The temp dir, removed by stop(): a core file from a crashing proxy never lands in the repository.
    cwd: dir,
    env: { ...process.env, ...opts.env },
  });
  return new Proxy(child, file, dir);
}

/** Starts the proxy and waits for its start line and for `/ready` to answer 200. */
export async function startProxy(opts: ProxyOptions = {}): Promise<Proxy> {
  const p = spawnProxy(opts);
  const timeout = opts.startTimeoutMs ?? 15_000;
  try {
    await waitFor('the start line', () => {
      if (p.exitCode !== undefined) throw new Error(`proxy exited with ${p.exitCode} before starting:\n${p.stderr()}`);
      return /pillion proxy: .*admin on http:\/\/[^:]+:\d+/.test(p.stderr());
    }, timeout);
    const line = /pillion proxy: (.*)$/m.exec(p.stderr())![1]!;
    for (const m of line.matchAll(/listener (\S+) on https?:\/\/[^\s]+:(\d+)/g)) p.ports.set(m[1]!, Number(m[2]));
    p.adminPort = Number(/admin on http:\/\/[^\s]+:(\d+)/.exec(line)![1]);
    await waitFor('/ready 200', async () => {
      try {
        return (await fetch(`${p.adminUrl}/ready`, { signal: AbortSignal.timeout(1000) })).status === 200;
      } catch {
        return false;
      }
    }, timeout);
  } catch (err) {
    await p.stop(1000);
    throw new Error(`${(err as Error).message}\nproxy stderr:\n${p.stderr()}`);
  }
  return p;
}

/** A one-listener config in YAML with the given routes and clusters (ports 0). */
export function yamlConfig(opts: {
  routes: string;
  clusters: string;
  extra?: string;
  listenerName?: string;
  /** The listener's front: 'uws' (default) or 'node'. */
  front?: string;
  /** YAML added to the listener (access_log, filters...), unindented. */
  listenerExtra?: string;
}): string {
  return `admin:
  address: 127.0.0.1
  port: 0
listeners:
  - name: ${opts.listenerName ?? 'ingress'}
    address: 127.0.0.1
    port: 0
${opts.front !== undefined && opts.front !== 'uws' ? `    front: ${opts.front}\n` : ''}${opts.listenerExtra !== undefined ? `${indent(opts.listenerExtra, 4)}\n` : ''}    routes:
${indent(opts.routes, 6)}
clusters:
${indent(opts.clusters, 2)}
${opts.extra ?? ''}`;
}

/** Dedents `text` (as written in a template literal) and indents it by `n` spaces. */
export function indent(text: string, n: number): string {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const min = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  const pad = ' '.repeat(n);
  return lines.map((l) => (l.trim() === '' ? '' : pad + l.slice(min))).join('\n');
}
