// api_key_auth: a key in a header (or a query parameter) must belong to a known client, and that client
// must be allowed on the route. 401 when the key is missing or unknown, 403 when its client is not
// allowed. The key is hashed and the digest compared in constant time; the key itself is never stored,
// logged or forwarded (the access log gets an 8-character fingerprint of its digest).
import { FilterStatus, getHeader, removeHeader, type Filter, type StreamContext, queryParam, withoutQueryParam } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import type { ApiKeyAuthConfig } from './config.js';
import { digestsEqual, sha256Latin1 } from '../common/digest.js';

const WWW_AUTHENTICATE = ['www-authenticate', 'ApiKey'];

export class ApiKeyAuthFilter implements Filter {
  readonly name = 'api_key_auth';
  /** By the key's SHA-256 as a latin1 string; the fingerprint (for access logs) is worked out here. */
  private readonly byDigest = new Map<string, { client: string; digest: string; fingerprint: string }>();
  private readonly allow: Set<string> | null;
  private readonly stats: Float64Array;
  private readonly sAllowed: number;
  private readonly sUnauthorized: number;
  private readonly sForbidden: number;

  constructor(private readonly c: ApiKeyAuthConfig, env: FilterEnv) {
    for (const [b64, client] of Object.entries(c.key_sha256)) {
      const digest = Buffer.from(b64, 'base64').toString('latin1');
      this.byDigest.set(digest, { client, digest, fingerprint: b64.slice(0, 8) });
    }
    this.allow = c.allow === null ? null : new Set(c.allow);
    this.stats = env.stats;
    this.sAllowed = env.handles.allowed!;
    this.sUnauthorized = env.handles.unauthorized!;
    this.sForbidden = env.handles.forbidden!;
  }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const c = this.c;
    let key = getHeader(ctx.headers, c.header);
    let fromQuery = false;
    if (key === undefined && c.query_param !== null && ctx.query !== '') {
      key = queryParam(ctx.query, c.query_param);
      fromQuery = key !== undefined;
    }
    if (key === undefined || key === '') {
      this.stats[this.sUnauthorized]++;
      ctx.reply('unauthorized', WWW_AUTHENTICATE);
      return FilterStatus.Stop;
    }
    const digest = sha256Latin1(key);
    // The lookup is by digest, which tells an attacker nothing about the key; the final comparison is
    // constant-time anyway.
    const entry = this.byDigest.get(digest);
    if (entry === undefined || !digestsEqual(entry.digest, digest)) {
      this.stats[this.sUnauthorized]++;
      ctx.reply('unauthorized', WWW_AUTHENTICATE);
      return FilterStatus.Stop;
    }
    if (this.allow !== null && !this.allow.has(entry.client)) {
      this.stats[this.sForbidden]++;
      ctx.reply('forbidden');
      return FilterStatus.Stop;
    }
    ctx.apiKeyClient = entry.client;
    ctx.credentialFingerprint = entry.fingerprint;
    if (c.hide_credentials) {
      if (fromQuery) ctx.query = withoutQueryParam(ctx.query, c.query_param!);
      else removeHeader(ctx.headers, c.header);
    }
    this.stats[this.sAllowed]++;
    return FilterStatus.Continue;
  }
}
