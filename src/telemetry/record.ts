// The access-log record as it travels: columns, so that a batch is a few arrays rather than an object
// per request. The request path writes one row per request into the plane's buffer (buffer.ts); the
// formatter (format.ts, in the log-ship pool) reads rows back by column index.

/** Numeric columns (one Float64Array of width NUM_COLS per batch). */
export const enum Num {
  StartEpochMs,
  DurationMs,
  Status,
  BytesReceived,
  BytesSent,
  /** Time from sending upstream to the upstream's response head; -1 without one. */
  UpstreamServiceMs,
  /** Bit i set: sink i of the listener wants this record (its filter passed). */
  SinkMask,
  Count,
}
export const NUM_COLS = Num.Count;

/** String columns (one string[] of width STR_COLS + captured headers per batch). */
export const enum Str {
  Method,
  /** Path with query, as received. */
  Path,
  Protocol,
  ResponseFlags,
  UpstreamHost,
  UpstreamCluster,
  DownstreamRemote,
  Route,
  Listener,
  /** Short fingerprint of a credential (API key), or ''. */
  Credential,
  Count,
}
export const STR_COLS = Str.Count;

/**
 * Separates the string cells of a batch on the wire. Values that come from a client or an upstream
 * (path, headers) have it replaced on the request path (`cell()`), so it cannot shift a column.
 */
export const SEP = '\u0001';

/** A client- or upstream-supplied value, safe to put in a cell. */
export function cell(v: string): string {
  return v.indexOf(SEP) === -1 ? v : v.replaceAll(SEP, '\uFFFD');
}

/** What the formatters read: the numbers and the string cells of a batch, row-major. */
export interface Rows {
  nums: Float64Array;
  strs: readonly string[];
}

/**
 * A batch as it crosses threads: the numbers are transferred; the strings travel as one string (cells
 * joined by SEP), which the structured clone copies in one piece, about five times cheaper than an
 * array of small strings.
 */
export interface RecordBatch {
  /** Unique in the process (thread id and a counter): the log-ship worker formats a batch once for
   *  all the sinks that share a format, and knows the batch again by this. */
  id: string;
  /** Index of the sink set (one per listener config) in the shipper. */
  listener: string;
  rows: number;
  nums: Float64Array;
  /** rows x (STR_COLS + headers.length + respHeaders.length) cells, joined by SEP. */
  strs: string;
  /** Request headers captured for REQ(...) operators, lowercase, in column order after STR_COLS. */
  headers: string[];
  /** Response headers captured for RESP(...) operators, after the request headers. */
  respHeaders: string[];
}

/** BroadcastChannel on which the shipper tells the log-ship pool that the process is exiting. */
export const CLOSE_CHANNEL = 'pillion.log-ship.close';
