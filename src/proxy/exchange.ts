// One request/response through the proxy: the uWS response on one side, an undici dispatch on the
// other. The class is the undici handler itself (no wrapper object), sets every field in its
// constructor, and writes to the client only inside `res.cork()` (writes from undici callbacks are
// outside uWS's own cork, and would otherwise cost a syscall each).
//
// Backpressure, both ways:
//   client -> upstream: uWS onData pushes into RequestBody; when undici stops reading, the stream's
//     buffer fills, push() returns false and we pause the uWS socket; _read() resumes it.
//   upstream -> client: onData returns false when uWS could not take the chunk (tryEnd/write), which
//     pauses undici; uWS's onWritable writes the rest and calls undici's resume().
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { FrontResponse } from '../front/types.js';
import { LOCAL_REPLIES, replyForUpstreamError, type LocalReply } from '../errors/local-reply.js';
import type { ClusterStats, ListenerStats } from '../stats/names.js';
import type { Endpoint } from '../upstream/cluster.js';
import { filterResponseHeaders } from './headers.js';
import { statusLine } from './status-line.js';

/** What an exchange needs from its listener; shared by all its requests. */
export interface ListenerContext {
  readonly stats: Float64Array;
  readonly ls: ListenerStats;
  /** True while draining: responses carry `Connection: close`. */
  draining: boolean;
  /** Requests in flight on this data plane (drain waits for zero). */
  active: number;
}

// Module-level slots so that res.cork() takes a plain function rather than a new closure per call.
let corkTarget: Exchange | null = null;
let corkChunk: Buffer | null = null;
let corkReply: LocalReply | null = null;
let corkRes: FrontResponse | null = null;
let corkClose = false;

function corkedData(): void { corkTarget!.writeChunk(corkChunk!); }
function corkedComplete(): void { corkTarget!.writeEnd(); }
function corkedReply(): void { writeLocalReply(corkRes!, corkReply!, corkClose); }

/** Writes one of the proxy's own responses (already corked, or inside a uWS handler). */
export function writeLocalReply(res: FrontResponse, r: LocalReply, close: boolean): void {
  res.writeStatus(r.status);
  res.writeHeader('content-type', 'text/plain');
  res.writeHeader('x-pillion-error', r.flag);
  if (close) res.writeHeader('connection', 'close');
  res.end(r.body, close);
}

/** Same, from outside a uWS handler (an undici callback or a timer). */
export function sendLocalReply(res: FrontResponse, r: LocalReply, close: boolean): void {
  corkRes = res; corkReply = r; corkClose = close;
  res.cork(corkedReply);
  corkRes = null; corkReply = null;
}

const enum State {
  /** Waiting for the upstream's response head. */
  Waiting,
  /** Response head received; nothing written to the client yet. */
  HeadReceived,
  /** Writing the body to the client. */
  Streaming,
  /** Done: response ended, or the client went away. Nothing touches `res` any more. */
  Done,
}

export class Exchange implements Dispatcher.DispatchHandler {
  state = State.Waiting;
  /** uWS throws if `res` is touched after onAborted: every write checks this first. */
  clientGone = false;
  status = 0;
  headers: (string | Buffer)[] = [];
  /** The upstream's content-length, or -1 (then the client gets chunked encoding). */
  contentLength = -1;
  /** Bytes of the current chunk uWS did not take, with the write offset where the chunk began. */
  pending: Buffer | null = null;
  pendingOffset = 0;
  /** The upstream finished while a chunk was still pending. */
  completeAfterPending = false;
  abortUpstream: ((err?: Error) => void) | null = null;
  resumeUpstream: (() => void) | null = null;
  body: RequestBody | null = null;
  requestBytes = 0;
  /** We paused the uWS socket. uWS's resume() on a socket that is not paused stalls the body, so
   *  only a pause of ours is ever undone. */
  clientPaused = false;

  constructor(
    readonly res: FrontResponse,
    readonly ctx: ListenerContext,
    readonly cs: ClusterStats,
    readonly endpoint: Endpoint,
    /** HEAD: the response has headers only. */
    readonly headRequest: boolean,
    readonly maxRequestBytes: number,
  ) {
    ctx.active++;
    ctx.stats[ctx.ls.rqActive]++;
    ctx.stats[cs.rqTotal]++;
    ctx.stats[cs.rqActive]++;
    endpoint.active++;
  }

  // --- client side -------------------------------------------------------------------------------

  /** uWS: the client closed the connection (or uWS closed it) before the response ended. */
  onClientAborted(): void {
    this.clientGone = true;
    if (this.state !== State.Done) {
      this.ctx.stats[this.ctx.ls.rqAborted]++;
      this.ctx.stats[this.cs.rqCancelled]++;
      this.finish();
      if (this.abortUpstream !== null) this.abortUpstream(new Error('client aborted'));
    }
    if (this.body !== null) this.body.destroy();
  }

  /** A piece of the request body, owned by us (the front copied it if it had to). */
  onClientData(chunk: Buffer, isLast: boolean): void {
    const body = this.body;
    if (body === null || this.state === State.Done) return;
    this.requestBytes += chunk.byteLength;
    if (this.requestBytes > this.maxRequestBytes) {
      this.ctx.stats[this.ctx.ls.rqTooLarge]++;
      this.fail(LOCAL_REPLIES.bodyTooLarge, true);
      return;
    }
    if (chunk.byteLength > 0 && !body.push(chunk) && !this.clientPaused) {
      this.clientPaused = true;
      this.res.pause();
    }
    if (isLast) body.push(null);
  }

  // --- undici handler ------------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.clientGone) abort(new Error('client aborted'));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.state === State.Done) return false;
    // 1xx: uWS has answered Expect itself and we do not pass upgrades; wait for the final response.
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.resumeUpstream = resume;
    this.contentLength = filterResponseHeaders(rawHeaders, this.headers);
    this.state = State.HeadReceived;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.state === State.Done) return false;
    corkTarget = this; corkChunk = chunk;
    this.res.cork(corkedData);
    corkTarget = null; corkChunk = null;
    return this.pending === null;
  }

  onComplete(): void {
    if (this.state === State.Done) return;
    if (this.pending !== null) {
      this.completeAfterPending = true;
      return;
    }
    corkTarget = this;
    this.res.cork(corkedComplete);
    corkTarget = null;
  }

  onError(err: Error & { code?: string }): void {
    if (this.body !== null) this.body.destroy();
    if (this.state === State.Done) return;
    const stats = this.ctx.stats;
    if (this.state === State.Waiting) {
      const kind = replyForUpstreamError(err);
      if (kind === 'upstreamTimeout') stats[this.cs.rqTimeout]++;
      else if (this.abortUpstream !== null) stats[this.cs.rqRxReset]++;
      this.fail(LOCAL_REPLIES[kind], false);
      return;
    }
    // The response has begun: the only honest thing left is to cut the connection, so that the
    // client sees a truncated response rather than a complete-looking one.
    stats[this.ctx.ls.rqUpstreamReset]++;
    stats[this.cs.rqRxReset]++;
    this.finish();
    this.res.close();
  }

  // --- writing (always inside cork) ----------------------------------------------------------------

  private writeHead(): void {
    const res = this.res;
    const stats = this.ctx.stats;
    const cls = (this.status / 100) | 0;
    stats[this.ctx.ls.rq1xx + cls - 1]++;
    stats[this.cs.rq1xx + cls - 1]++;
    res.writeStatus(statusLine(this.status));
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i] as string, h[i + 1]!);
    if (this.ctx.draining) {
      stats[this.ctx.ls.rqDrainClose]++;
      res.writeHeader('connection', 'close');
    }
    this.state = State.Streaming;
  }

  writeChunk(chunk: Buffer): void {
    const res = this.res;
    if (this.state === State.HeadReceived) this.writeHead();
    if (this.contentLength >= 0) {
      const offset = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.contentLength);
      if (done) this.finish();
      else if (!ok) this.stall(chunk, offset);
    } else if (!res.write(chunk)) {
      // write() keeps the whole chunk; we only wait until it has drained.
      this.stall(null, 0);
    }
  }

  writeEnd(): void {
    const res = this.res;
    if (this.state === State.HeadReceived) this.writeHead();
    if (this.state === State.Done) return;
    // No optional arguments to uWS here: its binding reads an explicit `undefined` length as 2^63,
    // and endWithoutBody(n) closes the connection afterwards. While draining, writeHead() has already
    // written `Connection: close`, which is what makes the client leave.
    if (this.headRequest || this.status === 204 || this.status === 304) {
      if (this.headRequest && this.contentLength >= 0) res.writeHeader('content-length', String(this.contentLength));
      res.endWithoutBody();
    } else if (this.contentLength > 0) {
      // tryEnd never completed: the upstream sent less than it announced. Cut, do not pretend.
      this.ctx.stats[this.ctx.ls.rqUpstreamReset]++;
      this.finish();
      res.close();
      return;
    } else {
      res.end();
    }
    this.finish();
  }

  private stall(rest: Buffer | null, offset: number): void {
    this.pending = rest ?? EMPTY;
    this.pendingOffset = offset;
    this.res.onWritable((o) => this.onWritable(o));
  }

  /** uWS: the client's socket can take more. Returns true when nothing is left pending. */
  private onWritable(offset: number): boolean {
    if (this.state === State.Done || this.pending === null) return true;
    let ok = true;
    if (this.pending !== EMPTY) {
      const [wrote, done] = this.res.tryEnd(this.pending.subarray(offset - this.pendingOffset), this.contentLength);
      if (done) { this.pending = null; this.finish(); return true; }
      ok = wrote;
    }
    if (!ok) return false;
    this.pending = null;
    if (this.completeAfterPending) this.writeEnd();
    else if (this.resumeUpstream !== null) this.resumeUpstream();
    return true;
  }

  /** Ends the exchange early with a local reply when nothing was written yet, else by cutting it. */
  private fail(reply: LocalReply, closeConnection: boolean): void {
    if (this.abortUpstream !== null) this.abortUpstream(new Error(reply.flag));
    if (this.state === State.Done || this.clientGone) { this.finish(); return; }
    const stats = this.ctx.stats;
    if (this.state === State.Streaming) {
      this.finish();
      this.res.close();
      return;
    }
    stats[this.ctx.ls.rq1xx + (reply.status.charCodeAt(0) - 49)]++;
    this.finish();
    sendLocalReply(this.res, reply, closeConnection || this.ctx.draining);
  }

  private finish(): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    const ctx = this.ctx;
    ctx.active--;
    ctx.stats[ctx.ls.rqActive]--;
    ctx.stats[this.cs.rqActive]--;
    this.endpoint.active--;
  }
}

const EMPTY = Buffer.alloc(0);

/** The request body as undici reads it; reading more resumes the paused uWS socket. */
export class RequestBody extends Readable {
  constructor(private readonly ex: Exchange) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _read(): void {
    const ex = this.ex;
    if (ex.clientPaused && !ex.clientGone) {
      ex.clientPaused = false;
      ex.res.resume();
    }
  }
}
