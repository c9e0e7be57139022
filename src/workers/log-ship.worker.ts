// The log-ship pool's worker (piscina). Two kinds of batch come here, and both leave through the same
// sinks (src/telemetry/sinks.ts: stdout, file, HTTP NDJSON / Loki push / Elasticsearch bulk, gzip,
// jittered retries):
//   - access-log batches (`ship`): formatted by the data plane that logged them (bytes on shared
//     memory); written or posted here. An HTTP batch that fails its attempts goes to the spool
//     directory, and `drain` ships the spool when the sink is back;
//   - `pillion logs` batches (`logs`): one delivery, answered with ok / retry / reject; the collector
//     retries until acknowledged and only then moves its checkpoints, so nothing is spooled here.
import '../util/worker-v8-flags.js'; // first: see the module
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { workerData } from 'node:worker_threads';
import type { AccessLogConfig } from '../telemetry/config.js';
import { Num, NUM_COLS, type RecordBatch } from '../telemetry/record.js';
import { ACCESS_LOG_WINDOW_BITS, appendToFile, contentType, payload, post, type Lines, type LokiStream, type PostResult, type SinkTarget } from '../telemetry/sinks.js';
import { logLines, type LogBatch } from '../logs/wire.js';
import type { LogShipWorkerData } from '../telemetry/log-ship-pool.js';
import { setThisThreadNice } from '../util/thread-priority.js';

// Before any task: see LOG_SHIP_NICE in src/telemetry/shipper.ts.
const startData = workerData as Partial<LogShipWorkerData> | null;
if (typeof startData?.nice === 'number') setThisThreadNice(startData.nice);

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

/** A `pillion logs` batch: delivered once, the outcome goes back to the collector. */
export interface LogsTask {
  op: 'logs';
  sink: SinkTarget;
  batch: LogBatch;
}

/** `ok`: acknowledged. `retry`: try again later. `reject`: the sink refuses this batch for good (a 4xx). */
export interface LogsResult {
  outcome: 'ok' | 'retry' | 'reject';
  /** Text for stdout: the batch counts as acknowledged once the main thread has written it. */
  stdout?: Uint8Array;
  error?: string;
}

export interface ShipResult {
  records: number;
  /** Text for stdout (the main thread writes it). */
  stdout?: Uint8Array;
  written: number;
  shipped: number;
  spooled: number;
  dropped: number;
  failedAttempts: number;
  error?: string;
}

/** One sink's rows of a batch. */
interface SinkRows {
  records: number;
  /** The lines, each followed by '\n': a view of the shared bytes when the sink takes all of them. */
  bytes: Buffer;
  /** Row indexes in the batch, for the presets that need the lines one by one. */
  rows: number[];
}

/**
 * The rows of a batch whose mask has this sink's bit. When the sink takes every line of its format's
 * text (one sink per format, or the same filter), the bytes are the shared ones as they are: no copy.
 */
function sinkRows(bit: number, b: RecordBatch): SinkRows {
  const t = b.texts[b.sinkText[bit]!]!;
  const all = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const m = 1 << bit;
  const rows: number[] = [];
  let size = 0;
  let prev = 0;
  for (let r = 0; r < b.rows; r++) {
    const end = t.ends[r]!;
    if ((b.nums[r * NUM_COLS + Num.SinkMask]! & m) !== 0 && end > prev) {
      size += end - prev;
      rows.push(r);
    }
    prev = end;
  }
  let bytes = all;
  if (size !== all.length) {
    bytes = Buffer.allocUnsafe(size);
    let off = 0;
    for (const r of rows) off += all.copy(bytes, off, r === 0 ? 0 : t.ends[r - 1]!, t.ends[r]!);
  }
  return { records: rows.length, bytes, rows };
}

/** A sink's rows as the sinks take them (src/telemetry/sinks.ts). */
function accessLines(sink: AccessLogConfig, b: RecordBatch, bit: number, rows: SinkRows): Lines {
  // Only the Loki and Elasticsearch presets need the lines one by one, as strings: read from the
  // shared text, where row r is from ends[r - 1] to ends[r] (its newline excluded).
  const t = b.texts[b.sinkText[bit]!]!;
  const text = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const line = (r: number) => text.toString('utf8', r === 0 ? 0 : t.ends[r - 1]!, t.ends[r]! - 1);
  const json = sink.json_format !== null;
  return {
    text: () => rows.bytes,
    bulk(action) {
      let s = '';
      for (const r of rows.rows) {
        const l = line(r);
        s += `${action}\n${json ? l : JSON.stringify({ message: l })}\n`;
      }
      return s;
    },
    // Loki's push API: one stream with the sink's labels, values as [nanoseconds since the epoch, line].
    loki: (labels): LokiStream[] => [{
      stream: labels,
      values: rows.rows.map((r) => [`${Math.round(b.nums[r * NUM_COLS + Num.StartEpochMs]!)}000000`, line(r)]),
    }],
  };
}

/** Sinks found down recently: batches go straight to the spool until this time (per sink URL). */
const downUntil = new Map<string, number>();

/** post(), and the sink's down mark that lets later batches go straight to the spool. */
async function postAccess(sink: AccessLogConfig, body: Buffer, type: string): Promise<PostResult> {
  const p = await post(sink, body, type);
  if (p.ok || p.refused) downUntil.delete(sink.http!.url);
  else downUntil.set(sink.http!.url, Date.now() + 2000);
  return p;
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
  const rows = sinkRows(t.bit, t.batch);
  const n = rows.records;
  const r: ShipResult = { records: n, written: 0, shipped: 0, spooled: 0, dropped: 0, failedAttempts: 0 };
  if (n === 0) return r;
  const sink = t.sink;
  if (sink.kind === 'stdout') {
    // A copy: the shared bytes stay here; the main thread gets its own to write.
    r.stdout = new Uint8Array(rows.bytes);
    r.written = n;
    return r;
  }
  if (sink.kind === 'file') {
    const error = appendToFile(sink.path!, rows.bytes, false);
    if (error === null) r.written = n;
    else {
      r.dropped = n;
      r.error = error;
    }
    return r;
  }
  const { body, type } = payload(sink.http!, accessLines(sink, t.batch, t.bit, rows), ACCESS_LOG_WINDOW_BITS);
  const down = (downUntil.get(sink.http!.url) ?? 0) > Date.now();
  if (!t.spoolOnly && !down) {
    const p = await postAccess(sink, body, type);
    if (p.ok) {
      r.shipped = n;
      r.failedAttempts = p.attempts - 1;
      return r;
    }
    r.failedAttempts = p.attempts;
    r.error = p.error;
    if (p.refused) {
      r.dropped = n;
      return r;
    }
  }
  if (t.spool !== null && spool(sink, t.spool, body, n)) r.spooled = n;
  else r.dropped = n;
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
  const type = contentType(t.sink.http!);
  for (const f of files) {
    const body = readFileSync(join(t.spool, f));
    const res = await postAccess({ ...t.sink, retry_max_attempts: 1 }, body, type);
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

/**
 * What a `logs` task leaves to do once its batch is formatted. Formatting is synchronous and returns
 * only the bytes, so the batch and its lines are garbage before the wait on the network (kept across it,
 * they would be promoted to the old generation batch after batch: tens of MiB of RSS).
 */
function formatLogs(t: LogsTask): { result: LogsResult } | { body: Buffer; type: string } {
  if (t.batch.records === 0) return { result: { outcome: 'ok' } };
  const b = logLines(t.batch);
  // piscina holds the task until it resolves; the batch (its bytes and columns) is not needed past here.
  (t as { batch: LogBatch | null }).batch = null;
  const sink = t.sink;
  if (sink.kind === 'stdout') return { result: { outcome: 'ok', stdout: b.text() as Buffer } };
  if (sink.kind === 'file') {
    const error = appendToFile(sink.path!, b.text(), sink.fsync ?? false);
    return { result: error === null ? { outcome: 'ok' } : { outcome: 'retry', error } };
  }
  return payload(sink.http!, b);
}

async function shipLogs(t: LogsTask): Promise<LogsResult> {
  const f = formatLogs(t);
  if ('result' in f) return f.result;
  const p = await post(t.sink, f.body, f.type, true);
  if (p.ok) return { outcome: 'ok' };
  return { outcome: p.refused ? 'reject' : 'retry', error: p.error };
}

export default async function task(t: ShipTask | DrainTask | LogsTask): Promise<ShipResult | LogsResult> {
  return t.op === 'ship' ? ship(t) : t.op === 'drain' ? drain(t) : shipLogs(t);
}
