// Where jwt_authn finds the key for a token: a KeySet is one immutable snapshot of a JWKS (public keys
// through jose's local JWKS, HMAC secrets by kid: jose's local JWKS refuses secret keys); a RemoteJwks
// fetches a JWKS URL and swaps snapshots. Only cache misses of the token cache come here.
//
//   token kid known ──────────────────────────────> current snapshot
//   snapshot older than cache_duration ──> refetch in the background, current snapshot meanwhile
//   kid unknown ──> refetch (at most once per kid_refetch_interval) ──> new snapshot (or 401 no key)
//   no snapshot yet ──> fetch (a failed fetch is retried at most once a second) ──> 401 if none
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JWTVerifyGetKey } from 'jose';
import { log } from '../../util/log.js';
import { jwkProblem, type Jwk } from './config.js';

/** The protected header as jose hands it to a key resolver. */
export type KeyHeader = Parameters<JWTVerifyGetKey>[0];

export class KeySet {
  readonly kids = new Set<string>();
  private readonly asymmetric: JWTVerifyGetKey | null;
  private readonly secrets = new Map<string, Uint8Array>();
  private readonly soleSecret: Uint8Array | null;

  constructor(keys: readonly Jwk[]) {
    const pub: Jwk[] = [];
    for (const k of keys) {
      if (k.kid !== undefined) this.kids.add(k.kid);
      if (k.kty === 'oct') this.secrets.set(k.kid ?? '', Buffer.from(k.k!, 'base64url'));
      else pub.push(k);
    }
    this.asymmetric = pub.length > 0 ? createLocalJWKSet({ keys: pub as never[] }) : null;
    this.soleSecret = this.secrets.size === 1 ? this.secrets.values().next().value! : null;
  }

  /** jose's key resolver contract: the key for this header, or a jose error. */
  resolve(header: KeyHeader, token: FlattenedJWSInput): ReturnType<JWTVerifyGetKey> {
    if (typeof header.alg === 'string' && header.alg.startsWith('HS')) {
      const k = header.kid !== undefined ? this.secrets.get(header.kid) : this.soleSecret;
      if (k === undefined || k === null) throw new errors.JWKSNoMatchingKey();
      return k;
    }
    if (this.asymmetric === null) throw new errors.JWKSNoMatchingKey();
    return this.asymmetric(header, token);
  }
}

/** No JWKS could be fetched (and none was ever fetched). */
export class JwksUnavailable extends Error {
  readonly code = 'PILLION_JWKS_UNAVAILABLE';
}

export interface RemoteJwksOptions {
  uri: string;
  cacheMs: number;
  timeoutMs: number;
  refetchMs: number;
  now: () => number;
  /** Counts a fetch's outcome. */
  onFetch: (ok: boolean) => void;
  /** Counts an unknown-kid refetch skipped by the rate limit. */
  onRateLimited: () => void;
}

const MAX_JWKS_BYTES = 1024 * 1024;
/** A failed fetch is retried at most this often while no JWKS is known. */
const FAILED_RETRY_MS = 1000;

export class RemoteJwks {
  set: KeySet | null = null;
  fetchedAt = 0;
  lastAttempt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;

  constructor(readonly o: RemoteJwksOptions) {}

  /** Starts the first fetch, so that the first request does not wait for it. */
  warm(): void {
    if (this.set === null && this.inflight === null) void this.refresh();
  }

  async keySet(kid: string | undefined): Promise<KeySet> {
    const o = this.o;
    const now = o.now();
    if (this.set === null) {
      if (this.inflight !== null || now - this.lastAttempt >= Math.min(FAILED_RETRY_MS, o.refetchMs)) await this.refresh();
    } else if (kid !== undefined && !this.set.kids.has(kid)) {
      // A new kid: the issuer may have rotated its keys. A flood of made-up kids costs one fetch per interval.
      if (this.inflight !== null || now - this.lastAttempt >= o.refetchMs) await this.refresh();
      else o.onRateLimited();
    } else if (now - this.fetchedAt >= o.cacheMs && now - this.lastAttempt >= FAILED_RETRY_MS) {
      void this.refresh(); // stale-while-revalidate: this request uses the current keys
    }
    if (this.set === null) throw new JwksUnavailable(`no JWKS from ${o.uri} yet`);
    return this.set;
  }

  /** One fetch at a time; concurrent callers share it. Never rejects: failures keep the old snapshot. */
  refresh(): Promise<void> {
    if (this.inflight === null) {
      this.lastAttempt = this.o.now();
      this.inflight = this.fetchOnce().finally(() => { this.inflight = null; });
    }
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    const o = this.o;
    try {
      const res = await fetch(o.uri, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(o.timeoutMs), redirect: 'follow' });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`status ${res.status}`);
      }
      const text = await res.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error(`JWKS larger than ${MAX_JWKS_BYTES} bytes`);
      const body = JSON.parse(text) as { keys?: unknown };
      if (body === null || typeof body !== 'object' || !Array.isArray(body.keys)) throw new Error('not a JWKS (no keys list)');
      // A bad key is left out rather than failing the whole set: the others still verify.
      const keys: Jwk[] = [];
      for (const k of body.keys as Jwk[]) {
        const why = k !== null && typeof k === 'object' ? jwkProblem(k) : 'not an object';
        if (why === null) keys.push(k);
        else log.warn('jwt_authn: JWKS key left out', { uri: o.uri, kid: k?.kid, why });
      }
      this.set = new KeySet(keys);
      this.fetchedAt = o.now();
      o.onFetch(true);
    } catch (err) {
      o.onFetch(false);
      log.warn('jwt_authn: JWKS fetch failed', { uri: o.uri, error: (err as Error).message, keeping: this.set === null ? 'none' : 'previous keys' });
    }
  }
}

/**
 * One RemoteJwks per (listener, URL, settings) in each thread: the listener's instance and its routes'
 * overrides share one, and a config reload that keeps the URL keeps the fetched keys.
 */
const remotes = new Map<string, { stats: Float64Array; remote: RemoteJwks }>();

export function remoteJwks(key: string, stats: Float64Array, make: () => RemoteJwks): RemoteJwks {
  const e = remotes.get(key);
  if (e !== undefined && e.stats === stats) return e.remote;
  const remote = make();
  remotes.set(key, { stats, remote });
  return remote;
}
