// One request/response through the proxy. The Exchange is at once the filters' StreamContext and the
// undici handler (no wrapper object per request); it sets every field in its constructor and writes to
// the client only inside `res.cork()` (writes from undici callbacks are outside uWS's own cork, and
// would otherwise cost a syscall each).
//
//   front handler ──> request filters (config order) ──> breaker ──> endpoint ──> undici dispatch
//   client <── write head + body (tryEnd / write) <── response filters (reverse order) <── onHeaders
//                                          └── retry (backoff, another endpoint) on a retriable failure
//
// Backpressure, both ways:
//   client -> upstream: the front pushes into RequestBody; when undici stops reading, the stream's
//     buffer fills, push() returns false and we pause the client socket; _read() resumes it.
//   upstream -> client: onData returns false when the front could not take the chunk (tryEnd/write),
//     which pauses undici; the front's onWritable writes the rest and calls undici's resume().
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { FilterStatus, type Filter, type StreamContext } from '../chain/filter.js';
import type { FrontKind, FrontResponse } from '../front/types.js';
import type { ClientIdentity } from '../front/tls.js';
import { LOCAL_REPLIES, replyForUpstreamError, type LocalReply, type LocalReplyKind } from '../errors/local-reply.js';
import type { ListenerStats } from '../stats/names.js';
import type { Cluster, Endpoint } from '../upstream/cluster.js';
import { backoffMs, retriableError, retriableStatus } from '../upstream/retry.js';
import { unwatch, watch, type Deadlined } from './deadlines.js';
import { filterResponseHeaders } from './headers.js';
import type { Route } from './router.js';
import { statusLine } from './status-line.js';
import type { Histogram } from 'hdr-histogram-js';
import type { AccessLogBuffer, LoggedRequest } from '../telemetry/plane-telemetry.js';

/** What an exchange needs from its listener; shared by all its requests. */
export interface ListenerContext {
  readonly stats: Float64Array;
  readonly ls: ListenerStats;
  /** Downstream request time of this listener. */
  readonly histogram: Histogram;
  /** The listener's access log, or null when it has none. */
  accessLog: AccessLogBuffer | null;
  /** True while draining: responses carry `Connection: close`. */
  draining: boolean;
  readonly front: FrontKind;
  /** Add Envoy's response headers (config `envoy_headers`). */
  envoyHeaders: boolean;
  /** Requests in flight on this listener (drain waits for zero). */
  active: number;
}

// Module-level slots so that res.cork() takes a plain function rather than a new closure per call.
let corkTarget: Exchange | null = null;
let corkChunk: Buffer | null = null;
let corkReply: LocalReply | null = null;
let corkExtra: readonly string[] | null = null;
let corkRes: FrontResponse | null = null;
let corkClose = false;

function corkedData(): void { corkTarget!.writeChunk(corkChunk!); }
function corkedComplete(): void { corkTarget!.writeEnd(); }
function corkedReply(): void { writeLocalReply(corkRes!, corkReply!, corkClose, corkExtra); }

const OVERLOADED = ['x-envoy-overloaded', 'true'];
const RATELIMITED = ['x-envoy-ratelimited', 'true'];

/** Writes one of the proxy's own responses (already corked, or inside a front handler). */
export function writeLocalReply(res: FrontResponse, r: LocalReply, close: boolean, extra: readonly string[] | null = null): void {
  res.writeStatus(r.status);
  res.writeHeader('content-type', 'text/plain');
  res.writeHeader('x-pillion-error', r.flag);
  if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
  // Both fronts write `Connection: close` themselves when asked to close.
  res.end(r.body, close);
}

/** Same, from outside a front handler (an undici callback, a timer, an async filter). */
function sendLocalReply(res: FrontResponse, r: LocalReply, close: boolean, extra: readonly string[] | null): void {
  corkRes = res; corkReply = r; corkClose = close; corkExtra = extra;
  res.cork(corkedReply);
  corkRes = null; corkReply = null; corkExtra = null;
}

const enum State {
  /** Request filters running (or one of them waiting). */
  Filtering,
  /** Sent upstream (or waiting to retry); no response head yet. */
  Waiting,
  /** Response head received; nothing written to the client yet. */
  HeadReceived,
  /** Writing the body to the client. */
  Streaming,
  /** Done: response ended, or the client went away. Nothing touches `res` any more. */
  Done,
}

/** What an upstream timeout hands to undici's abort (and so to onError): no stack, made once. */
function timeoutError(code: string): Error & { code: string } {
  const e = new Error(code === 'UND_ERR_HEADERS_TIMEOUT' ? 'upstream request timeout' : 'upstream idle timeout') as Error & { code: string };
  e.code = code;
  return e;
}
const HEADERS_TIMEOUT = timeoutError('UND_ERR_HEADERS_TIMEOUT');
const IDLE_TIMEOUT = timeoutError('UND_ERR_BODY_TIMEOUT');

export class Exchange implements StreamContext, Dispatcher.DispatchHandler, LoggedRequest, Deadlined {
  state = State.Filtering;
  /** The front throws if `res` is touched after onAborted: every write checks this first. */
  clientGone = false;
  /** Inside the front's request handler: replies go out without a cork of our own. */
  inHandler = true;
  // StreamContext
  query: string;
  apiKeyClient: string | null = null;
  jwtClaims: Record<string, unknown> | null = null;
  credentialFingerprint: string | null = null;
  clientCert: ClientIdentity | null = null;
  extraResponseHeaders: string[] | null = null;
  private filterIndex = 0;
  // Upstream
  readonly cluster: Cluster;
  endpoint: Endpoint | null = null;
  /** We counted a request in flight on `endpoint` (for least_request). */
  holdsEndpoint = false;
  holdsBreaker = false;
  holdsRetry = false;
  attempt = 0;
  /** Index of the x-pillion-attempt-count value in `headers`, when the route retries. */
  attemptHeader = -1;
  /** performance.now() of the first attempt (retries share the route timeout). */
  startedAt = 0;
  /** performance.now() by which response headers must arrive (route or per-try timeout), or 0. */
  deadline = 0;
  /** performance.now() of the last response bytes (or of the client catching up): idle timeout. */
  lastDataMs = 0;
  // Deadlined (src/proxy/deadlines.ts)
  dlPrev: Deadlined | null = null;
  dlNext: Deadlined | null = null;
  dlLinked = false;
  /** The current attempt is being dropped for a retry: its remaining callbacks are ignored. */
  retrying = false;
  status = 0;
  responseHeaders: (string | Buffer)[] = [];
  /** The upstream's content-length, or -1 (then the client gets chunked encoding). */
  contentLength = -1;
  /** Bytes of the current chunk the front did not take, with the write offset where the chunk began. */
  pending: Buffer | null = null;
  pendingOffset = 0;
  /** The upstream finished while a chunk was still pending. */
  completeAfterPending = false;
  abortUpstream: ((err?: Error) => void) | null = null;
  resumeUpstream: (() => void) | null = null;
  body: RequestBody | null = null;
  /** A copy of the request body for a retry, while it fits RETRY_BODY_LIMIT (null: not kept). */
  private replay: Buffer[] | null = null;
  private replayBytes = 0;
  /** The client has sent the whole request body. */
  private bodyComplete = false;
  requestBytes = 0;
  /** We paused the client socket. uWS's resume() on a socket that is not paused stalls the body,
   *  so only a pause of ours is ever undone. */
  clientPaused = false;
  // Telemetry
  readonly startEpochMs = Date.now();
  readonly startMs = performance.now();
  durationMs = 0;
  upstreamStartMs = 0;
  upstreamServiceMs = -1;
  bytesSent = 0;
  /** The client sent `Connection: close` (set by the listener). */
  clientClose = false;
  /** The status the client got (0 when it got none). */
  finalStatus = 0;
  /** Envoy's response flag of how this ended, or '' (shown as '-'). */
  replyFlag = '';

  constructor(
    readonly res: FrontResponse,
    readonly ctx: ListenerContext,
    readonly route: Route,
    readonly method: string,
    readonly path: string,
    query: string,
    public headers: string[],
    readonly remoteAddress: string,
  ) {
    this.query = query;
    this.cluster = route.cluster!; // null on a direct_response route, whose Exchange never goes upstream
    ctx.active++;
    ctx.stats[ctx.ls.rqActive]++;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  get upstreamHost(): string {
    return this.endpoint === null ? '' : this.endpoint.host;
  }

  get clusterName(): string {
    // A direct_response route has no cluster (this.cluster is only read on the upstream paths).
    return this.route.cluster === null ? '' : this.cluster.config.name;
  }

  get routeName(): string {
    return this.route.name;
  }

  // --- request filters -----------------------------------------------------------------------------

  /** Runs the route's request filters from where they stopped, then sends the request upstream. */
  run(): void {
    const chain = this.route.chain;
    if (chain !== null) {
      while (this.filterIndex < chain.length) {
        const f = chain[this.filterIndex++]!;
        if (f.onRequestHeaders(this) === FilterStatus.Stop || this.state !== State.Filtering) return;
      }
    }
    if (this.route.cluster === null) {
      this.sendDirect();
      return;
    }
    this.state = State.Waiting;
    this.send();
  }

  /** A direct_response route whose filters let the request through: the route's own response, with
   *  whatever headers the filters added (rate-limit headers...). */
  private sendDirect(): void {
    const route = this.route;
    this.ctx.stats[this.ctx.ls.rqDirect]++;
    this.state = State.HeadReceived;
    this.status = route.directStatusCode;
    this.bytesSent = route.directBody.length;
    if (this.inHandler) this.writeDirect();
    else this.res.cork(() => this.writeDirect());
  }

  private writeDirect(): void {
    // A request body is not read: the response does not depend on it.
    if (this.body !== null) this.body.destroy();
    const close = this.closesByEnd();
    this.writeHead(close);
    this.res.end(this.route.directBody, close);
    this.finish();
  }

  resume(): void {
    if (this.state !== State.Filtering) return;
    this.inHandler = false;
    this.run();
  }

  addResponseHeader(name: string, value: string): void {
    (this.extraResponseHeaders ??= []).push(name, value);
  }

  reply(kind: LocalReplyKind, extraHeaders?: readonly string[]): void {
    let extra = extraHeaders ?? null;
    if (kind === 'rateLimited' && this.ctx.envoyHeaders) extra = extra === null ? RATELIMITED : [...extra, ...RATELIMITED];
    this.fail(LOCAL_REPLIES[kind], false, extra);
  }

  // --- client side ---------------------------------------------------------------------------------

  /** The client closed the connection (or the front closed it) before the response ended. */
  onClientAborted(): void {
    this.clientGone = true;
    if (this.state !== State.Done) {
      const stats = this.ctx.stats;
      stats[this.ctx.ls.rqAborted]++;
      if (this.holdsBreaker) stats[this.cluster.stats.rqCancelled]++;
      this.replyFlag = 'DC'; // Envoy: downstream connection termination
      this.finish();
      if (this.abortUpstream !== null) this.abortUpstream(new Error('client aborted'));
    }
    if (this.body !== null) this.body.destroy();
  }

  /** On a route with a retry policy: keep a copy of a small body so that a retry can send it again. */
  keepBodyForRetry(): void {
    this.replay = [];
  }

  /** A piece of the request body, owned by us (the front copied it if it had to). */
  onClientData(chunk: Buffer, isLast: boolean): void {
    const body = this.body;
    if (body === null || this.state === State.Done) return;
    this.requestBytes += chunk.byteLength;
    if (this.requestBytes > this.route.maxRequestBytes) {
      this.ctx.stats[this.ctx.ls.rqTooLarge]++;
      this.fail(LOCAL_REPLIES.bodyTooLarge, true, null);
      return;
    }
    const replay = this.replay;
    if (replay !== null) {
      if ((this.replayBytes += chunk.byteLength) > RETRY_BODY_LIMIT) this.replay = null;
      else if (chunk.byteLength > 0) replay.push(chunk);
    }
    if (isLast) this.bodyComplete = true;
    if (chunk.byteLength > 0 && !body.push(chunk) && !this.clientPaused) {
      this.clientPaused = true;
      this.res.pause();
    }
    if (isLast) body.push(null);
  }

  // --- sending upstream ----------------------------------------------------------------------------

  private send(): void {
    const cluster = this.cluster;
    const stats = this.ctx.stats;
    if (!this.holdsBreaker) {
      if (!cluster.tryAcquire()) {
        this.fail(LOCAL_REPLIES.overflow, false, this.ctx.envoyHeaders ? OVERLOADED : null);
        return;
      }
      this.holdsBreaker = true;
      stats[cluster.stats.rqActive]++;
    }
    const endpoint = cluster.pick(this.endpoint);
    if (endpoint === null) {
      stats[cluster.stats.noHealthy]++;
      this.fail(LOCAL_REPLIES.noHealthyUpstream, false, null);
      return;
    }
    this.endpoint = endpoint;
    endpoint.active++;
    this.holdsEndpoint = true;
    stats[cluster.stats.rqTotal]++;
    const route = this.route;
    const now = performance.now();
    this.upstreamStartMs = now;
    let deadline = route.timeoutMs > 0 ? now + route.timeoutMs : 0;
    const policy = route.retryPolicy;
    if (policy !== null) {
      this.attempt++;
      if (this.attemptHeader < 0) {
        this.startedAt = now;
        this.attemptHeader = this.headers.length + 1;
        this.headers.push('x-pillion-attempt-count', '1');
      } else {
        this.headers[this.attemptHeader] = String(this.attempt);
      }
      if (route.timeoutMs > 0) deadline = this.startedAt + route.timeoutMs;
      if (policy.per_try_timeout_ms > 0 && (deadline === 0 || now + policy.per_try_timeout_ms < deadline)) deadline = now + policy.per_try_timeout_ms;
    }
    this.deadline = deadline;
    if (deadline > 0 || route.idleTimeoutMs > 0) watch(this);
    const q = this.query;
    const opts: Dispatcher.DispatchOptions = {
      method: this.method,
      path: route.rewritePath(q === '' ? this.path : `${this.path}?${q}`),
      headers: this.headers,
      body: this.attempt > 1 && this.replay !== null ? replayBody(this.replay) : this.body,
      // Timeouts are ours (onTick): undici's would arm timers per request.
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    this.abortUpstream = null;
    endpoint.pool.dispatch(opts, this);
  }

  /** May this failed attempt be tried again? Takes the retry slot when it may. */
  private canRetry(): boolean {
    const policy = this.route.retryPolicy;
    if (policy === null || this.clientGone) return false;
    const stats = this.ctx.stats;
    // Only requests whose body can be sent again: none, or a small one kept whole (as Envoy retries
    // what is still in its buffer).
    if (this.body !== null && (this.replay === null || !this.bodyComplete)) return false;
    const timeUsed = performance.now() - this.startedAt;
    if (this.attempt > policy.num_retries || (this.route.timeoutMs > 0 && timeUsed >= this.route.timeoutMs)) {
      stats[this.cluster.stats.rqRetryLimitExceeded]++;
      return false;
    }
    if (!this.holdsRetry) {
      if (!this.cluster.tryAcquireRetry()) return false;
      this.holdsRetry = true;
    }
    return true;
  }

  private scheduleRetry(): void {
    this.releaseEndpoint();
    // The failed attempt is over; while backing off, only the route timeout still runs.
    this.abortUpstream = null;
    this.deadline = this.route.timeoutMs > 0 ? this.startedAt + this.route.timeoutMs : 0;
    this.ctx.stats[this.cluster.stats.rqRetry]++;
    setTimeout(retryNow, backoffMs(this.route.retryPolicy!, this.attempt), this);
  }

  /** Timer callback of a retry. */
  retryFire(): void {
    if (this.state !== State.Waiting || this.clientGone) return;
    this.send();
  }

  /** A tick of src/proxy/deadlines.ts: has a timeout passed? */
  onTick(now: number): void {
    const state = this.state;
    if (state === State.Waiting) {
      if (this.deadline > 0 && now >= this.deadline) this.upstreamTimedOut();
    } else if (state === State.HeadReceived || state === State.Streaming) {
      // While the client is the slow side (a chunk pending), the upstream is paused by us: not idle.
      const idle = this.route.idleTimeoutMs;
      if (idle > 0 && this.pending === null && now - this.lastDataMs >= idle && this.abortUpstream !== null) {
        const abort = this.abortUpstream;
        this.abortUpstream = null;
        abort(IDLE_TIMEOUT); // undici calls onError: the client response is cut
      }
    }
  }

  /** No response headers by the deadline: 504 UT, or a retry, through onError as any upstream failure. */
  private upstreamTimedOut(): void {
    const abort = this.abortUpstream;
    if (abort !== null) {
      this.abortUpstream = null;
      abort(HEADERS_TIMEOUT);
      return;
    }
    // Not on a connection yet (queued in undici, or backing off before a retry): nothing to abort
    // and no retry; undici's later onConnect finds the exchange done and drops the request.
    this.ctx.stats[this.cluster.stats.rqTimeout]++;
    this.fail(LOCAL_REPLIES.upstreamTimeout, false, null);
  }

  private releaseEndpoint(): void {
    if (this.holdsEndpoint) {
      this.holdsEndpoint = false;
      this.endpoint!.active--;
    }
  }

  // --- undici handler ------------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.clientGone || this.state === State.Done) abort(new Error('request ended'));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.state === State.Done || this.retrying) return false;
    // 1xx: the front has answered Expect itself and we do not pass upgrades; wait for the final response.
    if (statusCode < 200) return true;
    const cluster = this.cluster;
    const stats = this.ctx.stats;
    const now = performance.now();
    this.lastDataMs = now;
    this.upstreamServiceMs = now - this.upstreamStartMs;
    cluster.histogram.recordValue(Math.round(this.upstreamServiceMs * 1000));
    stats[cluster.stats.rq1xx + ((statusCode / 100) | 0) - 1]++;
    cluster.reportStatus(this.endpoint!, statusCode);
    const policy = this.route.retryPolicy;
    if (policy !== null && retriableStatus(policy, statusCode) && this.canRetry()) {
      // Drop this response; onError (from the abort) schedules the next attempt.
      this.retrying = true;
      this.abortUpstream!(new Error('retrying'));
      return false;
    }
    if (this.holdsRetry) {
      stats[cluster.stats.rqRetrySuccess]++;
      this.holdsRetry = false;
      cluster.releaseRetry();
    }
    this.status = statusCode;
    this.resumeUpstream = resume;
    this.contentLength = filterResponseHeaders(rawHeaders, this.responseHeaders);
    this.state = State.HeadReceived;
    const chain = this.route.chain;
    if (chain !== null) {
      for (let i = chain.length - 1; i >= 0; i--) {
        const f: Filter = chain[i]!;
        if (f.onResponseHeaders !== undefined && f.onResponseHeaders(this, statusCode, this.responseHeaders) === FilterStatus.Stop) break;
        if (this.state !== State.HeadReceived) return false; // a filter replied instead
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.state === State.Done || this.retrying) return false;
    this.lastDataMs = performance.now();
    corkTarget = this; corkChunk = chunk;
    this.res.cork(corkedData);
    corkTarget = null; corkChunk = null;
    return this.pending === null;
  }

  onComplete(): void {
    if (this.state === State.Done || this.retrying) return;
    if (this.pending !== null) {
      this.completeAfterPending = true;
      return;
    }
    corkTarget = this;
    this.res.cork(corkedComplete);
    corkTarget = null;
  }

  onError(err: Error & { code?: string }): void {
    if (this.retrying) {
      this.retrying = false;
      if (this.state !== State.Done) this.scheduleRetry();
      return;
    }
    if (this.state === State.Done) return;
    const stats = this.ctx.stats;
    const cs = this.cluster.stats;
    if (this.state === State.Waiting) {
      const kind = replyForUpstreamError(err);
      // A reset after the connection was up (undici called onConnect and the socket then failed).
      const reset = err.code === 'UND_ERR_SOCKET' || err.code === 'ECONNRESET';
      if (kind === 'upstreamTimeout') stats[cs.rqTimeout]++;
      else if (reset) stats[cs.rqRxReset]++;
      this.cluster.reportGatewayFailure(this.endpoint!);
      const policy = this.route.retryPolicy;
      if (policy !== null && retriableError(policy, kind, reset) && this.canRetry()) {
        this.scheduleRetry();
        return;
      }
      this.fail(LOCAL_REPLIES[kind], false, null);
      return;
    }
    if (this.body !== null) this.body.destroy();
    // The response has begun: the only honest thing left is to cut the connection, so that the
    // client sees a truncated response rather than a complete-looking one.
    stats[this.ctx.ls.rqUpstreamReset]++;
    stats[cs.rqRxReset]++;
    this.replyFlag = 'UR';
    this.finish();
    this.res.close();
  }

  // --- writing (always inside cork) ----------------------------------------------------------------

  /**
   * Status line and headers. While draining, responses say `Connection: close`; on uWS, where the
   * header alone does not close anything, `closeByEnd` says the caller ends with end(…, true), which
   * writes the header itself and closes.
   */
  private writeHead(closeByEnd = false): void {
    const res = this.res;
    const stats = this.ctx.stats;
    stats[this.ctx.ls.rq1xx + ((this.status / 100) | 0) - 1]++;
    this.finalStatus = this.status;
    res.writeStatus(statusLine(this.status));
    const h = this.responseHeaders;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i] as string, h[i + 1]!);
    const extra = this.extraResponseHeaders;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    if (this.ctx.envoyHeaders && this.upstreamServiceMs >= 0) res.writeHeader('x-envoy-upstream-service-time', String(Math.floor(this.upstreamServiceMs)));
    if (this.ctx.draining) {
      stats[this.ctx.ls.rqDrainClose]++;
      // uWS writes the header itself on end(…, true), except when the client already asked for close.
      if (!closeByEnd || this.clientClose) res.writeHeader('connection', 'close');
    }
    this.state = State.Streaming;
  }

  /** Draining on uWS: this response can end with end(…, true) and so really close the connection.
   *  (uWS 20.30 cannot close after tryEnd(), and end(…, true) after chunked writes corrupts the body.) */
  private closesByEnd(): boolean {
    return this.ctx.draining && this.ctx.front === 'uws';
  }

  /** HEAD, 204 and 304 responses carry no body. */
  private bodiless(): boolean {
    return this.method === 'HEAD' || this.status === 204 || this.status === 304;
  }

  writeChunk(chunk: Buffer): void {
    const res = this.res;
    this.bytesSent += chunk.byteLength;
    if (this.state === State.HeadReceived) {
      // The whole body in one chunk (most responses): while draining on uWS, end and close in one go.
      if (this.contentLength === chunk.byteLength && this.closesByEnd()) {
        this.writeHead(true);
        res.end(chunk, true);
        this.finish();
        return;
      }
      this.writeHead();
    }
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
    if (this.state === State.Done) return;
    // No optional arguments to uWS here: its binding reads an explicit `undefined` length as 2^63,
    // and endWithoutBody(n) closes the connection afterwards (wanted only while draining).
    if (this.state === State.HeadReceived) {
      const close = this.closesByEnd();
      if (close && this.method === 'HEAD' && this.contentLength >= 0) {
        this.writeHead(true);
        res.endWithoutBody(this.contentLength, true);
        this.finish();
        return;
      }
      if (close && !this.bodiless() && this.contentLength <= 0) {
        this.writeHead(true);
        res.end('', true);
        this.finish();
        return;
      }
      this.writeHead();
    }
    if (this.bodiless()) {
      if (this.method === 'HEAD' && this.contentLength >= 0) res.writeHeader('content-length', String(this.contentLength));
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

  /** The client's socket can take more. Returns true when nothing is left pending. */
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
    this.lastDataMs = performance.now();
    if (this.completeAfterPending) this.writeEnd();
    else if (this.resumeUpstream !== null) this.resumeUpstream();
    return true;
  }

  /** Ends the exchange early with a local reply when nothing was written yet, else by cutting it. */
  private fail(reply: LocalReply, closeConnection: boolean, extra: readonly string[] | null): void {
    if (this.abortUpstream !== null && this.state !== State.Done) {
      const abort = this.abortUpstream;
      this.abortUpstream = null;
      abort(new Error(reply.flag));
    }
    if (this.body !== null) this.body.destroy();
    if (this.state === State.Done || this.clientGone) { this.finish(); return; }
    if (this.state === State.Streaming) {
      this.finish();
      this.res.close();
      return;
    }
    this.ctx.stats[this.ctx.ls.rq1xx + (reply.status.charCodeAt(0) - 49)]++;
    this.finalStatus = reply.statusCode;
    this.replyFlag = reply.flag;
    this.bytesSent = reply.body.length;
    const close = closeConnection || this.ctx.draining;
    let headers = extra;
    if (this.extraResponseHeaders !== null) headers = extra === null ? this.extraResponseHeaders : [...extra, ...this.extraResponseHeaders];
    this.finish();
    if (this.inHandler) writeLocalReply(this.res, reply, close, headers);
    else sendLocalReply(this.res, reply, close, headers);
  }

  private finish(): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    unwatch(this);
    const ctx = this.ctx;
    ctx.active--;
    ctx.stats[ctx.ls.rqActive]--;
    if (this.holdsBreaker) {
      this.holdsBreaker = false;
      ctx.stats[this.cluster.stats.rqActive]--;
      this.cluster.release();
    }
    this.releaseEndpoint();
    if (this.holdsRetry) {
      this.holdsRetry = false;
      this.cluster.releaseRetry();
    }
    const chain = this.route.chain;
    if (chain !== null) for (let i = 0; i < chain.length; i++) chain[i]!.onDestroy?.(this);
    this.durationMs = performance.now() - this.startMs;
    const us = Math.round(this.durationMs * 1000);
    ctx.histogram.recordValue(us);
    this.route.histogram.recordValue(us);
    if (ctx.accessLog !== null) ctx.accessLog.append(this);
  }
}

function retryNow(ex: Exchange): void {
  ex.retryFire();
}

const EMPTY = Buffer.alloc(0);

/** Request bodies up to this size are kept for a retry on routes with a retry policy. */
export const RETRY_BODY_LIMIT = 64 * 1024;

function replayBody(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The request body as undici reads it; reading more resumes the client socket we paused. */
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
