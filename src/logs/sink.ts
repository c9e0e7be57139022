// Where batches go, one attempt per call: the collector owns retries, because at-least-once here means
// "retry until acknowledged" (the files are the buffer), not the access logs' "retry, then spool".
// Bodies are the access-log sinks' wire formats (src/workers/log-ship.worker.ts): NDJSON, Loki push
// JSON, Elasticsearch bulk; gzip for HTTP. TODO(logs): ship through the log-ship pool once its
// payload/post helpers are exported (asked in /tmp/pillion-bugs.md); zlib's async gzip already runs
// off the main thread, on the libuv pool.
import { open } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { SinkOptions } from './flags.js';
import { rfc3339ToNs } from './formats.js';

const gzipAsync = promisify(gzip);

/** One record; `fields` and `labels` belong to its file and are shared, not copied. */
export interface LogRecord {
  /** The file's static JSON members, pre-serialised (`"file":"…","namespace":"…"`), no braces. */
  fields: string;
  /** The file's Loki labels (stream is added per record). */
  labels: Record<string, string>;
  /** RFC 3339 time: the runtime's for container lines, the read time otherwise. */
  time: string;
  readMs: number;
  /** stdout/stderr for container lines; null for plain files. */
  stream: string | null;
  message: string;
}

/** `ok`: acknowledged. `retry`: try again later. `reject`: the sink refuses this batch for good (a 4xx). */
export interface SendResult {
  outcome: 'ok' | 'retry' | 'reject';
  error?: string;
}

export interface Sink {
  send(records: readonly LogRecord[]): Promise<SendResult>;
}

export function ndjsonLine(r: LogRecord): string {
  return `{"time":"${r.time}",${r.fields}${r.stream === null ? '' : `,"stream":"${r.stream}"`},"message":${JSON.stringify(r.message)}}`;
}

export function ndjson(records: readonly LogRecord[]): string {
  let s = '';
  for (const r of records) s += ndjsonLine(r) + '\n';
  return s;
}

/** Loki push: one stream per label set (file labels + stream), values in read order. */
export function lokiBody(records: readonly LogRecord[], extra: Record<string, string>): string {
  const streams = new Map<Record<string, string>, Map<string, [string, string][]>>();
  for (const r of records) {
    let byStream = streams.get(r.labels);
    if (byStream === undefined) streams.set(r.labels, (byStream = new Map()));
    const key = r.stream ?? '';
    let values = byStream.get(key);
    if (values === undefined) byStream.set(key, (values = []));
    values.push([rfc3339ToNs(r.time, r.readMs), r.message]);
  }
  const out: { stream: Record<string, string>; values: [string, string][] }[] = [];
  for (const [labels, byStream] of streams) {
    for (const [stream, values] of byStream) out.push({ stream: stream === '' ? { ...extra, ...labels } : { ...extra, ...labels, stream }, values });
  }
  return JSON.stringify({ streams: out });
}

export function elasticsearchBody(records: readonly LogRecord[], index: string): string {
  const action = JSON.stringify({ index: { _index: index } });
  let s = '';
  for (const r of records) s += `${action}\n${ndjsonLine(r)}\n`;
  return s;
}

class StdoutSink implements Sink {
  send(records: readonly LogRecord[]): Promise<SendResult> {
    return new Promise((resolve) => {
      process.stdout.write(ndjson(records), (err) => resolve(err ? { outcome: 'retry', error: err.message } : { outcome: 'ok' }));
    });
  }
}

/** Appends to the file, opened per batch (a logrotate rename needs nothing more), fdatasync before the ack. */
class FileSink implements Sink {
  constructor(private readonly path: string, private readonly fsync: boolean) {}

  async send(records: readonly LogRecord[]): Promise<SendResult> {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      const fh = await open(this.path, 'a');
      try {
        await fh.writeFile(ndjson(records));
        if (this.fsync) await fh.datasync();
      } finally {
        await fh.close();
      }
      return { outcome: 'ok' };
    } catch (err) {
      return { outcome: 'retry', error: (err as Error).message };
    }
  }
}

/**
 * POSTs with node:http on a keep-alive agent rather than fetch: one request at a time, a string or
 * buffer body, no web streams; that is about a third less memory at full rate.
 */
class HttpSink implements Sink {
  private readonly type: string;
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(private readonly o: Extract<SinkOptions, { kind: 'http' }>) {
    this.type = o.preset === 'loki' ? 'application/json' : 'application/x-ndjson';
    this.url = new URL(o.url);
    const https = this.url.protocol === 'https:';
    this.agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.request = https ? httpsRequest : httpRequest;
  }

  async send(records: readonly LogRecord[]): Promise<SendResult> {
    const o = this.o;
    const text = o.preset === 'loki' ? lokiBody(records, o.labels) : o.preset === 'elasticsearch' ? elasticsearchBody(records, o.index) : ndjson(records);
    // Level 1: gzip's fastest; log text still shrinks several times over and the CPU goes to reading.
    const body: string | Buffer = o.gzip ? await gzipAsync(text, { level: 1 }) : text;
    const r = await this.post(body);
    if ('error' in r) return { outcome: 'retry', error: r.error };
    if (r.status >= 200 && r.status < 300) {
      // Elasticsearch answers 200 to a bulk request whose items failed; those are retried whole.
      if (o.preset === 'elasticsearch' && /^\s*\{"(?:took":\d+,")?errors":true/.test(r.answer)) return { outcome: 'retry', error: 'bulk response has errors' };
      return { outcome: 'ok' };
    }
    // A 4xx other than 408/429 will not get better by retrying (the access-log worker's rule too).
    if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
      return { outcome: 'reject', error: `HTTP ${r.status}: ${r.answer.slice(0, 200)}` };
    }
    return { outcome: 'retry', error: `HTTP ${r.status}` };
  }

  private post(body: string | Buffer): Promise<{ status: number; answer: string } | { error: string }> {
    const o = this.o;
    return new Promise((resolve) => {
      const req = this.request(this.url, {
        method: 'POST',
        agent: this.agent,
        timeout: o.timeoutMs,
        headers: {
          ...o.headers,
          'content-type': this.type,
          'content-length': Buffer.byteLength(body),
          ...(o.gzip ? { 'content-encoding': 'gzip' } : {}),
        },
      }, (res) => {
        let answer = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { if (answer.length < 4096) answer += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, answer }));
        res.on('error', (err) => resolve({ error: err.message }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
      req.on('error', (err) => resolve({ error: err.message }));
      req.end(body);
    });
  }
}

export function createSink(o: SinkOptions): Sink {
  if (o.kind === 'stdout') return new StdoutSink();
  if (o.kind === 'file') return new FileSink(o.path, o.fsync);
  return new HttpSink(o);
}
