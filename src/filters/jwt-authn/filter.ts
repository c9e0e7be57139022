// jwt_authn, after Envoy's: a bearer token must be a JWT signed by a known key, from the configured
// issuer, for one of the configured audiences, within exp/nbf (with clock skew). 401 with
// `WWW-Authenticate: Bearer` when it is missing (RFC 6750 3.1: no error code then), 401 with
// `Bearer error="invalid_token"` when it is invalid, 403 when it is valid but lacks a required claim.
//
// Hot path: tokens that verified are kept, by token string, in a bounded cache until their exp (+ skew).
// A hit decides synchronously (Continue, or a 403 reply) with no promise; a miss returns Stop, verifies
// with jose, and then resumes the chain or replies, unless the client has gone meanwhile.
import { createHash } from 'node:crypto';
import { jwtVerify, type CryptoKey, type FlattenedJWSInput, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { FilterStatus, getHeader, removeHeader, type Filter, type StreamContext, queryParam, withoutQueryParam } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import { log } from '../../util/log.js';
import type { JwtAuthnConfig } from './config.js';
import { KeySet, RemoteJwks, remoteJwks, type KeyHeader } from './keys.js';
import { TokenCache } from './token-cache.js';

/** A token that verified: what every later request with the same token needs, computed once. */
interface Verified {
  used: boolean;
  /** The whole token: the cache is keyed by its tail only. */
  token: string;
  claims: Record<string, unknown>;
  /** Cache expiry (ms since the epoch): exp + clock skew, or a default for tokens without exp. */
  expiresAt: number;
  /** claim_to_headers output as [name, value, ...]. */
  headers: string[];
  /** A required claim is missing: 403. */
  forbidden: boolean;
  fingerprint: string;
}

const MISSING = ['www-authenticate', 'Bearer'];
/** How long a token without exp stays cached. */
const NO_EXP_CACHE_MS = 300_000;
/** Header values must not carry control characters (they would split or break the request). */
const BAD_HEADER_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * The verified-token cache is keyed by the last characters of the token (its signature's), and a hit
 * must equal the whole token. V8 hashes every fresh string it looks up, and hashing a whole
 * 500-1000 character JWT made each lookup cost ~2 us; 24 characters of a signature are as unique and
 * cost next to nothing. A different token with the same tail is a miss (then verified like any other);
 * only a valid token is ever stored, so a forged one cannot displace a cached entry.
 */
const CACHE_KEY_CHARS = 24;
function cacheKey(token: string): string {
  return token.length <= CACHE_KEY_CHARS ? token : token.slice(token.length - CACHE_KEY_CHARS);
}

/** Which source the last extract() found the token in (headers first, then params). Read synchronously. */
let foundSource = -1;

export class JwtAuthnFilter implements Filter {
  readonly name = 'jwt_authn';
  private readonly cache: TokenCache<Verified>;
  /** Checks in flight, by token; bounded by the requests in flight. */
  private readonly pending = new Map<string, Promise<Verified>>();
  private readonly getKey: JWTVerifyGetKey;
  private readonly verifyOptions: JWTVerifyOptions;
  private readonly claimPaths: string[][];
  private readonly claimHeaders: string[];
  private readonly required: [string, Set<string>][];
  private readonly skewMs: number;
  private readonly stats: Float64Array;
  private readonly now: () => number;
  private readonly sAllowed: number;
  private readonly sDenied: number;
  private readonly sForbidden: number;
  private readonly sMissing: number;
  private readonly sCacheHit: number;
  private readonly sCacheMiss: number;
  private readonly sCorsBypassed: number;

  constructor(private readonly c: JwtAuthnConfig, env: FilterEnv) {
    const h = env.handles;
    this.stats = env.stats;
    this.now = env.now;
    this.sAllowed = h.allowed!;
    this.sDenied = h.denied!;
    this.sForbidden = h.forbidden!;
    this.sMissing = h.missing!;
    this.sCacheHit = h.cacheHit!;
    this.sCacheMiss = h.cacheMiss!;
    this.sCorsBypassed = h.corsBypassed!;
    this.cache = new TokenCache(c.cache_max_entries);
    this.skewMs = c.clock_skew_s * 1000;
    this.claimPaths = c.claim_to_headers.map((x) => x.claim.split('.'));
    this.claimHeaders = c.claim_to_headers.map((x) => x.header);
    this.required = Object.entries(c.required_claims).map(([k, v]) => [k, new Set(v)]);
    this.verifyOptions = {
      algorithms: c.algorithms,
      clockTolerance: c.clock_skew_s,
      ...(c.issuer !== null ? { issuer: c.issuer } : {}),
      ...(c.audiences !== null ? { audience: c.audiences } : {}),
      ...(c.require_expiration ? { requiredClaims: ['exp'] } : {}),
    };
    if (c.jwks_uri !== null) {
      const stats = env.stats;
      const ok = h.jwksFetchSuccess!;
      const failed = h.jwksFetchFailed!;
      const limited = h.jwksRefetchLimited!;
      const uri = c.jwks_uri;
      // The stat slots are part of the identity: a reload may move them, and the fetch callbacks count there.
      const key = [env.listener, uri, c.cache_duration_ms, c.jwks_fetch_timeout_ms, c.kid_refetch_interval_ms, ok, failed, limited].join('\0');
      const remote = remoteJwks(key, stats, () => new RemoteJwks({
        uri,
        cacheMs: c.cache_duration_ms,
        timeoutMs: c.jwks_fetch_timeout_ms,
        refetchMs: c.kid_refetch_interval_ms,
        now: env.now,
        onFetch: (success) => { stats[success ? ok : failed]++; },
        onRateLimited: () => { stats[limited]++; },
      }));
      this.getKey = async (header: KeyHeader, token: FlattenedJWSInput) => (await remote.keySet(header.kid)).resolve(header, token);
      remote.warm();
    } else {
      const set = new KeySet(c.local_jwks!.keys);
      this.getKey = (header: KeyHeader, token: FlattenedJWSInput) => set.resolve(header, token);
    }
  }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const c = this.c;
    const stats = this.stats;
    // A client must not be able to send the headers we derive from claims.
    const ch = this.claimHeaders;
    for (let i = 0; i < ch.length; i++) removeHeader(ctx.headers, ch[i]!);
    if (c.bypass_cors_preflight && ctx.method === 'OPTIONS' && getHeader(ctx.headers, 'origin') !== undefined &&
      getHeader(ctx.headers, 'access-control-request-method') !== undefined) {
      // A browser's CORS preflight never carries credentials (Envoy's bypass_cors_preflight).
      stats[this.sCorsBypassed]++;
      return FilterStatus.Continue;
    }
    const token = this.extract(ctx);
    const source = foundSource;
    if (token === null) {
      stats[this.sMissing]++;
      if (c.allow_missing) {
        stats[this.sAllowed]++;
        return FilterStatus.Continue;
      }
      stats[this.sDenied]++;
      ctx.reply('unauthorized', MISSING);
      return FilterStatus.Stop;
    }
    const now = this.now();
    const key = cacheKey(token);
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.token === token) {
      if (hit.expiresAt > now) {
        stats[this.sCacheHit]++;
        return this.accept(ctx, hit, source);
      }
      this.cache.delete(key);
    }
    stats[this.sCacheMiss]++;
    // A burst of requests with one new token (a client opening many connections) shares one check.
    let pending = this.pending.get(token);
    if (pending === undefined) {
      pending = this.verify(token, now);
      this.pending.set(token, pending);
      const forget = () => { this.pending.delete(token); };
      pending.then(forget, forget);
    }
    pending
      .then((v) => this.verified(ctx, token, source, v), (err: unknown) => this.failed(ctx, err))
      .catch(chainThrew);
    return FilterStatus.Stop;
  }

  /** The token from the first configured place that has one, or null; sets `foundSource`. */
  private extract(ctx: StreamContext): string | null {
    const hs = this.c.from_headers;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i]!;
      const v = getHeader(ctx.headers, h.name);
      if (v === undefined) continue;
      const p = h.value_prefix;
      // The scheme is case-insensitive (RFC 7235); the exact spelling is checked first, without allocating.
      if (p !== '' && !v.startsWith(p) && (v.length <= p.length || v.slice(0, p.length).toLowerCase() !== p.toLowerCase())) continue;
      const token = (p === '' ? v : v.slice(p.length)).trim();
      if (token === '') continue;
      foundSource = i;
      return token;
    }
    const ps = this.c.from_params;
    if (ps.length > 0 && ctx.query !== '') {
      for (let i = 0; i < ps.length; i++) {
        const v = queryParam(ctx.query, ps[i]!);
        if (v !== undefined && v !== '') {
          foundSource = hs.length + i;
          return v;
        }
      }
    }
    foundSource = -1;
    return null;
  }

  private async verify(token: string, now: number): Promise<Verified> {
    const options: JWTVerifyOptions = { ...this.verifyOptions, currentDate: new Date(now) };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, options));
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
      payload = await verifyWithEach(token, err as AsyncIterable<CryptoKey>, options);
    }
    // Shared by every request with this token (jwtClaims): nobody may change the cached copy.
    const claims = Object.freeze(payload) as Record<string, unknown>;
    const headers: string[] = [];
    for (let i = 0; i < this.claimPaths.length; i++) {
      const v = headerValue(claimAt(claims, this.claimPaths[i]!));
      if (v !== null) headers.push(this.claimHeaders[i]!, v);
    }
    let forbidden = false;
    for (const [name, accepted] of this.required) if (!claimHas(claims[name], name, accepted)) forbidden = true;
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 + this.skewMs : now + NO_EXP_CACHE_MS;
    return {
      used: false,
      token,
      claims,
      expiresAt: exp,
      headers,
      forbidden,
      fingerprint: createHash('sha256').update(token).digest('base64').slice(0, 8),
    };
  }

  private verified(ctx: StreamContext, token: string, source: number, v: Verified): void {
    this.cache.set(cacheKey(token), v);
    if (ctx.done) return; // the client went away while we verified
    if (this.accept(ctx, v, source) === FilterStatus.Continue) ctx.resume();
  }

  private failed(ctx: StreamContext, err: unknown): void {
    this.stats[this.sDenied]++;
    // jose's and our own errors carry a code; anything else is a bug worth hearing about.
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string') log.warn('jwt_authn: unexpected error verifying a token', { error: err as Error });
    if (ctx.done) return;
    ctx.reply('unauthorized', ['www-authenticate', `Bearer error="invalid_token", error_description="${describe(err)}"`]);
  }

  /** A verified token: 403 if a required claim is missing, else claims in, token out, Continue. */
  private accept(ctx: StreamContext, v: Verified, source: number): FilterStatus {
    const stats = this.stats;
    if (v.forbidden) {
      stats[this.sDenied]++;
      stats[this.sForbidden]++;
      ctx.reply('forbidden', ['www-authenticate', 'Bearer error="insufficient_scope"']);
      return FilterStatus.Stop;
    }
    ctx.jwtClaims = v.claims;
    ctx.credentialFingerprint = v.fingerprint;
    const hs = v.headers;
    for (let i = 0; i < hs.length; i++) ctx.headers.push(hs[i]!);
    if (!this.c.forward) {
      const nh = this.c.from_headers.length;
      if (source < nh) removeHeader(ctx.headers, this.c.from_headers[source]!.name);
      else ctx.query = withoutQueryParam(ctx.query, this.c.from_params[source - nh]!);
    }
    stats[this.sAllowed]++;
    return FilterStatus.Continue;
  }
}

/**
 * A token without a kid (or a JWKS with several keys under one kid) matches more than one key: jose
 * hands them over as an async iterable and leaves the trying to us, as Envoy tries each key.
 */
async function verifyWithEach(token: string, keys: AsyncIterable<CryptoKey>, options: JWTVerifyOptions): Promise<JWTPayload> {
  let last: unknown = new Error('no key');
  for await (const key of keys) {
    try {
      return (await jwtVerify(token, key, options)).payload;
    } catch (err) {
      last = err; // the next key may be the one; the last failure is what the client is told
    }
  }
  throw last;
}

/** Resuming ran the rest of the chain, which must not throw; if it does, say so rather than crash. */
function chainThrew(err: unknown): void {
  log.error('jwt_authn: the filter chain threw after a token check', { error: err as Error });
}

/** Envoy's wording for each failure (its `Status` strings), safe inside a quoted header parameter. */
function describe(err: unknown): string {
  const e = err as { code?: string; claim?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED': return 'Jwt is expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'aud') return 'Audiences in Jwt are not allowed';
      if (e.claim === 'iss') return 'Jwt issuer is not configured';
      if (e.claim === 'nbf') return 'Jwt not yet valid';
      if (e.claim === 'exp') return 'Jwt is missing exp';
      return 'Jwt claims are invalid';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'Jwt verification fails';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return 'Jwks doesn\'t have key to match kid or alg from Jwt';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED': return 'Jwt algorithm is not allowed';
    case 'PILLION_JWKS_UNAVAILABLE': return 'Jwks remote fetch is failed';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID': return 'Jwt is not in the form of Header.Payload.Signature';
    default: return 'Jwt verification fails';
  }
}

function claimAt(claims: Record<string, unknown>, path: readonly string[]): unknown {
  if (path.length === 1) return claims[path[0]!];
  const direct = claims[path.join('.')];
  if (direct !== undefined) return direct;
  let v: unknown = claims;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** A claim as a header value: strings, numbers and booleans as they are, lists of them joined by ','. */
function headerValue(v: unknown): string | null {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) s = v.join(',');
  else return null;
  return BAD_HEADER_VALUE.test(s) ? null : s;
}

/** Does a claim hold one of the accepted values? Lists: any element; `scope`: space-separated (RFC 8693). */
function claimHas(v: unknown, name: string, accepted: Set<string>): boolean {
  if (typeof v === 'string') {
    if (accepted.has(v)) return true;
    return (name === 'scope' || name === 'scp') && v.split(' ').some((s) => accepted.has(s));
  }
  if (typeof v === 'number' || typeof v === 'boolean') return accepted.has(String(v));
  if (Array.isArray(v)) return v.some((x) => (typeof x === 'string' || typeof x === 'number') && accepted.has(String(x)));
  return false;
}
