// What a data plane records per request: latency into HDR histograms (hdr-histogram-js) and one row of
// the access log into a columnar buffer. Formatting, compression and shipping happen elsewhere (the
// log-ship pool); merging the histograms of all threads happens in the metrics pool. Here: numbers into
// slots and string references into an array per request; per batch (max_records or max_delay), the
// rows are formatted into bytes on shared memory, once per distinct format of the listener's sinks.
import { threadId } from 'node:worker_threads';
import type { Histogram } from 'hdr-histogram-js';
import { exportCounts, newHistogram, type SparseCounts } from './hdr.js';
import type { ListenerAccessLogs } from './config.js';
import { compileJson, compileTextWriter, type LineWrite } from './format.js';
import { BatchMemoryRing, sharedBuffer, type BatchMemory } from './batch-memory.js';
import { LineWriter } from './line-writer.js';
import { NUM_COLS, Num, STR_COLS, Str, type FormattedText, type RecordBatch, type Rows } from './record.js';

/** What the access log needs to know about a finished request (the Exchange provides it). */
export interface LoggedRequest {
  readonly startEpochMs: number;
  readonly durationMs: number;
  readonly finalStatus: number;
  readonly requestBytes: number;
  readonly bytesSent: number;
  readonly upstreamServiceMs: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly replyFlag: string;
  readonly upstreamHost: string;
  readonly clusterName: string;
  readonly remoteAddress: string;
  readonly routeName: string;
  readonly credentialFingerprint: string | null;
  readonly headers: readonly string[];
  readonly responseHeaders: readonly (string | Buffer)[];
}

/**
 * A request the listener answered itself before any Exchange existed (no route, a bad or too large
 * head, a direct response...). Envoy logs those (NR, DPE...); so do we. Built only on those paths,
 * and only when the listener has an access log.
 */
export class LocalReplyRecord implements LoggedRequest {
  readonly startEpochMs = Date.now();
  readonly durationMs = 0;
  readonly requestBytes = 0;
  readonly upstreamServiceMs = -1;
  readonly upstreamHost = '';
  readonly clusterName = '';
  readonly credentialFingerprint = null;
  readonly responseHeaders: readonly string[] = [];

  constructor(
    readonly method: string,
    readonly path: string,
    readonly query: string,
    readonly headers: readonly string[],
    readonly remoteAddress: string,
    readonly finalStatus: number,
    readonly replyFlag: string,
    readonly bytesSent: number,
    readonly routeName: string,
  ) {}
}

let batchSeq = 0;

/** A distinct format of the listener's sinks, the mask bits of the sinks that use it, its lines so far. */
interface FormatGroup {
  /** Text formats write their bytes; JSON formats go through JSON.stringify, then the writer. */
  write: LineWrite;
  mask: number;
  out: LineWriter;
  /** ends[r]: where row r's line ends in `out` (see FormattedText). */
  ends: Uint32Array;
}

/**
 * Rows are formatted once this many wait, in a setImmediate after the requests of the current loop
 * turn rather than all at the flush: the request path never formats, and the thread is held for
 * about 15 us at a time rather than a whole batch's formatting. Few rows, because a waiting row keeps
 * its request's strings (path, headers) alive: with the proxy's small young generation (heap-tuning.ts)
 * a scavenge comes every few milliseconds, and strings held for 256 rows (10 ms at 25k req/s) were
 * copied and promoted instead of dying young. One run of `npm run bench -- --only pillion,pillion-logs
 * --scenarios small,wrk-small --rounds 4` each: 256 rows 0.94x / 0.90x of logging off, 32 rows
 * 0.95x / 0.95x. Every loop turn (1 row) cost more than it saved.
 */
const CHUNK = 32;

export class AccessLogBuffer {
  private rows = 0;
  /** Rows formatted so far. */
  private formatted = 0;
  private formatQueued = false;
  private nums: Float64Array;
  /** The shared memory this batch is formatted into (lent with the batch at the flush). */
  private mem: BatchMemory;
  private readonly ring: BatchMemoryRing;
  private readonly strs: string[];
  private timer: NodeJS.Timeout | null = null;
  private readonly width: number;
  private readonly capacity: number;
  private readonly delay: number;
  private readonly groups: FormatGroup[] = [];
  /** For sink i, its index in `groups`. */
  private readonly sinkGroup: number[] = [];

  constructor(
    readonly listener: string,
    readonly cfg: ListenerAccessLogs,
    private readonly emit: (b: RecordBatch) => void,
  ) {
    this.width = STR_COLS + cfg.headers.length + cfg.respHeaders.length;
    this.capacity = Math.min(...cfg.sinks.map((s) => s.batch_max_records));
    this.delay = Math.min(...cfg.sinks.map((s) => s.batch_max_delay_ms));
    this.strs = new Array<string>(this.capacity * this.width).fill('');
    // Sinks with the same format share one rendering (a file and an HTTP sink of the default format:
    // each row is formatted once for both).
    const keys: string[] = [];
    const cols = { headers: cfg.headers, respHeaders: cfg.respHeaders };
    cfg.sinks.forEach((sink, i) => {
      const key = sink.format ?? JSON.stringify(sink.json_format);
      let g = keys.indexOf(key);
      if (g < 0) {
        g = keys.push(key) - 1;
        let write: LineWrite;
        if (sink.format !== null) write = compileTextWriter(sink.format, cols);
        else {
          const json = compileJson(sink.json_format!, null, cols);
          write = (o, b, r, w) => o.str(json(b, r, w));
        }
        this.groups.push({ write, mask: 0, out: new LineWriter(0, sharedBuffer), ends: new Uint32Array(this.capacity) });
      }
      this.groups[g]!.mask |= 1 << i;
      this.sinkGroup.push(g);
    });
    this.ring = new BatchMemoryRing(this.capacity, this.groups.length);
    this.mem = this.ring.take([]);
    this.nums = this.mem.nums;
    this.groups.forEach((g, i) => (g.out.buf = this.mem.texts[i]!));
  }

  append(r: LoggedRequest): void {
    // Filters are plain comparisons: cheap enough here, and they keep unwanted rows out of the batch.
    let mask = 0;
    const sinks = this.cfg.sinks;
    for (let i = 0; i < sinks.length; i++) {
      const f = sinks[i]!.filter;
      if (r.finalStatus < f.status_min || r.finalStatus > f.status_max) continue;
      if (f.response_flags !== null && !f.response_flags.includes(r.replyFlag)) continue;
      if (f.sample_percent < 100 && Math.random() * 100 >= f.sample_percent) continue;
      mask |= 1 << i;
    }
    if (mask === 0) return;
    const n = this.nums;
    const o = this.rows * NUM_COLS;
    n[o + Num.StartEpochMs] = r.startEpochMs;
    n[o + Num.DurationMs] = r.durationMs;
    n[o + Num.Status] = r.finalStatus;
    n[o + Num.BytesReceived] = r.requestBytes;
    n[o + Num.BytesSent] = r.bytesSent;
    n[o + Num.UpstreamServiceMs] = r.upstreamServiceMs;
    n[o + Num.SinkMask] = mask;
    // References only: no string is built here (the formats join path and query later).
    const s = this.strs;
    const w = this.rows * this.width;
    s[w + Str.Method] = r.method;
    s[w + Str.Path] = r.path;
    s[w + Str.Query] = r.query;
    s[w + Str.Protocol] = 'HTTP/1.1';
    s[w + Str.ResponseFlags] = r.replyFlag;
    s[w + Str.UpstreamHost] = r.upstreamHost;
    s[w + Str.UpstreamCluster] = r.clusterName;
    s[w + Str.DownstreamRemote] = r.remoteAddress;
    s[w + Str.Route] = r.routeName;
    s[w + Str.Listener] = this.listener;
    s[w + Str.Credential] = r.credentialFingerprint ?? '';
    const hs = this.cfg.headers;
    for (let i = 0; i < hs.length; i++) s[w + STR_COLS + i] = findHeader(r.headers, hs[i]!);
    const rs = this.cfg.respHeaders;
    for (let i = 0; i < rs.length; i++) s[w + STR_COLS + hs.length + i] = findHeader(r.responseHeaders, rs[i]!);
    if (++this.rows === this.capacity) this.flush();
    else {
      if (this.rows - this.formatted >= CHUNK && !this.formatQueued) {
        this.formatQueued = true;
        setImmediate(formatQueued, this);
      }
      if (this.timer === null) this.timer = setTimeout(flushBuffer, this.delay, this);
    }
  }

  /**
   * Formats the rows not formatted yet, for each format group.
   *
   * Formatting in the data plane rather than in the log-ship pool: the rows are here already as
   * string references, and writing a line's bytes costs less than joining its cells for the trip to
   * the pool did, after which the pool split, formatted and joined them again (measured: about 2 us a
   * record less in all; see docs/telemetry.md, "Cost").
   */
  formatPending(): void {
    this.formatQueued = false;
    const from = this.formatted;
    const to = this.rows;
    if (to === from) return;
    const view: Rows = { nums: this.nums, strs: this.strs };
    const width = this.width;
    for (const g of this.groups) {
      const out = g.out;
      for (let r = from; r < to; r++) {
        if ((view.nums[r * NUM_COLS + Num.SinkMask]! & g.mask) !== 0) {
          g.write(out, view, r, width);
          out.byte(0x0a);
        }
        g.ends[r] = out.pos;
      }
    }
    // Let go of the formatted rows' strings now: kept until the next batch overwrote them, they would
    // outlive two scavenges and be promoted (measured: about 10 MB more RSS and more GC).
    this.strs.fill('', from * width, to * width);
    this.formatted = to;
  }

  /** Lends the batch's shared memory (bytes and numbers) to the shipper, then starts a new batch. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const rows = this.rows;
    if (rows === 0) return;
    this.formatPending();
    const full = rows === this.capacity;
    const mem = this.mem;
    const texts: FormattedText[] = [];
    const sizes: number[] = [];
    this.groups.forEach((g, i) => {
      // The writer may have moved to a bigger buffer during the batch: the set keeps that one.
      const buf = (mem.texts[i] = g.out.buf);
      texts.push({ bytes: new Uint8Array(buf.buffer, buf.byteOffset, g.out.pos), ends: full ? g.ends : g.ends.slice(0, rows) });
      if (full) g.ends = new Uint32Array(this.capacity);
      sizes.push(buf.length);
    });
    const batch: RecordBatch = {
      id: `${threadId}.${++batchSeq}`,
      listener: this.listener,
      rows,
      nums: full ? mem.nums : mem.nums.subarray(0, rows * NUM_COLS),
      texts,
      sinkText: this.sinkGroup,
      lease: mem.lend(),
    };
    this.rows = 0;
    this.formatted = 0;
    this.mem = this.ring.take(sizes);
    this.nums = this.mem.nums;
    this.groups.forEach((g, i) => {
      g.out.buf = this.mem.texts[i]!;
      g.out.pos = 0;
    });
    this.emit(batch);
  }
}

function flushBuffer(b: AccessLogBuffer): void {
  b.flush();
}

function formatQueued(b: AccessLogBuffer): void {
  b.formatPending();
}

function findHeader(h: readonly (string | Buffer)[], name: string): string {
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === name) {
      const v = h[i + 1]!;
      return typeof v === 'string' ? v : v.toString('latin1');
    }
  }
  return '';
}

/** A data plane's histograms and access-log buffers. */
export class PlaneTelemetry {
  private readonly hists = new Map<string, Histogram>();
  private readonly buffers = new Map<string, AccessLogBuffer>();

  constructor(private readonly emit: (b: RecordBatch) => void) {}

  /** The histogram of a name, kept across reloads. */
  histogram(name: string): Histogram {
    let h = this.hists.get(name);
    if (h === undefined) this.hists.set(name, (h = newHistogram()));
    return h;
  }

  /** The buffer of a listener; a new config gets a new buffer (the old one is flushed first). */
  accessLog(listener: string, cfg: ListenerAccessLogs | null): AccessLogBuffer | null {
    const old = this.buffers.get(listener);
    if (old !== undefined && old.cfg === cfg) return old;
    old?.flush();
    if (cfg === null) {
      this.buffers.delete(listener);
      return null;
    }
    const b = new AccessLogBuffer(listener, cfg, this.emit);
    this.buffers.set(listener, b);
    return b;
  }

  flushAll(): void {
    for (const b of this.buffers.values()) b.flush();
  }

  /** Every histogram's counts (cumulative since start), for the metrics pool to merge. */
  exportHistograms(): Record<string, SparseCounts> {
    const out: Record<string, SparseCounts> = {};
    for (const [name, h] of this.hists) out[name] = exportCounts(h);
    return out;
  }
}
