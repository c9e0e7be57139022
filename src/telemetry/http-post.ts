// A small HTTP/1.1 POST client with keep-alive, for the log sinks only (src/telemetry/sinks.ts).
//
// Why not node:http: a sink posts a batch a few times a second, so the thread that posts never gets
// its code optimised. node:http's client (agent, ClientRequest, streams, URL, events) then runs in the
// interpreter for about 1 ms of CPU per post, measured on this machine for a 650 KiB body over
// loopback; this client takes about 0.5 ms, most of it the kernel's. On a proxy whose core is busy,
// that burst is the latency its requests see while a batch goes out (docs/telemetry.md).
//
// What it does: one request per connection at a time (no pipelining), up to MAX_SOCKETS connections
// per origin (more requests wait their turn), idle connections closed after IDLE_MS (below the 5 s that
// many servers keep an idle connection: reusing one the server is closing fails the post). The answer:
// status, Content-Length or chunked or until-close bodies, interim 1xx answers skipped, and the first
// ANSWER_CHARS of the body when the caller asks (Elasticsearch's bulk errors).
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { HTTP_TOKEN } from '../util/http-syntax.js';

export type Answer = { status: number; answer: string } | { error: string };

const MAX_SOCKETS = 4;
const IDLE_MS = 4000;
const MAX_HEAD = 64 * 1024;
const ANSWER_CHARS = 200;

// Header names are tokens; values are visible latin-1 or tab (what node:http also takes). CR and LF in
// particular: a header from the config must not be able to start another header or request.
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Set by the client itself: a config or flag that sets one is refused. */
const OWN = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'expect', 'upgrade']);

/** Why a sink header cannot be sent as given, or null. */
export function headerError(name: string, value: string): string | null {
  if (!HTTP_TOKEN.test(name)) return `'${name}' is not a valid header name`;
  if (OWN.has(name.toLowerCase())) return `'${name}' is set by pillion`;
  if (!VALUE.test(value)) return `the value of '${name}' has a character not allowed in a header (such as a line break)`;
  return null;
}

const enum St { Head, Length, ChunkLine, ChunkData, ChunkEnd, Trailer, UntilClose, Done }

/** Reads one answer from the bytes of a connection. */
class AnswerReader {
  st = St.Head;
  status = 0;
  keepAlive = true;
  answer = '';
  private pending: Buffer | null = null;
  private left = 0;

  constructor(private readonly keepAnswer: boolean) {}

  /** Takes the next bytes: an error message, or null (done once `st` is Done). */
  feed(d: Buffer): string | null {
    if (this.pending !== null) {
      d = Buffer.concat([this.pending, d]);
      this.pending = null;
    }
    let i = 0;
    while (i < d.length) {
      switch (this.st) {
        case St.Head: {
          const end = d.indexOf('\r\n\r\n', i, 'latin1');
          if (end < 0) return this.wait(d, i, MAX_HEAD, 'answer head too large');
          const err = this.head(d.toString('latin1', i, end));
          if (err !== null) return err;
          i = end + 4;
          break;
        }
        case St.Length:
        case St.ChunkData: {
          const n = Math.min(this.left, d.length - i);
          this.keep(d, i, i + n);
          i += n;
          this.left -= n;
          if (this.left === 0) this.st = this.st === St.Length ? St.Done : St.ChunkEnd;
          break;
        }
        case St.ChunkEnd:
          if (d.length - i < 2) return this.wait(d, i, 2, '');
          if (d[i] !== 13 || d[i + 1] !== 10) return 'bad chunked encoding in the answer';
          i += 2;
          this.st = St.ChunkLine;
          break;
        case St.ChunkLine: {
          const end = d.indexOf('\r\n', i, 'latin1');
          if (end < 0) return this.wait(d, i, 1024, 'bad chunked encoding in the answer');
          const size = d.toString('latin1', i, end).split(';', 1)[0]!.trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(size)) return 'bad chunked encoding in the answer';
          i = end + 2;
          this.left = parseInt(size, 16);
          this.st = this.left === 0 ? St.Trailer : St.ChunkData;
          break;
        }
        case St.Trailer: {
          const end = d.indexOf('\r\n', i, 'latin1');
          if (end < 0) return this.wait(d, i, MAX_HEAD, 'answer trailers too large');
          this.st = end === i ? St.Done : St.Trailer;
          i = end + 2;
          break;
        }
        case St.UntilClose:
          this.keep(d, i, d.length);
          i = d.length;
          break;
        case St.Done:
          // Bytes past the answer: the connection cannot be trusted with another request.
          this.keepAlive = false;
          return null;
      }
    }
    return null;
  }

  /** Keeps the unread bytes for the next feed, up to `max`. */
  private wait(d: Buffer, i: number, max: number, tooLong: string): string | null {
    if (d.length - i > max) return tooLong;
    this.pending = d.subarray(i);
    return null;
  }

  private keep(d: Buffer, from: number, to: number): void {
    if (this.keepAnswer && this.answer.length < ANSWER_CHARS && to > from) {
      this.answer += d.toString('utf8', from, Math.min(to, from + ANSWER_CHARS - this.answer.length));
    }
  }

  private head(text: string): string | null {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
    if (m === null) return `not an HTTP/1.x answer: '${lines[0]!.slice(0, 40)}'`;
    const status = Number(m[2]);
    if (status < 200) return null; // interim (100 Continue, 103 Early Hints): the real answer follows
    this.status = status;
    let length = -1;
    let chunked = false;
    let conn = m[1] === '0' ? 'close' : 'keep-alive';
    for (let k = 1; k < lines.length; k++) {
      const l = lines[k]!;
      const c = l.indexOf(':');
      if (c <= 0) continue;
      const name = l.slice(0, c).trim().toLowerCase();
      const value = l.slice(c + 1).trim().toLowerCase();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length >= 0 && Number(value) !== length)) return 'bad content-length in the answer';
        length = Number(value);
      } else if (name === 'transfer-encoding') chunked = value.endsWith('chunked');
      else if (name === 'connection') conn = value.includes('close') ? 'close' : value.includes('keep-alive') ? 'keep-alive' : conn;
    }
    this.keepAlive = conn === 'keep-alive';
    if (status === 204 || status === 304) this.st = St.Done;
    else if (chunked) this.st = St.ChunkLine;
    else if (length >= 0) {
      this.left = length;
      this.st = length === 0 ? St.Done : St.Length;
    } else {
      this.st = St.UntilClose;
      this.keepAlive = false;
    }
    return null;
  }
}

interface Origin {
  idle: Socket[];
  busy: number;
  queue: (() => void)[];
}

const origins = new Map<string, Origin>();
const inFlight = new Set<Socket>();
let closing = false;

function originOf(url: URL): Origin {
  let o = origins.get(url.origin);
  if (o === undefined) {
    o = { idle: [], busy: 0, queue: [] };
    origins.set(url.origin, o);
  }
  return o;
}

function connect(url: URL): Socket {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const s = url.protocol === 'https:'
    ? tlsConnect({ host, port, servername: isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'] })
    : netConnect({ host, port });
  s.setNoDelay(true);
  return s;
}

/** An idle connection to reuse, or null; connections the server closed meanwhile are dropped. */
function takeIdle(o: Origin): Socket | null {
  for (let s = o.idle.pop(); s !== undefined; s = o.idle.pop()) {
    s.removeAllListeners('close').removeAllListeners('error').removeAllListeners('data').removeAllListeners('timeout');
    s.setTimeout(0);
    if (!s.destroyed && s.readyState === 'open') {
      s.ref();
      return s;
    }
    s.destroy();
  }
  return null;
}

function release(o: Origin, s: Socket, reuse: boolean): void {
  s.removeAllListeners('close').removeAllListeners('error').removeAllListeners('data').removeAllListeners('end');
  if (!reuse || closing || s.destroyed) {
    s.destroy();
    return;
  }
  const drop = () => {
    const k = o.idle.indexOf(s);
    if (k >= 0) o.idle.splice(k, 1);
    s.destroy();
  };
  // An idle connection: anything from the server now (bytes, its close) ends it.
  s.on('close', drop).on('error', drop).on('data', drop).on('timeout', drop);
  s.setTimeout(IDLE_MS);
  s.unref();
  o.idle.push(s);
}

/**
 * One POST: the answer's status (and the start of its body when `keepAnswer`), or an error message.
 * `head` is the header lines (Host first), each ending in CRLF; Content-Length is added here. A reused
 * connection that fails before any byte of answer is retried once on a new one: the server closed it
 * as the request went out.
 */
export async function postOnce(url: URL, head: string, body: Buffer, timeoutMs: number, keepAnswer: boolean): Promise<Answer> {
  if (closing) return { error: 'exiting' };
  const o = originOf(url);
  if (o.busy >= MAX_SOCKETS) await new Promise<void>((r) => o.queue.push(r));
  if (closing) {
    o.queue.shift()?.(); // pass the turn on: the next waiter returns at once too
    return { error: 'exiting' };
  }
  o.busy++;
  try {
    const idle = takeIdle(o);
    if (idle !== null) {
      const a = await exchange(o, idle, true, url, head, body, timeoutMs, keepAnswer);
      if (a !== 'stale') return a;
    }
    return await exchange(o, connect(url), false, url, head, body, timeoutMs, keepAnswer) as Answer;
  } finally {
    o.busy--;
    o.queue.shift()?.();
  }
}

function exchange(o: Origin, s: Socket, reused: boolean, url: URL, head: string, body: Buffer, timeoutMs: number, keepAnswer: boolean): Promise<Answer | 'stale'> {
  return new Promise((resolve) => {
    const reader = new AnswerReader(keepAnswer);
    let got = false;
    let sent = false;
    let done = false;
    const finish = (a: Answer | 'stale', reuse: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      inFlight.delete(s);
      release(o, s, reuse);
      resolve(a);
    };
    const fail = (message: string) => finish(reused && !got && !closing ? 'stale' : { error: message }, false);
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }, false), timeoutMs);
    inFlight.add(s);
    s.on('data', (d: Buffer) => {
      got = true;
      const err = reader.feed(d);
      if (err !== null) finish({ error: err }, false);
      // An answer before the whole body went out (413, say): the connection is not reusable.
      else if (reader.st === St.Done) finish({ status: reader.status, answer: reader.answer }, reader.keepAlive && sent);
    });
    s.on('end', () => {
      if (reader.st === St.UntilClose) finish({ status: reader.status, answer: reader.answer }, false);
      else fail('connection closed before the answer ended');
    });
    s.on('error', (err) => fail(err.message));
    s.on('close', () => fail('connection closed'));
    s.cork();
    s.write(`POST ${url.pathname}${url.search} HTTP/1.1\r\n${head}content-length: ${body.length}\r\n\r\n`, 'latin1');
    s.write(body, () => { sent = true; });
    s.uncork();
  });
}

/** True once abortAll() ran in this thread. */
export function exiting(): boolean {
  return closing;
}

/** Aborts the posts in flight and starts no more (the process is exiting). */
export function abortAll(): void {
  closing = true;
  for (const s of inFlight) s.destroy(new Error('exiting'));
  for (const o of origins.values()) for (const s of o.idle.splice(0)) s.destroy();
}
