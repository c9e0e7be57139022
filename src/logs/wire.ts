// A batch of collected log records as it crosses into the log-ship pool, and how the pool turns it into
// the sinks' lines (src/telemetry/sinks.ts). Columns, not an object per record: the numbers travel in a
// transferred Float64Array, the times and messages as one string (one copy by the structured clone,
// several times cheaper than 10,000 small objects), and each file's static members once per batch.
//
//   collector (main thread)                      log-ship worker
//   LogBatchBuilder.add() x N ─ build() ─move─▶ logLines(): NDJSON documents, Loki streams ─▶ sinks.ts
import { rfc3339ToNs } from './formats.js';
import type { Lines, LokiStream } from '../telemetry/sinks.js';

/** The file a record comes from: its static JSON members, pre-serialised, and its Loki labels. */
export interface LogSource {
  /** `"file":"…","namespace":"…"`, no braces. */
  fields: string;
  labels: Record<string, string>;
}

/** Per record, in `cols`: the source, the stream (0: none, else index + 1 into `streams`), lengths, read time. */
const enum Col {
  Source,
  Stream,
  /** 0: the time is the read time (`readMs` as ISO 8601); else the length of the runtime's time in `text`. */
  TimeLen,
  MessageLen,
  ReadMs,
  Count,
}

export interface LogBatch {
  records: number;
  /** records x Col.Count numbers. */
  cols: Float64Array;
  /** Each record's time (when it has its own) then its message, in record order. */
  text: string;
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
  private cols: number[] = [];
  private text = '';
  private readonly sources: LogSource[] = [];
  private readonly sourceIndex = new Map<LogSource, number>();
  private readonly streams: string[] = [];

  /** `time` null: the read time. */
  add(source: LogSource, time: string | null, readMs: number, stream: string | null, message: string): void {
    let s = this.sourceIndex.get(source);
    if (s === undefined) {
      s = this.sources.length;
      this.sources.push(source);
      this.sourceIndex.set(source, s);
    }
    let st = 0;
    if (stream !== null) {
      st = this.streams.indexOf(stream) + 1;
      if (st === 0) st = this.streams.push(stream);
    }
    const t = time ?? '';
    this.cols.push(s, st, t.length, message.length, readMs);
    this.text += t + message;
    this.records++;
    this.bytes += message.length + 64;
  }

  build(): LogBatch {
    return { records: this.records, cols: Float64Array.from(this.cols), text: this.text, sources: this.sources, streams: this.streams };
  }
}

/** Calls `fn` for each record in order, without making objects. */
function each(b: LogBatch, fn: (source: LogSource, time: string, readMs: number, stream: string | null, message: string) => void): void {
  const c = b.cols;
  let pos = 0;
  let isoMs = -1;
  let iso = '';
  for (let i = 0, o = 0; i < b.records; i++, o += Col.Count) {
    const tl = c[o + Col.TimeLen]!;
    const ml = c[o + Col.MessageLen]!;
    const readMs = c[o + Col.ReadMs]!;
    let time: string;
    if (tl === 0) {
      if (readMs !== isoMs) {
        isoMs = readMs;
        iso = new Date(readMs).toISOString();
      }
      time = iso;
    } else {
      time = b.text.slice(pos, pos + tl);
    }
    const message = b.text.slice(pos + tl, pos + tl + ml);
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

/** The NDJSON document of a record: `{"time":…,<file members>,"stream":…,"message":…}`. */
export function ndjsonLine(source: LogSource, time: string, stream: string | null, message: string): string {
  return `{"time":"${time}",${source.fields}${stream === null ? '' : `,"stream":"${stream}"`},"message":${JSON.stringify(message)}}`;
}

/**
 * The sinks' view of a batch: NDJSON documents (stdout, file, NDJSON, Elasticsearch), and for Loki one
 * stream per file label set and stream, with the message as the line and the record's time in nanoseconds.
 */
export function logLines(b: LogBatch): Lines {
  const lines: string[] = [];
  each(b, (source, time, _readMs, stream, message) => lines.push(ndjsonLine(source, time, stream, message)));
  return {
    lines,
    json: true,
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
