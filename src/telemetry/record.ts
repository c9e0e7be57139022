// The access-log record as it is kept: columns, so that a batch is a few arrays rather than an object
// per request. The request path writes one row per request into the plane's buffer
// (plane-telemetry.ts); at a flush the same thread formats the rows (format.ts) into bytes on shared
// memory, and only those bytes (and the numbers) cross to the shipper and the log-ship pool.

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
  /** Path without the query, as received. */
  Path,
  /** Query without the '?', or ''. Kept apart so that the request path builds no string. */
  Query,
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

/** What the formatters read: the numbers and the string cells of a batch, row-major. */
export interface Rows {
  nums: Float64Array;
  strs: readonly string[];
}

/** One format's rendering of a batch: every row some sink of that format wants, one per line. */
export interface FormattedText {
  /** UTF-8, each row followed by '\n', on a SharedArrayBuffer: every sink's task reads the same bytes. */
  bytes: Uint8Array;
  /** ends[r]: the byte offset just past row r's newline. A row no sink of this format wants has no
   *  bytes (ends[r] equals the end of the row before it). */
  ends: Uint32Array;
}

/**
 * A batch as it crosses threads: formatted already, on shared memory, so that handing it to a thread
 * (a worker plane to the main thread, the main thread to the log-ship pool once per sink) copies no
 * records (measured: joining, cloning and splitting string cells cost about 1.5 us a record).
 */
export interface RecordBatch {
  /** Unique in the process (thread id and a counter), for logs and tests. */
  id: string;
  /** The listener whose sinks take the batch (the shipper's key). */
  listener: string;
  rows: number;
  /** rows x NUM_COLS, on a SharedArrayBuffer (sink masks, Loki timestamps). */
  nums: Float64Array;
  /** One text per distinct format among the listener's sinks. */
  texts: FormattedText[];
  /** For sink i of the listener, the index of its text in `texts`. */
  sinkText: number[];
  /**
   * The batch's shared memory is lent, not given: 1 while the shipper uses it, set back to 0 by the
   * shipper when every sink is done with the batch, after which the data plane writes its next batches
   * there (batch-memory.ts). Absent on batches built elsewhere (tests).
   */
  lease?: Int32Array;
}

/** BroadcastChannel on which the shipper tells the log-ship pool that the process is exiting. */
export const CLOSE_CHANNEL = 'pillion.log-ship.close';
