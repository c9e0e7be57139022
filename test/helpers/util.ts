// Small shared pieces: polling with a deadline, a plain HTTP client with full control of the
// connection, and helpers to find out whether a port is free.
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** The response ended cleanly (false: the connection broke before the end). */
  complete: boolean;
  error?: string;
}

export interface HttpOptions {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders | string[];
  body?: string | Buffer;
  timeoutMs?: number;
  host?: string;
}

/**
 * One request on a fresh connection (no agent), with the headers exactly as given. Resolves even
 * when the response breaks off mid-body (`complete: false`); rejects when no response head arrives.
 */
export function request(port: number, opts: HttpOptions = {}): Promise<HttpResult> {
  // Node adds neither Host nor Content-Length to a raw header list, and sends DELETE/OPTIONS bodies
  // without framing: add both here unless the caller set them.
  let hs: OutgoingHttpHeaders | string[] = opts.headers ?? {};
  const names = Array.isArray(hs) ? hs.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()) : Object.keys(hs).map((n) => n.toLowerCase());
  const add: [string, string][] = [];
  if (!names.includes('host')) add.push(['host', `127.0.0.1:${port}`]);
  if (opts.body !== undefined && !names.includes('content-length') && !names.includes('transfer-encoding')) add.push(['content-length', String(Buffer.byteLength(opts.body))]);
  if (Array.isArray(hs)) hs = [...hs, ...add.flat()];
  else hs = { ...hs, ...Object.fromEntries(add) };
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: opts.host ?? '127.0.0.1',
      port,
      method: opts.method ?? 'GET',
      path: opts.path ?? '/',
      headers: hs as OutgoingHttpHeaders,
      agent: false,
      setHost: false,
    });
    const timer = setTimeout(() => req.destroy(new Error(`request timed out after ${opts.timeoutMs ?? 10_000} ms`)), opts.timeoutMs ?? 10_000);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let done = false;
      const finish = (complete: boolean, error?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), complete, error });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(true));
      res.on('aborted', () => finish(false, 'aborted'));
      res.on('error', (err) => finish(false, err.message));
      res.on('close', () => finish(res.complete, res.complete ? undefined : 'closed'));
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/** A port nobody listens on (bound and released at once; good enough on a test machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Values of a header in a raw header list (case-insensitive name). */
export function rawValues(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) out.push(rawHeaders[i + 1]!);
  return out;
}
