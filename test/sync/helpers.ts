// Shared bits for the sync integration tests: temp dirs, a log capture, polling with a deadline,
// spawning the real CLI, and a config centre on node:http that speaks ETag/Last-Modified/304.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../src/sync/common/log.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pillion-${prefix}-`));
}

export function captureLogger(component: string): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger(component, { level: 'debug', write: (l) => { lines.push(l); } }), lines };
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface CliRun {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function runCli(args: string[]): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

/** Waits for the "status server listening addr=host:port" line and returns the port. */
export async function statusPort(run: CliRun): Promise<number> {
  let port = 0;
  await waitFor('status server line', () => {
    const m = /status server listening addr=[^\s:]+:(\d+)/.exec(run.stderr());
    if (m !== null) port = Number(m[1]);
    return m !== null;
  });
  return port;
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** Runs promtool's metrics linter; returns null when promtool is not installed. */
export function promtoolCheck(text: string): { ok: boolean; output: string } | null {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error !== undefined) return null;
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** A config centre: serves `body` with a strong ETag and Last-Modified, answers 304 when it can. */
export class ConfigCentre {
  body: Buffer = Buffer.from('{}');
  lastModified = new Date();
  /** Counters the tests assert on. */
  full = 0;
  notModified = 0;
  failNext = 0;
  requiredAuth: string | null = null;
  /** false: serve Last-Modified only, so only If-Modified-Since can produce a 304. */
  sendEtag = true;
  readonly seenAuth: string[] = [];
  private server: Server | null = null;
  port = 0;

  set(body: string | Buffer): void {
    this.body = Buffer.isBuffer(body) ? body : Buffer.from(body);
    // HTTP dates have one-second resolution: step forward so If-Modified-Since alone would see it.
    this.lastModified = new Date(Math.max(Date.now(), this.lastModified.getTime() + 1000));
  }

  etag(): string {
    return `"${createHash('sha256').update(this.body).digest('hex').slice(0, 16)}"`;
  }

  private handle(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    this.seenAuth.push(String(req.headers.authorization ?? ''));
    if (this.failNext > 0) {
      this.failNext--;
      res.writeHead(503).end('down');
      return;
    }
    if (this.requiredAuth !== null && req.headers.authorization !== this.requiredAuth) {
      res.writeHead(401).end();
      return;
    }
    const etag = this.etag();
    const inm = this.sendEtag ? req.headers['if-none-match'] : undefined;
    const ims = req.headers['if-modified-since'];
    const fresh = inm !== undefined ? inm === etag : ims !== undefined && new Date(ims).getTime() >= Math.floor(this.lastModified.getTime() / 1000) * 1000;
    if (fresh) {
      this.notModified++;
      res.writeHead(304, this.sendEtag ? { etag } : {}).end();
      return;
    }
    this.full++;
    const headers: Record<string, string> = { 'last-modified': this.lastModified.toUTCString(), 'content-type': 'application/json' };
    if (this.sendEtag) headers.etag = etag;
    res.writeHead(200, headers).end(this.body);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}/config.json`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
