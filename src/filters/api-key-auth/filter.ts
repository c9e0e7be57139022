// api_key_auth: a key in a header (or a query parameter) must belong to a known client, and that client
// must be allowed on the route. 401 when the key is missing or unknown, 403 when its client is not
// allowed. The key is hashed and the digest compared in constant time; the key itself is never stored,
// logged or forwarded (the access log gets an 8-character fingerprint of its digest).
import { createHash, timingSafeEqual } from 'node:crypto';
import { FilterStatus, getHeader, removeHeader, type Filter, type StreamContext, queryParam, withoutQueryParam } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import type { ApiKeyAuthConfig } from './config.js';

const WWW_AUTHENTICATE = ['www-authenticate', 'ApiKey'];

export class ApiKeyAuthFilter implements Filter {
  readonly name = 'api_key_auth';
  private readonly byDigest = new Map<string, { client: string; digest: Buffer }>();
  private readonly allow: Set<string> | null;
  private readonly stats: Float64Array;
  private readonly sAllowed: number;
  private readonly sUnauthorized: number;
  private readonly sForbidden: number;

  constructor(private readonly c: ApiKeyAuthConfig, env: FilterEnv) {
    for (const [b64, client] of Object.entries(c.key_sha256)) this.byDigest.set(b64, { client, digest: Buffer.from(b64, 'base64') });
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
    const digest = createHash('sha256').update(key).digest();
    const b64 = digest.toString('base64');
    // The lookup is by digest, which tells an attacker nothing about the key; the final comparison is
    // constant-time anyway.
    const entry = this.byDigest.get(b64);
    if (entry === undefined || !timingSafeEqual(entry.digest, digest)) {
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
    ctx.credentialFingerprint = b64.slice(0, 8);
    if (c.hide_credentials) {
      if (fromQuery) ctx.query = withoutQueryParam(ctx.query, c.query_param!);
      else removeHeader(ctx.headers, c.header);
    }
    this.stats[this.sAllowed]++;
    return FilterStatus.Continue;
  }
}
