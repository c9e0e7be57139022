// basic_auth: Envoy's envoy.filters.http.basic_auth. The Authorization header (or the configured one)
// must be `Basic <base64 of user:password>` with a known user whose password's SHA-1 matches the
// htpasswd `{SHA}` hash. Otherwise 401 with `WWW-Authenticate: Basic realm="..."` and
// `http.<listener>.basic_auth.denied`; on success `allowed`, and the user in forward_username_header
// when configured. The credential header is forwarded unless hide_credentials (Envoy forwards it).
//
// Per request: one base64 decode and one SHA-1 of the password. The digest is compared in constant
// time, against a dummy for an unknown user, so the time taken does not tell whether the user exists.
// Neither the password nor the header is stored or logged.
import * as crypto from 'node:crypto';
import { FilterStatus, getHeader, removeHeader, type Filter, type StreamContext } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import type { BasicAuthConfig } from './config.js';

// Node >= 20.12 has a one-shot hash without a Hash object per call; older 20.x builds one.
const oneShot = (crypto as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;
const sha1: (data: Buffer) => Buffer = oneShot !== undefined
  ? (data) => oneShot('sha1', data, 'buffer')
  : (data) => crypto.createHash('sha1').update(data).digest();

/** Envoy's Base64::decodeWithoutPadding refuses what is not base64; Buffer.from would skip it. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SCHEME = 'Basic ';
/** Envoy cuts the path in the realm at 256 characters (MaximumUriLength in basic_auth_filter.cc). */
const MAX_REALM_PATH = 256;
const NO_USER = Buffer.alloc(20);

export class BasicAuthFilter implements Filter {
  readonly name = 'basic_auth';
  /** latin1 user name -> SHA-1 of its password. */
  private readonly users = new Map<string, Buffer>();
  private readonly header: string;
  private readonly forwardHeader: string | null;
  private readonly hide: boolean;
  /** ['www-authenticate', 'Basic realm="<realm>"'] when the realm is fixed; null: built per denial. */
  private readonly challenge: readonly string[] | null;
  private readonly stats: Float64Array;
  private readonly sAllowed: number;
  private readonly sDenied: number;

  constructor(c: BasicAuthConfig, env: FilterEnv) {
    for (const [user, b64] of c.credentials) this.users.set(user, Buffer.from(b64, 'base64'));
    this.header = c.header;
    this.forwardHeader = c.forward_username_header;
    this.hide = c.hide_credentials;
    this.challenge = c.realm === null ? null : ['www-authenticate', `Basic realm="${c.realm}"`];
    this.stats = env.stats;
    this.sAllowed = env.handles.allowed!;
    this.sDenied = env.handles.denied!;
  }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const value = getHeader(ctx.headers, this.header);
    // Envoy: case-sensitive "Basic " (basic_auth_filter.cc), then base64 without padding required.
    if (value === undefined || !value.startsWith(SCHEME)) return this.deny(ctx);
    const token = value.slice(SCHEME.length);
    if (!BASE64.test(token)) return this.deny(ctx);
    const decoded = Buffer.from(token, 'base64');
    const colon = decoded.indexOf(0x3a);
    if (colon < 0) return this.deny(ctx);
    const user = decoded.toString('latin1', 0, colon);
    const expected = this.users.get(user);
    const ok = crypto.timingSafeEqual(sha1(decoded.subarray(colon + 1)), expected ?? NO_USER) && expected !== undefined;
    if (!ok) return this.deny(ctx);
    if (this.hide) removeHeader(ctx.headers, this.header);
    if (this.forwardHeader !== null) {
      // Envoy's setCopy: the client's own value of this header never reaches the upstream.
      removeHeader(ctx.headers, this.forwardHeader);
      ctx.headers.push(this.forwardHeader, user);
    }
    this.stats[this.sAllowed]++;
    return FilterStatus.Continue;
  }

  private deny(ctx: StreamContext): FilterStatus {
    this.stats[this.sDenied]++;
    ctx.reply('unauthorized', this.challenge ?? ['www-authenticate', `Basic realm="${originalUri(ctx)}"`]);
    return FilterStatus.Stop;
  }
}

/**
 * Envoy's realm when none is configured: Http::Utility::buildOriginalUri, `<scheme>://<host><path>` with
 * the path (query included) cut at 256 characters. Only bytes that can stand in a quoted string go out
 * as they are; the rest (`"`, `\`, controls, non-ASCII) are %-escaped, so a request cannot break the
 * header. Built only on the 401 path.
 */
export function originalUri(ctx: StreamContext): string {
  const h = ctx.headers;
  // The proxy appends its own x-forwarded-proto after the client's headers: the last one is the scheme.
  let scheme = 'http';
  for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === 'x-forwarded-proto') { scheme = h[i + 1]!; break; }
  let path = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`;
  if (path.length > MAX_REALM_PATH) path = path.slice(0, MAX_REALM_PATH);
  return quotable(`${scheme}://${getHeader(h, 'host') ?? ''}${path}`);
}

function quotable(s: string): string {
  if (/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
