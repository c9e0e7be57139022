// Header rules of a proxy, both ways: hop-by-hop headers stay on their hop (RFC 9110 7.6.1), framing
// that two parsers could read differently is refused (no request smuggling through pillion, whatever
// the front's parser let through), and the forwarding headers are set here.
import { createRequire } from 'node:module';

/** Request headers that never go upstream, besides the ones `Connection` names. `expect` too:
 *  uWS answers `100 Continue` itself, and undici refuses requests that carry it (each refusal took a
 *  pool connection out of service for good in undici 7). */
const REQUEST_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'expect', 'http2-settings',
  // Set by the proxy itself; a client's value is not trusted.
  'x-forwarded-proto',
]);

/** Response headers that never go downstream. uWS frames the body itself and writes its own Date and
 *  Content-Length, so forwarding the upstream's would duplicate them. */
const RESPONSE_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'content-length', 'date', 'trailer',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// Control characters other than HTAB in a field value (RFC 9110 5.5); CR and LF included.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d+$/;

/**
 * The request head as the proxy needs it, filled by `visitRequestHeader` during uWS's synchronous
 * `forEach`. One instance is reused for every request on a thread: the visitor is a plain function,
 * so no closure is made per request; only `headers` is new (undici keeps it).
 */
export class RequestHead {
  /** Flat [name, value, ...] with lowercase names, ready for undici. */
  headers: string[] = [];
  contentLength = -1;
  chunked = false;
  /** Set when the framing is ambiguous or a header is invalid: answer 400, forward nothing. */
  bad = false;
  hostIndex = -1;
  forwardedForIndex = -1;
  hasRequestId = false;
  /** Position of a client's x-forwarded-client-cert (untrusted unless the listener says append_forward). */
  xfccIndex = -1;
  /** The `Connection` header, when it names headers other than keep-alive/close. */
  connectionNames: string | null = null;
  /** Bytes of names and values: uWS 20.30 enforces its own limit only on heads that span packets. */
  bytes = 0;
  /** The client sent `Connection: close`. */
  clientClose = false;

  reset(): void {
    this.bytes = 0;
    this.clientClose = false;
    this.headers = [];
    this.contentLength = -1;
    this.chunked = false;
    this.bad = false;
    this.hostIndex = -1;
    this.forwardedForIndex = -1;
    this.hasRequestId = false;
    this.xfccIndex = -1;
    this.connectionNames = null;
  }
}

export const head = new RequestHead();

/** Envoy's default max_request_headers_kb. */
export const MAX_HEADER_BYTES = 60 * 1024;

export function visitRequestHeader(name: string, value: string): void {
  const h = head;
  h.bytes += name.length + value.length + 4;
  if (!TOKEN.test(name) || BAD_VALUE.test(value)) {
    h.bad = true;
    return;
  }
  switch (name) {
    case 'content-length': {
      if (!DIGITS.test(value)) { h.bad = true; return; }
      const n = Number(value);
      if (h.contentLength >= 0) {
        // The same value twice is harmless (RFC 9110 8.6); two values are a smuggling attempt.
        if (n !== h.contentLength) h.bad = true;
        return;
      }
      h.contentLength = n;
      break;
    }
    case 'transfer-encoding':
      // Only plain `chunked`, once: anything else ("chunked, identity", "xchunked", a repeat) is read
      // differently by different parsers.
      if (h.chunked || value.toLowerCase() !== 'chunked') h.bad = true;
      h.chunked = true;
      return;
    case 'connection': {
      const v = value.toLowerCase();
      if (v === 'close') h.clientClose = true;
      if (v !== 'keep-alive' && v !== 'close') h.connectionNames = h.connectionNames === null ? v : `${h.connectionNames},${v}`;
      return;
    }
    case 'host':
      h.hostIndex = h.headers.length;
      break;
    case 'x-forwarded-for':
      h.forwardedForIndex = h.headers.length;
      break;
    case 'x-request-id':
      h.hasRequestId = true;
      break;
    case 'x-forwarded-client-cert':
      h.xfccIndex = h.headers.length;
      break;
    default:
      if (REQUEST_DROP.has(name)) return;
  }
  h.headers.push(name, value);
}

/** After the visit: a body with both framings is refused; headers named by `Connection` are dropped. */
export function finishRequestHead(h: RequestHead): void {
  if (h.chunked && h.contentLength >= 0) h.bad = true;
  if (h.connectionNames !== null) {
    const named = new Set(h.connectionNames.split(',').map((s) => s.trim()));
    const kept: string[] = [];
    for (let i = 0; i < h.headers.length; i += 2) {
      const n = h.headers[i]!;
      if (n === 'host' || !named.has(n)) kept.push(n, h.headers[i + 1]!);
    }
    h.headers = kept;
    h.hostIndex = kept.indexOf('host');
    h.forwardedForIndex = kept.indexOf('x-forwarded-for');
    h.hasRequestId = kept.includes('x-request-id');
    h.xfccIndex = kept.indexOf('x-forwarded-client-cert');
  }
}

// undici's own lookup of well-known header names (a ternary search tree over the bytes, case-insensitive):
// it returns the interned lowercase name without making a string from the Buffer or lowercasing one,
// two native calls and an allocation per response header otherwise. Unknown names fall back to
// toString + toLowerCase. undici already loads this module (no "exports" map in undici 7, as for Pool).
const bufferToLowerCasedHeaderName = createRequire(import.meta.url)('undici/lib/core/util.js')
  .bufferToLowerCasedHeaderName as (b: Buffer) => string;

/** A decimal content-length straight from the bytes; NaN when it is not all digits (as Number() gave). */
function contentLengthOf(b: Buffer): number {
  const n = b.length;
  if (n === 0 || n > 15) return Number(b.toString('latin1'));
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) return Number(b.toString('latin1'));
    v = v * 10 + c;
  }
  return v;
}

const KEEP_ALIVE = Buffer.from('keep-alive');

/** A `Connection` value, lowercased; the common `keep-alive` without making a string from the bytes. */
function connectionValue(b: Buffer): string {
  if (b.length === 10) {
    let i = 0;
    while (i < 10 && (b[i]! | 0x20) === KEEP_ALIVE[i]) i++;
    if (i === 10) return 'keep-alive';
  }
  return b.toString('latin1').toLowerCase();
}

/**
 * Filters undici's raw response headers for the client. Returns [name, value, ...] where values stay
 * Buffers (uWS writes them as they are) and the upstream's content-length, or -1.
 */
export function filterResponseHeaders(raw: Buffer[], out: (string | Buffer)[]): number {
  let contentLength = -1;
  let connection: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = bufferToLowerCasedHeaderName(raw[i]!);
    if (RESPONSE_DROP.has(name)) {
      if (name === 'content-length') contentLength = contentLengthOf(raw[i + 1]!);
      else if (name === 'connection') connection = connection === null ? connectionValue(raw[i + 1]!) : `${connection},${connectionValue(raw[i + 1]!)}`;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (connection !== null && connection !== 'keep-alive' && connection !== 'close') {
    const named = new Set(connection.split(',').map((s) => s.trim()));
    let w = 0;
    for (let r = 0; r < out.length; r += 2) {
      if (!named.has(out[r] as string)) { out[w++] = out[r]!; out[w++] = out[r + 1]!; }
    }
    out.length = w;
  }
  return Number.isFinite(contentLength) ? contentLength : -1;
}
