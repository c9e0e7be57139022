// A batch of collected log records as it crosses into the log-ship pool, and how the pool turns it into
// the sinks' lines (src/telemetry/sinks.ts). Columns, not an object per record: five numbers a record in
// a Float64Array, the times and messages as UTF-8 bytes in one buffer, and each file's static members
// once per batch. A plain line goes from the read buffer into the batch as bytes (addBytes): the main
// thread makes no string per line, so its heap stays small at full rate; the worker decodes.
//
//   collector (main thread)                          log-ship worker
//   LogBatchBuilder.addBytes()/add() x N ─ build() ─▶ logLines(): NDJSON documents, Loki streams ─▶ sinks.ts
import { rfc3339ToNs } from './formats.js';
import type { Lines, LokiStream } from '../telemetry/sinks.js';

/** The file a record comes from: its static JSON members, pre-serialised, and its Loki labels. */
export interface LogSource {
  /** `"file":"…","namespace":"…"`, no braces. */
  fields: string;
  labels: Record<string, string>;
}

/** Per record, in `cols`: the source, the stream (0: none, else index + 1 into `streams`), byte lengths, read time. */
const enum Col {
  Source,
  Stream,
  /** 0: the time is the read time (`readMs` as ISO 8601); else the byte length of the runtime's time. */
  TimeLen,
  MessageLen,
  ReadMs,
  Count,
}

export interface LogBatch {
  records: number;
  /** records x Col.Count numbers. */
  cols: Float64Array;
  /** Each record's time (when it has its own) then its message, UTF-8, in record order. */
  bytes: Uint8Array;
  sources: LogSource[];
  streams: string[];
}

/** One record, decoded (the worker's view, and the tests'). */
export interface LogRecord {
  source: LogSource;
  /** RFC 3339: the runtime's for container lines (as written), the read time otherwise. */
  time: string;
  readMs: number;
  /** stdout/stderr for container lines; null for plain files. */
  stream: string | null;
  message: string;
}

/** Builds a batch on the collector's side; the source objects are the files' own, not copies. */
export class LogBatchBuilder {
  records = 0;
  /** Message bytes plus 64 per record: what --batch-max-bytes bounds. */
  bytes = 0;
  private cols = new Float64Array(1024 * Col.Count);
  private buf = Buffer.allocUnsafeSlow(64 * 1024);
  private used = 0;
  private readonly sources: LogSource[] = [];
  private readonly sourceIndex = new Map<LogSource, number>();
  private readonly streams: string[] = [];

  /** A record whose message is `src[start, end)`, UTF-8, and whose time is the read time. */
  addBytes(source: LogSource, readMs: number, src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.room(n);
    src.copy(this.buf, this.used, start, end);
    this.used += n;
    this.push(source, 0, 0, n, readMs);
  }

  /**
   * A container record from the read buffer: the runtime's time is `src[timeStart, timeEnd)`, the
   * message `src[start, end)`, both UTF-8 (a CRI line, parsed in place).
   */
  addContainerBytes(source: LogSource, readMs: number, stream: string, src: Buffer, timeStart: number, timeEnd: number, start: number, end: number): void {
    const tl = timeEnd - timeStart;
    const n = end - start;
    this.room(tl + n);
    src.copy(this.buf, this.used, timeStart, timeEnd);
    src.copy(this.buf, this.used + tl, start, end);
    this.used += tl + n;
    this.push(source, this.streamIndex(stream), tl, n, readMs);
  }

  /** `time` null: the read time. */
  add(source: LogSource, time: string | null, readMs: number, stream: string | null, message: string): void {
    const st = stream === null ? 0 : this.streamIndex(stream);
    const t = time ?? '';
    // A UTF-16 unit is at most 3 UTF-8 bytes.
    this.room(3 * (t.length + message.length));
    const tl = t.length === 0 ? 0 : this.buf.write(t, this.used, 'utf8');
    this.used += tl;
    const ml = this.buf.write(message, this.used, 'utf8');
    this.used += ml;
    this.push(source, st, tl, ml, readMs);
  }

  /** The batch; the builder starts afresh (the buffers now belong to the batch). */
  build(): LogBatch {
    const b: LogBatch = {
      records: this.records,
      cols: this.cols.subarray(0, this.records * Col.Count),
      bytes: this.buf.subarray(0, this.used),
      sources: this.sources,
      streams: this.streams,
    };
    this.cols = new Float64Array(Col.Count);
    this.buf = Buffer.allocUnsafeSlow(0);
    this.used = 0;
    return b;
  }

  private streamIndex(stream: string): number {
    const i = this.streams.indexOf(stream) + 1;
    return i === 0 ? this.streams.push(stream) : i;
  }

  private push(source: LogSource, stream: number, timeLen: number, messageLen: number, readMs: number): void {
    let s = this.sourceIndex.get(source);
    if (s === undefined) {
      s = this.sources.length;
      this.sources.push(source);
      this.sourceIndex.set(source, s);
    }
    let o = this.records * Col.Count;
    if (o + Col.Count > this.cols.length) {
      const c = new Float64Array(Math.max(2 * this.cols.length, o + Col.Count));
      c.set(this.cols);
      this.cols = c;
    }
    const c = this.cols;
    c[o++] = s;
    c[o++] = stream;
    c[o++] = timeLen;
    c[o++] = messageLen;
    c[o] = readMs;
    this.records++;
    this.bytes += messageLen + 64;
  }

  private room(n: number): void {
    if (this.used + n <= this.buf.length) return;
    // Not from Buffer's shared pool: the batch owns its memory outright.
    const b = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.used + n, 64 * 1024));
    this.buf.copy(b, 0, 0, this.used);
    this.buf = b;
  }
}

/** ISO 8601 of a read time, made once per millisecond (a batch's plain lines share a few). */
class IsoTimes {
  private ms = -1;
  private iso = '';
  at(ms: number): string {
    if (ms !== this.ms) {
      this.ms = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }
}

/** Calls `fn` for each record in order, without making objects. */
function each(b: LogBatch, fn: (source: LogSource, time: string, readMs: number, stream: string | null, message: string) => void): void {
  const c = b.cols;
  const bytes = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
  const iso = new IsoTimes();
  let pos = 0;
  for (let i = 0, o = 0; i < b.records; i++, o += Col.Count) {
    const tl = c[o + Col.TimeLen]!;
    const ml = c[o + Col.MessageLen]!;
    const readMs = c[o + Col.ReadMs]!;
    const time = tl === 0 ? iso.at(readMs) : bytes.toString('utf8', pos, pos + tl);
    const message = bytes.toString('utf8', pos + tl, pos + tl + ml);
    pos += tl + ml;
    const st = c[o + Col.Stream]!;
    fn(b.sources[c[o + Col.Source]!]!, time, readMs, st === 0 ? null : b.streams[st - 1]!, message);
  }
}

export function decodeLogBatch(b: LogBatch): LogRecord[] {
  const out: LogRecord[] = [];
  each(b, (source, time, readMs, stream, message) => out.push({ source, time, readMs, stream, message }));
  return out;
}

/**
 * The NDJSON document of a record: `{"time":…,<file members>,"stream":…,"message":…}`. The reference
 * for ndjsonBytes(), which writes the same documents as bytes (wire.test.ts compares the two).
 */
export function ndjsonLine(source: LogSource, time: string, stream: string | null, message: string): string {
  return `{"time":${JSON.stringify(time)},${source.fields}${stream === null ? '' : `,"stream":${JSON.stringify(stream)}`},"message":${JSON.stringify(message)}}`;
}

/** A growing output buffer for NDJSON bytes (not from Buffer's shared pool, so it can be handed on whole). */
class Out {
  buf: Buffer;
  n = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(1024, size));
  }
  room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.n + k));
    this.buf.copy(b, 0, 0, this.n);
    this.buf = b;
  }
  bytes(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.n += src.copy(this.buf, this.n, start, end);
  }
  string(s: string): void {
    this.room(3 * s.length);
    this.n += this.buf.write(s, this.n, 'utf8');
  }
}

/** True when the bytes can stand in a JSON string as they are: printable ASCII other than `"` and `\`. */
function jsonSafe(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/**
 * The NDJSON documents of a batch, each after `prefix` and followed by a newline, written as bytes. A
 * message of printable ASCII without quotes or backslashes (most log lines) is copied as it is; any other
 * goes through JSON.stringify. The same documents as ndjsonLine(), without a string per record.
 */
function ndjsonBytes(b: LogBatch, prefix: string): Buffer {
  const bytes = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
  const sources = b.sources.map((s) => Buffer.from(`",${s.fields}`));
  const streams = ['', ...b.streams.map((st) => `,"stream":${JSON.stringify(st)}`)].map((x) => Buffer.from(x));
  const head = Buffer.from(`${prefix}{"time":"`);
  const mid = Buffer.from(',"message":');
  let perRecord = head.length + mid.length + 40;
  for (const s of sources) perRecord = Math.max(perRecord, head.length + mid.length + 40 + s.length);
  const out = new Out(bytes.length + b.records * (perRecord + 16));
  const c = b.cols;
  const iso = new IsoTimes();
  let pos = 0;
  for (let i = 0, o = 0; i < b.records; i++, o += Col.Count) {
    const tl = c[o + Col.TimeLen]!;
    const ml = c[o + Col.MessageLen]!;
    out.bytes(head, 0, head.length);
    if (tl === 0) {
      out.string(iso.at(c[o + Col.ReadMs]!));
    } else if (jsonSafe(bytes, pos, pos + tl)) {
      out.bytes(bytes, pos, pos + tl);
    } else {
      out.string(JSON.stringify(bytes.toString('utf8', pos, pos + tl)).slice(1, -1));
    }
    const src = sources[c[o + Col.Source]!]!;
    out.bytes(src, 0, src.length);
    const st = streams[c[o + Col.Stream]!]!;
    out.bytes(st, 0, st.length);
    out.bytes(mid, 0, mid.length);
    const m = pos + tl;
    if (jsonSafe(bytes, m, m + ml)) {
      out.room(ml + 4);
      out.buf[out.n++] = 0x22;
      out.n += bytes.copy(out.buf, out.n, m, m + ml);
      out.buf[out.n++] = 0x22;
    } else {
      out.string(JSON.stringify(bytes.toString('utf8', m, m + ml)));
    }
    out.room(2);
    out.buf[out.n++] = 0x7d;
    out.buf[out.n++] = 0x0a;
    pos = m + ml;
  }
  return out.buf.subarray(0, out.n);
}

/**
 * The sinks' view of a batch: NDJSON documents (stdout, file, NDJSON, Elasticsearch), and for Loki one
 * stream per file label set and stream, with the message as the line and the record's time in nanoseconds.
 */
export function logLines(b: LogBatch): Lines {
  return {
    text: () => ndjsonBytes(b, ''),
    bulk: (action) => ndjsonBytes(b, `${action}\n`),
    loki(extra: Record<string, string>): LokiStream[] {
      const streams = new Map<LogSource, Map<string, [string, string][]>>();
      each(b, (source, time, readMs, stream, message) => {
        let byStream = streams.get(source);
        if (byStream === undefined) streams.set(source, (byStream = new Map()));
        const key = stream ?? '';
        let values = byStream.get(key);
        if (values === undefined) byStream.set(key, (values = []));
        values.push([rfc3339ToNs(time, readMs), message]);
      });
      const out: LokiStream[] = [];
      for (const [source, byStream] of streams) {
        for (const [stream, values] of byStream) {
          out.push({ stream: stream === '' ? { ...extra, ...source.labels } : { ...extra, ...source.labels, stream }, values });
        }
      }
      return out;
    },
  };
}
