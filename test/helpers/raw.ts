// A raw TCP client for exact wire checks: send bytes as they are (smuggling vectors, pipelined
// requests, Expect: 100-continue by hand) and parse what comes back without a forgiving HTTP client
// in between.
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  reason: string;
  /** [name, value] in wire order, names as sent. */
  headers: [string, string][];
  body: Buffer;
  /** The body was chunked on the wire. */
  chunked: boolean;
  /** The bytes of the head, as received. */
  head: string;
}

export function header(r: RawResponse, name: string): string | undefined {
  const n = name.toLowerCase();
  return r.headers.find(([k]) => k.toLowerCase() === n)?.[1];
}

export function headers(r: RawResponse, name: string): string[] {
  const n = name.toLowerCase();
  return r.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/**
 * Parses as many complete responses as `buf` holds. `noBody(i)` says whether the i-th final response
 * answers a HEAD request. `eof`: the connection is closed, so a response without framing ends here.
 */
export function parseResponses(buf: Buffer, noBody: (i: number) => boolean = () => false, eof = false): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let off = 0;
  let finals = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
    if (m === null) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const hs: [string, string][] = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()];
    });
    const get = (n: string) => hs.find(([k]) => k.toLowerCase() === n)?.[1];
    let p = end + 4;
    let body: Buffer = Buffer.alloc(0);
    let chunked = false;
    const interim = status >= 100 && status < 200;
    if (interim || noBody(finals) || status === 204 || status === 304) {
      // no body
    } else if (get('transfer-encoding')?.toLowerCase().includes('chunked')) {
      chunked = true;
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0]!, 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          // Trailers (maybe none) until an empty line: the first CRLFCRLF from the size line's end.
          const te = buf.indexOf('\r\n\r\n', le);
          if (te < 0) break;
          p = te + 4;
          complete = true;
          break;
        }
        if (le + 2 + size + 2 > buf.length) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (get('content-length') !== undefined) {
      const n = Number(get('content-length'));
      if (p + n > buf.length) break;
      body = buf.subarray(p, p + n);
      p += n;
    } else {
      // Read until close.
      if (!eof) break;
      body = buf.subarray(p);
      p = buf.length;
    }
    responses.push({ status, reason: m[2]!, headers: hs, body: Buffer.from(body), chunked, head });
    if (!interim) finals++;
    off = p;
  }
  return { responses, rest: buf.subarray(off) };
}

export interface RawResult {
  responses: RawResponse[];
  /** Bytes after the last complete response. */
  rest: Buffer;
  /** The server closed the connection (FIN or reset) within the time allowed. */
  closed: boolean;
  /** The close was a reset (ECONNRESET). */
  reset: boolean;
  raw: Buffer;
}

export class RawClient {
  private chunks: Buffer[] = [];
  closed = false;
  reset = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.chunks.push(d); this.wake(); });
    socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET') this.reset = true; });
    socket.on('close', () => { this.closed = true; this.wake(); });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => { s.off('error', reject); resolve(new RawClient(s)); });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Waits until `cond` holds on the state, the connection closes, or the time runs out. */
  async waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.closed) return cond();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return true;
  }

  /** Waits for `n` final responses (or close, or timeout) and returns what was parsed. */
  async responses(n: number, timeoutMs = 5000, noBody: (i: number) => boolean = () => false): Promise<RawResult> {
    const finals = () => parseResponses(this.received, noBody, this.closed).responses.filter((r) => r.status >= 200).length;
    await this.waitUntil(() => finals() >= n, timeoutMs);
    return this.result(noBody);
  }

  /** Waits for the server to close the connection (or the time to run out). */
  async waitClosed(timeoutMs = 5000, noBody: (i: number) => boolean = () => false): Promise<RawResult> {
    await this.waitUntil(() => this.closed, timeoutMs);
    return this.result(noBody);
  }

  result(noBody: (i: number) => boolean = () => false): RawResult {
    const { responses, rest } = parseResponses(this.received, noBody, this.closed);
    return { responses, rest, closed: this.closed, reset: this.reset, raw: this.received };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Sends `payload` on a fresh connection and collects responses until `expect` final responses have
 * arrived and, when `waitClose`, the server has closed the connection (bounded by `timeoutMs`).
 */
export async function rawExchange(port: number, payload: string | Buffer, opts: { expect?: number; waitClose?: boolean; timeoutMs?: number; noBody?: (i: number) => boolean } = {}): Promise<RawResult> {
  const c = await RawClient.connect(port);
  try {
    c.write(payload);
    const timeout = opts.timeoutMs ?? 3000;
    const started = Date.now();
    let r = await c.responses(opts.expect ?? 1, timeout, opts.noBody);
    if (opts.waitClose) r = await c.waitClosed(Math.max(0, timeout - (Date.now() - started)), opts.noBody);
    return r;
  } finally {
    c.destroy();
  }
}
