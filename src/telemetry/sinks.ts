// The sinks, once, for everything that ships log lines: access logs (src/telemetry/shipper.ts) and
// `pillion logs` (src/logs/sink.ts). Both run this code inside the log-ship pool
// (src/workers/log-ship.worker.ts); the producers only decide what a line is and what to do when a
// sink fails (access logs: retry, then spool; pillion logs: retry until acknowledged, reading paused).
//
//   lines ──▶ stdout: text back to the main thread (it owns stdout)
//         ├─▶ file:   appended (opened per batch, so a logrotate rename needs nothing), fdatasync on request
//         └─▶ HTTP:   payload() NDJSON | Loki push | Elasticsearch bulk, gzip ──▶ post() with jittered retries
import { closeSync, fdatasyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { HttpSink } from './config.js';
import { abortAll, exiting, postOnce } from './http-post.js';
import { CLOSE_CHANNEL } from './record.js';

/** Where a sink delivers: the part of a sink's config that this module reads. */
export interface SinkTarget {
  kind: 'stdout' | 'file' | 'http';
  /** File sinks. */
  path: string | null;
  http: HttpSink | null;
  /** Attempts per batch (HTTP), with jittered backoff between them. */
  retry_max_attempts: number;
  /** File sinks: fdatasync before a batch counts as written (pillion logs; access logs do not). */
  fsync?: boolean;
}

/** One Loki stream of a push: its labels and `[nanoseconds since the epoch, line]` values. */
export interface LokiStream {
  stream: Record<string, string>;
  values: [string, string][];
}

/**
 * A batch of records as the sinks take it; each producer says how its records become text (the access
 * logs from formatted lines, pillion logs straight from its batch's bytes: src/logs/wire.ts).
 */
export interface Lines {
  /** The records one a line, each ended by a newline: stdout, a file, the NDJSON preset. */
  text(): string | Buffer;
  /** Elasticsearch bulk: the `action` line, then the record as a JSON document, for each record. */
  bulk(action: string): string | Buffer;
  /** The batch as Loki streams; `labels` are the sink's, to merge into each stream's own. */
  loki(labels: Record<string, string>): LokiStream[];
}

/** Lines from an array of formatted lines; `json`: they are JSON objects, else a bulk document wraps each as `{"message":line}`. */
export function linesOf(lines: readonly string[], json: boolean, loki: Lines['loki']): Lines {
  return {
    text: () => lines.join('\n') + '\n',
    bulk(action) {
      let s = '';
      for (const l of lines) s += `${action}\n${json ? l : JSON.stringify({ message: l })}\n`;
      return s;
    },
    loki,
  };
}

/**
 * Appends to the file (created with its directory when missing). Synchronous: the pool's single
 * thread is the one writer, so appends stay in batch order. Returns an error message, or null.
 */
export function appendToFile(path: string, data: string | Buffer, fsync: boolean): string | null {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a');
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
      if (fsync) fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export function contentType(h: HttpSink): string {
  return h.preset === 'loki' ? 'application/json' : 'application/x-ndjson';
}

/**
 * The HTTP body of a batch for the sink's preset, gzipped when the sink takes gzip. `windowBits`: the
 * deflate window; access logs use 12 (4 KiB, see ACCESS_LOG_WINDOW_BITS).
 */
export function payload(h: HttpSink, b: Lines, windowBits = 15): { body: Buffer; type: string } {
  let s: string | Buffer;
  if (h.preset === 'loki') s = JSON.stringify({ streams: b.loki(h.labels) });
  else if (h.preset === 'elasticsearch') s = b.bulk(JSON.stringify({ index: { _index: h.index } }));
  else s = b.text();
  const raw = typeof s === 'string' ? Buffer.from(s) : s;
  // Level 1, gzip's fastest: log text still shrinks several times over, and the CPU is left to the
  // producers (formatting here, reading files in pillion logs).
  return { body: h.gzip ? gzipSync(raw, { level: 1, windowBits }) : raw, type: contentType(h) };
}

/**
 * Access-log lines compress faster and as well or better with a 4 KiB window than with gzip's 32 KiB
 * (measured, level 1, 4,096 lines of Envoy's default format: 0.38 against 0.55 us a line, ratio 6.75
 * against 6.32; JSON lines with request ids: 15 % faster, ratio 7.0 against 7.3): what repeats in them
 * repeats from the lines just before, and the smaller tables stay in cache. Any gzip reader takes it.
 */
export const ACCESS_LOG_WINDOW_BITS = 12;

export interface PostResult {
  ok: boolean;
  /** The sink refused this batch for good (a 4xx other than 408 and 429): neither retry nor spool it. */
  refused: boolean;
  attempts: number;
  error?: string;
}

// Exit is near (the shipper's close(), the collector's stop deadline): posts still waiting on a sink
// are aborted, so that their batches go to the spool or stay behind the checkpoint instead of holding
// the exit up. The flag is the client's (`exiting()`), one per thread: the process is going.
let closeChannel: BroadcastChannel | null = null;

/** Listens for the exit, in the threads that post (only those: the main threads merely send it). */
function listenForClose(): void {
  if (closeChannel !== null) return;
  closeChannel = new BroadcastChannel(CLOSE_CHANNEL);
  closeChannel.onmessage = () => abortAll();
  (closeChannel as unknown as { unref(): void }).unref();
}

/** Tells every log-ship thread of this process to abort its posts and start no more. */
export function abortPosts(): void {
  const ch = new BroadcastChannel(CLOSE_CHANNEL);
  ch.postMessage('close');
  ch.close();
}

/** Full jitter: a random wait below 100 ms x 2^attempt, capped. */
export function backoffMs(attempt: number, capMs = 5000): number {
  return Math.random() * Math.min(capMs, 100 * 2 ** attempt);
}

// Elasticsearch answers 200 to a bulk request whose items failed. Only its start is read.
const BULK_ERRORS = /^\s*\{"(?:took":\d+,")?errors":true/;

/**
 * The request's header lines for a sink (src/telemetry/http-post.ts adds Content-Length). Credentials
 * in the URL (`https://user:pass@host/`) become Basic authorization, unless the sink sets its own.
 */
export function requestHead(url: URL, h: HttpSink, type: string): string {
  let head = `host: ${h.headers.host ?? url.host}\r\ncontent-type: ${type}\r\n`;
  if (h.gzip) head += 'content-encoding: gzip\r\n';
  if (url.username !== '' && h.headers.authorization === undefined) {
    const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    head += `authorization: Basic ${Buffer.from(user).toString('base64')}\r\n`;
  }
  for (const [k, v] of Object.entries(h.headers)) if (k !== 'host') head += `${k}: ${v}\r\n`;
  return head;
}

/**
 * POSTs a payload, up to `retry_max_attempts` times with jittered backoff. `bulkErrors`: an
 * Elasticsearch 200 whose items failed counts as a failure (pillion logs retries it; access logs, which
 * would spool it for good, take the 200).
 */
export async function post(t: SinkTarget, body: Buffer, type: string, bulkErrors = false): Promise<PostResult> {
  const h = t.http!;
  const url = new URL(h.url);
  const checkBulk = bulkErrors && h.preset === 'elasticsearch';
  const head = requestHead(url, h, type);
  listenForClose();
  let error = '';
  for (let attempt = 1; attempt <= t.retry_max_attempts && !exiting(); attempt++) {
    const r = await postOnce(url, head, body, h.timeout_ms, checkBulk);
    if ('error' in r) {
      error = r.error;
    } else if (r.status >= 200 && r.status < 300) {
      if (!checkBulk || !BULK_ERRORS.test(r.answer)) return { ok: true, refused: false, attempts: attempt };
      error = 'bulk response has errors';
    } else {
      error = `HTTP ${r.status}`;
      // A 4xx other than 408 and 429 will not get better by retrying, nor by spooling: the sink is up
      // and refuses this batch (a spooled copy would block the spool behind it).
      if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
        return { ok: false, refused: true, attempts: attempt, error };
      }
    }
    if (attempt < t.retry_max_attempts && !exiting()) await new Promise((res) => setTimeout(res, backoffMs(attempt)));
  }
  if (exiting()) error ||= 'exiting';
  return { ok: false, refused: false, attempts: t.retry_max_attempts, error };
}
