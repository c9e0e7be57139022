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

/** A batch as it crosses threads: the numbers are transferred, the strings copied. */
export interface RecordBatch {
  /** Index of the sink set (one per listener config) in the shipper. */
  listener: string;
  rows: number;
  nums: Float64Array;
  /** rows x (STR_COLS + headers.length + respHeaders.length) strings. */
  strs: string[];
  /** Request headers captured for REQ(...) operators, lowercase, in column order after STR_COLS. */
  headers: string[];
  /** Response headers captured for RESP(...) operators, after the request headers. */
  respHeaders: string[];
}
