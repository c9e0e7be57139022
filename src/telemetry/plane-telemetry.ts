// What a data plane records per request: latency into HDR histograms (hdr-histogram-js) and one row of
// the access log into a columnar buffer. Formatting, compression and shipping happen elsewhere (the
// log-ship pool); merging the histograms of all threads happens in the metrics pool. Here: numbers into
// slots, strings into an array, and a flush per batch or per max_delay.
import { threadId } from 'node:worker_threads';
import type { Histogram } from 'hdr-histogram-js';
import { exportCounts, newHistogram, type SparseCounts } from './hdr.js';
import type { ListenerAccessLogs } from './config.js';
import { NUM_COLS, Num, SEP, STR_COLS, Str, cell, type RecordBatch } from './record.js';

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

export class AccessLogBuffer {
  private rows = 0;
  private nums: Float64Array;
  private strs: string[];
  private timer: NodeJS.Timeout | null = null;
  private readonly width: number;
  private readonly capacity: number;
  private readonly delay: number;

  constructor(
    readonly listener: string,
    readonly cfg: ListenerAccessLogs,
    private readonly emit: (b: RecordBatch) => void,
  ) {
    this.width = STR_COLS + cfg.headers.length + cfg.respHeaders.length;
    this.capacity = Math.min(...cfg.sinks.map((s) => s.batch_max_records));
    this.delay = Math.min(...cfg.sinks.map((s) => s.batch_max_delay_ms));
    this.nums = new Float64Array(this.capacity * NUM_COLS);
    this.strs = new Array<string>(this.capacity * this.width);
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
    const s = this.strs;
    const w = this.rows * this.width;
    s[w + Str.Method] = cell(r.method);
    s[w + Str.Path] = cell(r.query === '' ? r.path : `${r.path}?${r.query}`);
    s[w + Str.Protocol] = 'HTTP/1.1';
    s[w + Str.ResponseFlags] = r.replyFlag;
    s[w + Str.UpstreamHost] = r.upstreamHost;
    s[w + Str.UpstreamCluster] = r.clusterName;
    s[w + Str.DownstreamRemote] = r.remoteAddress;
    s[w + Str.Route] = r.routeName;
    s[w + Str.Listener] = this.listener;
    s[w + Str.Credential] = r.credentialFingerprint ?? '';
    const hs = this.cfg.headers;
    for (let i = 0; i < hs.length; i++) s[w + STR_COLS + i] = cell(findHeader(r.headers, hs[i]!));
    const rs = this.cfg.respHeaders;
    for (let i = 0; i < rs.length; i++) s[w + STR_COLS + hs.length + i] = cell(findHeader(r.responseHeaders, rs[i]!));
    if (++this.rows === this.capacity) this.flush();
    else if (this.timer === null) this.timer = setTimeout(flushBuffer, this.delay, this);
  }

  /** Hands the rows over (the numbers are transferred, not copied) and starts a new batch. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.rows === 0) return;
    // A full batch hands over its numbers; a partial one (max_delay) a copy of its rows, so that the
    // batch holds (and a worker transfers) only its rows and the buffer is reused. The strings are
    // joined into one, so the string array is always reused.
    const full = this.rows === this.capacity;
    const n = this.rows * this.width;
    const batch: RecordBatch = {
      id: `${threadId}.${++batchSeq}`,
      listener: this.listener,
      rows: this.rows,
      nums: full ? this.nums : this.nums.slice(0, this.rows * NUM_COLS),
      strs: (n === this.strs.length ? this.strs : this.strs.slice(0, n)).join(SEP),
      headers: this.cfg.headers,
      respHeaders: this.cfg.respHeaders,
    };
    this.rows = 0;
    if (full) this.nums = new Float64Array(this.capacity * NUM_COLS);
    this.emit(batch);
  }
}

function flushBuffer(b: AccessLogBuffer): void {
  b.flush();
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
