// Shared pieces of the log-collection tests: temp dirs, an in-process collector with a capturing sink,
// an HTTP sink whose behaviour the test scripts, and a bounded wait.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Collector } from '../../src/logs/collector.js';
import { parseFlags } from '../../src/logs/flags.js';
import type { SendResult, Sink } from '../../src/logs/sink.js';
import { decodeLogBatch, type LogBatch, type LogRecord } from '../../src/logs/wire.js';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `pillion-logs-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Keeps every acknowledged record; `down` makes it answer `retry` without keeping anything. */
export class CaptureSink implements Sink {
  records: LogRecord[] = [];
  batches = 0;
  down = false;
  async send(batch: LogBatch): Promise<SendResult> {
    if (this.down) return { outcome: 'retry', error: 'down (test)' };
    this.records.push(...decodeLogBatch(batch));
    this.batches++;
    return { outcome: 'ok' };
  }
  /** Nothing in flight to give up on: send() answers at once. */
  abort(): void {}
  async close(): Promise<void> {}
  messages(): string[] {
    return this.records.map((r) => r.message);
  }
}

/** Fast timings for tests; `extra` flags come last and win. */
export function testArgs(stateDir: string, extra: string[]): string[] {
  const defaults = ['--state-dir', stateDir, '--sink', 'stdout', '--metrics-address', 'off', '--rescan-interval', '100ms', '--rotate-wait', '3s'];
  const out: string[] = [];
  for (let i = 0; i < defaults.length; i += 2) if (!extra.includes(defaults[i]!)) out.push(defaults[i]!, defaults[i + 1]!);
  return [...out, ...extra];
}

export async function startCollector(stateDir: string, extra: string[], sink: Sink = new CaptureSink()): Promise<Collector> {
  const c = new Collector(parseFlags(testArgs(stateDir, extra)), sink);
  await c.start();
  return c;
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * An HTTP sink. `behave(n)` decides for the n-th request (from 1): 'ok' keeps the lines and answers 200,
 * 'fail' answers 503 without keeping them, 'keep-and-hang' keeps them and never answers (a lost ack).
 */
export interface HttpSinkServer {
  url: string;
  lines: string[];
  /** Lines per request, in arrival order. */
  perRequest: string[][];
  requests: number;
  bodies: { type: string; encoding: string; text: string }[];
  behave: (n: number) => 'ok' | 'fail' | 'keep-and-hang';
  close: () => Promise<void>;
}

export async function startHttpSink(keepBodies = false): Promise<HttpSinkServer> {
  const s: HttpSinkServer = { url: '', lines: [], perRequest: [], requests: 0, bodies: [], behave: () => 'ok', close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = ++s.requests;
      const b = s.behave(n);
      if (b === 'fail') {
        res.writeHead(503).end('down');
        return;
      }
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const text = raw.toString();
      if (keepBodies) s.bodies.push({ type: String(req.headers['content-type']), encoding: String(req.headers['content-encoding'] ?? ''), text });
      const got = text.split('\n').filter((l) => l !== '');
      s.lines.push(...got);
      s.perRequest.push(got);
      if (b === 'ok') res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  s.url = `http://127.0.0.1:${addr.port}/push`;
  s.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return s;
}

/**
 * Checks that `seen` holds `<writer> 0..n-1` of each writer exactly once and in order (`n` per writer,
 * or one count for all); returns what is wrong, or null.
 */
export function checkSequences(seen: string[], writers: string[], n: number | Map<string, number>): string | null {
  const next = new Map(writers.map((w) => [w, 0]));
  for (const m of seen) {
    const [w, num] = m.split(' ');
    const want = next.get(w!);
    if (want === undefined) return `unexpected line '${m.slice(0, 80)}'`;
    if (Number(num) !== want) return `writer ${w}: got ${num}, expected ${want}`;
    next.set(w!, want + 1);
  }
  for (const [w, got] of next) {
    const want = typeof n === 'number' ? n : n.get(w);
    if (got !== want) return `writer ${w}: ${got} of ${want} lines`;
  }
  return null;
}
