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

/** A batch of formatted records, as the sinks take it. */
export interface Lines {
  /** One line per record, no newline: what stdout, a file and the NDJSON preset carry. */
  lines: readonly string[];
  /** The lines are JSON objects; otherwise the Elasticsearch preset wraps each as `{"message":line}`. */
  json: boolean;
  /** The batch as Loki streams; `labels` are the sink's, to merge into each stream's own. */
  loki(labels: Record<string, string>): LokiStream[];
}

export function text(lines: readonly string[]): string {
  return lines.join('\n') + '\n';
}

/**
 * Appends to the file (created with its directory when missing). Synchronous: the pool's single
 * thread is the one writer, so appends stay in batch order. Returns an error message, or null.
 */
export function appendToFile(path: string, data: string, fsync: boolean): string | null {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'a');
    try {
      const buf = Buffer.from(data);
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

/** The HTTP body of a batch for the sink's preset, gzipped when the sink takes gzip. */
export function payload(h: HttpSink, b: Lines): { body: Buffer; type: string } {
  let s: string;
  if (h.preset === 'loki') {
    s = JSON.stringify({ streams: b.loki(h.labels) });
  } else if (h.preset === 'elasticsearch') {
    const action = JSON.stringify({ index: { _index: h.index } });
    s = '';
    for (const l of b.lines) s += `${action}\n${b.json ? l : JSON.stringify({ message: l })}\n`;
  } else {
    s = text(b.lines);
  }
  const raw = Buffer.from(s);
  // Level 1, gzip's fastest: log text still shrinks several times over, and the CPU is left to the
  // producers (formatting here, reading files in pillion logs).
  return { body: h.gzip ? gzipSync(raw, { level: 1 }) : raw, type: contentType(h) };
}

export interface PostResult {
  ok: boolean;
  /** The sink refused this batch for good (a 4xx other than 408 and 429): neither retry nor spool it. */
  refused: boolean;
  attempts: number;
  error?: string;
}

// Exit is near (the shipper's close(), the collector's stop deadline): posts still waiting on a sink
// are aborted, so that their batches go to the spool or stay behind the checkpoint instead of holding
// the exit up. One flag per thread: the process is going.
const posting = new Set<AbortController>();
let closing = false;
let closeChannel: BroadcastChannel | null = null;

/** Listens for the exit, in the threads that post (only those: the main threads merely send it). */
function listenForClose(): void {
  if (closeChannel !== null) return;
  closeChannel = new BroadcastChannel(CLOSE_CHANNEL);
  closeChannel.onmessage = () => {
    closing = true;
    for (const ac of posting) ac.abort(new Error('exiting'));
  };
  (closeChannel as unknown as { unref(): void }).unref();
}

/** Tells every log-ship thread of this process to abort its posts and start no more. */
export function abortPosts(): void {
  const ch = new BroadcastChannel(CLOSE_CHANNEL);
  ch.postMessage('close');
  ch.close();
}

function abortPost(ac: AbortController): void {
  ac.abort(new Error('timeout'));
}

/** Full jitter: a random wait below 100 ms x 2^attempt, capped. */
export function backoffMs(attempt: number, capMs = 5000): number {
  return Math.random() * Math.min(capMs, 100 * 2 ** attempt);
}

// Elasticsearch answers 200 to a bulk request whose items failed. Only its start is read.
const BULK_ERRORS = /^\s*\{"(?:took":\d+,")?errors":true/;

/**
 * POSTs a payload, up to `retry_max_attempts` times with jittered backoff. `bulkErrors`: an
 * Elasticsearch 200 whose items failed counts as a failure (pillion logs retries it; access logs, which
 * would spool it for good, take the 200).
 */
export async function post(t: SinkTarget, body: Buffer, type: string, bulkErrors = false): Promise<PostResult> {
  const h = t.http!;
  const checkBulk = bulkErrors && h.preset === 'elasticsearch';
  listenForClose();
  let error = '';
  for (let attempt = 1; attempt <= t.retry_max_attempts && !closing; attempt++) {
    const ac = new AbortController();
    posting.add(ac);
    // One controller for both the timeout and the exit (AbortSignal.any needs Node 20.3).
    const timer = setTimeout(abortPost, h.timeout_ms, ac);
    try {
      const res = await fetch(h.url, {
        method: 'POST',
        body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) as Uint8Array<ArrayBuffer>,
        headers: { ...h.headers, 'content-type': type, ...(h.gzip ? { 'content-encoding': 'gzip' } : {}) },
        signal: ac.signal,
      });
      const answer = checkBulk ? await res.text() : (await res.arrayBuffer(), '');
      if (res.ok) {
        if (!checkBulk || !BULK_ERRORS.test(answer.slice(0, 200))) return { ok: true, refused: false, attempts: attempt };
        error = 'bulk response has errors';
      } else {
        error = `HTTP ${res.status}`;
        // A 4xx other than 408 and 429 will not get better by retrying, nor by spooling: the sink is up
        // and refuses this batch (a spooled copy would block the spool behind it).
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          return { ok: false, refused: true, attempts: attempt, error };
        }
      }
    } catch (err) {
      error = (err as Error).message;
    } finally {
      clearTimeout(timer);
      posting.delete(ac);
    }
    if (attempt < t.retry_max_attempts && !closing) await new Promise((r) => setTimeout(r, backoffMs(attempt)));
  }
  if (closing) error ||= 'exiting';
  return { ok: false, refused: false, attempts: t.retry_max_attempts, error };
}
