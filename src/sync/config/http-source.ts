// Config from an HTTP(S) config centre with conditional GETs: an unchanged config costs a 304.
// Node's global fetch has no HTTP cache, so a 304 reaches us as is.
import { readFile } from 'node:fs/promises';
import { SourceError, type ConfigSource, type FetchResult } from './source.js';

/** Where the auth header's value comes from; read on every poll because tokens rotate. */
export type AuthValue = { file: string } | { env: string };

export interface HttpSourceOptions {
  url: string;
  timeoutMs: number;
  maxBytes: number;
  auth?: { header: string; value: AuthValue };
}

/** The URL as it may appear in logs: no userinfo, no query string (either can carry a token). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search === '' ? '' : '?…'}`;
  } catch {
    return '<bad url>';
  }
}

async function readAuthValue(v: AuthValue): Promise<string> {
  if ('file' in v) {
    let text: string;
    try {
      text = await readFile(v.file, 'utf8');
    } catch (err) {
      throw new SourceError(`cannot read auth header file ${v.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    return text.trim();
  }
  const value = process.env[v.env];
  if (value === undefined || value === '') throw new SourceError(`auth header env var ${v.env} is not set`);
  return value.trim();
}

async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new SourceError(`config is ${declared} bytes, over --max-bytes ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await res.body.cancel().catch(() => undefined); // the size error is the one to report
      throw new SourceError(`config is over --max-bytes ${maxBytes}`);
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, total);
}

export class HttpSource implements ConfigSource {
  readonly description: string;
  private etag: string | null = null;
  private lastModified: string | null = null;
  private candidate: { etag: string | null; lastModified: string | null } | null = null;

  constructor(private readonly opts: HttpSourceOptions) {
    this.description = `http ${redactUrl(opts.url)}`;
  }

  async fetch(): Promise<FetchResult> {
    const headers: Record<string, string> = { accept: '*/*' };
    if (this.etag !== null) headers['if-none-match'] = this.etag;
    if (this.lastModified !== null) headers['if-modified-since'] = this.lastModified;
    let secret: string | null = null;
    if (this.opts.auth !== undefined) {
      secret = await readAuthValue(this.opts.auth.value);
      // Checked here because fetch's own "invalid header value" error quotes the value.
      if (/[\r\n\0]/.test(secret)) throw new SourceError(`auth header value for ${this.opts.auth.header} contains a line break or NUL`);
      headers[this.opts.auth.header.toLowerCase()] = secret;
    }
    let res: Response;
    try {
      // With an auth header, redirects are not followed: fetch drops Authorization on a cross-origin
      // redirect, but not a custom header such as X-Api-Key, which would leak to the other host.
      const redirect = secret === null ? 'follow' : 'manual';
      res = await fetch(this.opts.url, { headers, signal: AbortSignal.timeout(this.opts.timeoutMs), redirect });
    } catch (err) {
      // fetch wraps the real reason (ECONNREFUSED, timeout) in `cause`.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      let why = cause?.code ?? cause?.message ?? (err as Error).message;
      if (secret !== null && secret !== '') why = why.split(secret).join('<redacted>');
      throw new SourceError(`GET ${redactUrl(this.opts.url)} failed: ${why}`);
    }
    if (res.status === 304) {
      await res.body?.cancel();
      if (this.etag === null && this.lastModified === null) {
        throw new SourceError(`GET ${redactUrl(this.opts.url)} answered 304 to an unconditional request`);
      }
      return { kind: 'not_modified' };
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new SourceError(`GET ${redactUrl(this.opts.url)} answered ${res.status} (a redirect): not followed while an auth header is set; point --url at the final address`);
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new SourceError(`GET ${redactUrl(this.opts.url)} answered ${res.status}`);
    }
    const body = await readCapped(res, this.opts.maxBytes);
    this.candidate = { etag: res.headers.get('etag'), lastModified: res.headers.get('last-modified') };
    return { kind: 'content', body };
  }

  accept(): void {
    if (this.candidate === null) return;
    this.etag = this.candidate.etag;
    this.lastModified = this.candidate.lastModified;
    this.candidate = null;
  }
}
