// The log-ship pool's worker (piscina): formats whole batches of access-log rows and delivers them to
// their sink: a file (appended; opened per batch, so a logrotate rename or SIGUSR1 needs nothing more),
// stdout (the text goes back to the main thread, which owns stdout), or HTTP (NDJSON, Loki push,
// Elasticsearch bulk; gzip; retries with jittered backoff; the spool directory when the sink is down).
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AccessLogConfig } from '../telemetry/config.js';
import { compileJson, compileText } from '../telemetry/format.js';
import { CLOSE_CHANNEL, Num, NUM_COLS, SEP, STR_COLS, type RecordBatch, type Rows } from '../telemetry/record.js';

export interface ShipTask {
  op: 'ship';
  sink: AccessLogConfig;
  /** Which bit of the row mask is this sink. */
  bit: number;
  batch: RecordBatch;
  /** Spool directory of this sink (HTTP), or null. */
  spool: string | null;
  /** The main thread's memory bound was hit: spool without trying the sink. */
  spoolOnly: boolean;
}

export interface DrainTask {
  op: 'drain';
  sink: AccessLogConfig;
  spool: string;
}

export interface ShipResult {
  records: number;
  /** Text for stdout (the main thread writes it). */
  stdout?: string;
  written: number;
  shipped: number;
  spooled: number;
  dropped: number;
  failedAttempts: number;
  error?: string;
}

const formatters = new Map<string, (b: Rows, row: number, width: number) => string>();

function formatter(sink: AccessLogConfig, b: RecordBatch): (b: Rows, row: number, width: number) => string {
  const key = `${sink.format ?? JSON.stringify(sink.json_format)}|${b.headers.join(',')}|${b.respHeaders.join(',')}`;
  let f = formatters.get(key);
  if (f === undefined) {
    const cols = { headers: b.headers, respHeaders: b.respHeaders };
    f = sink.format !== null ? compileText(sink.format, null, cols) : compileJson(sink.json_format!, null, cols);
    formatters.set(key, f);
  }
  return f;
}

function lines(sink: AccessLogConfig, bit: number, b: RecordBatch): { lines: string[]; starts: number[] } {
  const f = formatter(sink, b);
  const width = STR_COLS + b.headers.length + b.respHeaders.length;
  const rows: Rows = { nums: b.nums, strs: b.strs.split(SEP) };
  const out: string[] = [];
  const starts: number[] = [];
  const m = 1 << bit;
  for (let r = 0; r < b.rows; r++) {
    if ((b.nums[r * NUM_COLS + Num.SinkMask]! & m) === 0) continue;
    out.push(f(rows, r, width));
    starts.push(b.nums[r * NUM_COLS + Num.StartEpochMs]!);
  }
  return { lines: out, starts };
}

function payload(sink: AccessLogConfig, ls: string[], starts: number[]): { body: Buffer; type: string } {
  const h = sink.http!;
  let text: string;
  let type = 'application/x-ndjson';
  if (h.preset === 'loki') {
    // Loki's push API: one stream, values as [nanoseconds since the epoch, line].
    const values = ls.map((l, i) => [`${Math.round(starts[i]!)}000000`, l]);
    text = JSON.stringify({ streams: [{ stream: h.labels, values }] });
    type = 'application/json';
  } else if (h.preset === 'elasticsearch') {
    const action = JSON.stringify({ index: { _index: h.index } });
    text = ls.map((l) => `${action}\n${sink.json_format !== null ? l : JSON.stringify({ message: l })}\n`).join('');
  } else {
    text = ls.join('\n') + '\n';
  }
  const raw = Buffer.from(text);
  return { body: h.gzip ? gzipSync(raw) : raw, type };
}

/** Sinks found down recently: batches go straight to the spool until this time (per sink URL). */
const downUntil = new Map<string, number>();

interface PostResult {
  ok: boolean;
  /** The sink refused this batch for good (a 4xx other than 408 and 429): neither retry nor spool it. */
  refused: boolean;
  attempts: number;
  error?: string;
}

// The shipper's close(): posts still waiting on a sink at exit are aborted, so that their batches go
// to the spool instead of being lost with the process.
const posting = new Set<AbortController>();
let closing = false;
const closeChannel = new BroadcastChannel(CLOSE_CHANNEL);
closeChannel.onmessage = () => {
  closing = true;
  for (const ac of posting) ac.abort(new Error('proxy exiting'));
};
(closeChannel as unknown as { unref(): void }).unref();

function abortPost(ac: AbortController): void {
  ac.abort(new Error('timeout'));
}

async function post(sink: AccessLogConfig, body: Buffer, type: string): Promise<PostResult> {
  const h = sink.http!;
  let error = '';
  for (let attempt = 1; attempt <= sink.retry_max_attempts && !closing; attempt++) {
    const ac = new AbortController();
    posting.add(ac);
    // One controller for both the timeout and the exit (AbortSignal.any needs Node 20.3).
    const timer = setTimeout(abortPost, h.timeout_ms, ac);
    try {
      const res = await fetch(h.url, {
        method: 'POST',
        body: new Uint8Array(body) as Uint8Array<ArrayBuffer>,
        headers: { ...h.headers, 'content-type': type, ...(h.gzip ? { 'content-encoding': 'gzip' } : {}) },
        signal: ac.signal,
      });
      await res.arrayBuffer();
      if (res.ok) {
        downUntil.delete(h.url);
        return { ok: true, refused: false, attempts: attempt };
      }
      error = `HTTP ${res.status}`;
      // A 4xx other than 408 and 429 will not get better by retrying, nor by spooling: the sink is up
      // and refuses this batch (a spooled copy would block the spool behind it).
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        downUntil.delete(h.url);
        return { ok: false, refused: true, attempts: attempt, error };
      }
    } catch (err) {
      error = (err as Error).message;
    } finally {
      clearTimeout(timer);
      posting.delete(ac);
    }
    if (attempt < sink.retry_max_attempts && !closing) await new Promise((r) => setTimeout(r, Math.random() * 100 * 2 ** attempt));
  }
  if (closing) error ||= 'proxy exiting';
  downUntil.set(h.url, Date.now() + 2000);
  return { ok: false, refused: false, attempts: sink.retry_max_attempts, error };
}

let spoolSeq = 0;

/**
 * Bytes in each spool directory. This thread is the only writer and remover of its spool files, so
 * the directory is scanned once (it may hold a previous run's batches) and then kept up to date.
 */
const spoolBytes = new Map<string, number>();

function dirBytes(dir: string): number {
  let n = spoolBytes.get(dir);
  if (n !== undefined) return n;
  n = 0;
  for (const f of readdirSync(dir)) {
    // Half-written by a run that died mid-write: never renamed, never shipped.
    if (f.endsWith('.tmp')) unlinkSync(join(dir, f));
    else n += statSync(join(dir, f)).size;
  }
  spoolBytes.set(dir, n);
  return n;
}

/** Writes a ready payload to the spool (temp name, then rename: the drainer never sees half a file). */
function spool(sink: AccessLogConfig, dir: string, body: Buffer, records: number): boolean {
  mkdirSync(dir, { recursive: true });
  const used = dirBytes(dir);
  if (used + body.length > sink.max_disk_bytes) return false;
  const name = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${(spoolSeq++).toString().padStart(8, '0')}-${records}`;
  writeFileSync(join(dir, `.${name}.tmp`), body);
  renameSync(join(dir, `.${name}.tmp`), join(dir, `${name}.batch`));
  spoolBytes.set(dir, used + body.length);
  return true;
}

function unspool(dir: string, file: string, bytes: number): void {
  unlinkSync(join(dir, file));
  spoolBytes.set(dir, Math.max(0, dirBytes(dir) - bytes));
}

async function ship(t: ShipTask): Promise<ShipResult> {
  const { lines: ls, starts } = lines(t.sink, t.bit, t.batch);
  const r: ShipResult = { records: ls.length, written: 0, shipped: 0, spooled: 0, dropped: 0, failedAttempts: 0 };
  if (ls.length === 0) return r;
  const sink = t.sink;
  if (sink.kind === 'stdout') {
    r.stdout = ls.join('\n') + '\n';
    r.written = ls.length;
    return r;
  }
  if (sink.kind === 'file') {
    try {
      mkdirSync(dirname(sink.path!), { recursive: true });
      appendFileSync(sink.path!, ls.join('\n') + '\n');
      r.written = ls.length;
    } catch (err) {
      r.dropped = ls.length;
      r.error = (err as Error).message;
    }
    return r;
  }
  const { body, type } = payload(sink, ls, starts);
  const down = (downUntil.get(sink.http!.url) ?? 0) > Date.now();
  if (!t.spoolOnly && !down) {
    const p = await post(sink, body, type);
    if (p.ok) {
      r.shipped = ls.length;
      r.failedAttempts = p.attempts - 1;
      return r;
    }
    r.failedAttempts = p.attempts;
    r.error = p.error;
    if (p.refused) {
      r.dropped = ls.length;
      return r;
    }
  }
  if (t.spool !== null && spool(sink, t.spool, body, ls.length)) r.spooled = ls.length;
  else r.dropped = ls.length;
  return r;
}

/** Ships spooled batches, oldest first, until one fails. */
async function drain(t: DrainTask): Promise<ShipResult> {
  const r: ShipResult = { records: 0, written: 0, shipped: 0, spooled: 0, dropped: 0, failedAttempts: 0 };
  let files: string[];
  try {
    files = readdirSync(t.spool).filter((f) => f.endsWith('.batch')).sort();
  } catch {
    return r; // no spool yet
  }
  const type = t.sink.http!.preset === 'loki' ? 'application/json' : 'application/x-ndjson';
  for (const f of files) {
    const body = readFileSync(join(t.spool, f));
    const res = await post({ ...t.sink, retry_max_attempts: 1 }, body, type);
    const records = Number(f.slice(f.lastIndexOf('-') + 1, -'.batch'.length)) || 0;
    if (res.refused) {
      // The sink is up and refuses this batch for good: drop it rather than block the spool forever.
      r.failedAttempts++;
      r.dropped += records;
      r.error = res.error;
      unspool(t.spool, f, body.length);
      continue;
    }
    if (!res.ok) {
      r.failedAttempts++;
      r.error = res.error;
      break;
    }
    unspool(t.spool, f, body.length);
    r.shipped += records;
  }
  return r;
}

export default async function task(t: ShipTask | DrainTask): Promise<ShipResult> {
  return t.op === 'ship' ? ship(t) : drain(t);
}
