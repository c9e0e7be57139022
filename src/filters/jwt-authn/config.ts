// jwt_authn config, after Envoy's JwtProvider reduced to one provider per filter: where the keys come
// from (a JWKS file, an inline JWKS, HS256 secrets from a file or an env var, or a JWKS URL fetched and
// cached), what the token must say (issuer, audiences, claims), where the token is found, and what is
// forwarded. Everything is read and checked here, in the main thread, when the config loads: key files
// and env vars are read once, every key is imported once to prove it is usable, and the data planes get
// plain JWKs. Key material lives only under fields named `keys`, which /config_dump redacts.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Checker, Path } from '../../config/validate.js';

/** One JSON Web Key as it appears in a JWKS (RFC 7517); only the fields we look at are typed. */
export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  k?: string;
  d?: string;
  [field: string]: unknown;
}

export interface TokenHeader {
  /** Lowercase header name. */
  name: string;
  /** Prefix before the token, compared case-insensitively (`Bearer `); '' for none. */
  value_prefix: string;
}

export interface ClaimToHeader {
  claim: string;
  /** Lowercase header name. */
  header: string;
}

export interface JwtAuthnConfig {
  /** Required `iss`; null: any. */
  issuer: string | null;
  /** The token's `aud` must hold one of these; null: not checked. */
  audiences: string[] | null;
  /** Allowed `alg` values. */
  algorithms: string[];
  /** Public keys and HS secrets known at load time (from `jwks`, `jwks_file`, `hs256_secret_*`). */
  local_jwks: { keys: Jwk[] } | null;
  /** JWKS URL, fetched by each data plane and cached. */
  jwks_uri: string | null;
  /** How long a fetched JWKS is used before it is fetched again. */
  cache_duration_ms: number;
  /** Timeout of one JWKS fetch. */
  jwks_fetch_timeout_ms: number;
  /** At most one refetch per this interval when a token names a kid the JWKS does not have. */
  kid_refetch_interval_ms: number;
  /** Tolerance on exp and nbf. */
  clock_skew_s: number;
  require_expiration: boolean;
  from_headers: TokenHeader[];
  from_params: string[];
  /** Keep the token in the request forwarded upstream (Envoy's `forward`, default false: stripped). */
  forward: boolean;
  claim_to_headers: ClaimToHeader[];
  /** Let CORS preflights (OPTIONS with Origin and Access-Control-Request-Method) through without a token. */
  bypass_cors_preflight: boolean;
  /** Pass requests without a token (an invalid token is still refused). */
  allow_missing: boolean;
  /** Claim -> accepted values; a verified token that fails one gets 403. */
  required_claims: Record<string, string[]>;
  /** Verified tokens kept (second-chance eviction: see token-cache.ts). */
  cache_max_entries: number;
}

const FIELDS = [
  'issuer', 'audiences', 'algorithms', 'jwks', 'jwks_file', 'jwks_uri', 'hs256_secret_env', 'hs256_secret_file', 'hs256_kid',
  'cache_duration', 'jwks_fetch_timeout', 'kid_refetch_interval', 'clock_skew', 'require_expiration', 'from_headers', 'from_params',
  'forward', 'claim_to_headers', 'allow_missing', 'required_claims', 'cache_max_entries', 'bypass_cors_preflight',
];

const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
export const KNOWN_ALGS: readonly string[] = [...ASYMMETRIC_ALGS, ...HMAC_ALGS];

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** Checks a JWKS (parsed JSON) key by key; public keys are imported to prove they are usable. */
export function checkJwks(c: Checker, v: unknown, path: Path): Jwk[] {
  const o = c.object(v, path, Object.keys(v !== null && typeof v === 'object' ? v : {}));
  const keys = c.array(o.keys, [...path, 'keys']);
  return keys.map((k, i) => {
    const p = [...path, 'keys', i];
    const jwk = c.object(k, p, Object.keys(k !== null && typeof k === 'object' ? k : {})) as Jwk;
    const why = jwkProblem(jwk);
    if (why !== null) c.fail(p, why);
    return jwk;
  });
}

/** Why a JWK cannot verify signatures, or null. Also used on fetched JWKS (which are not config). */
export function jwkProblem(jwk: Jwk): string | null {
  if (typeof jwk.kty !== 'string') return 'a key needs a kty';
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return 'kid must be a string';
  if (jwk.use !== undefined && jwk.use !== 'sig') return `use '${String(jwk.use)}' cannot verify signatures`;
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') return 'an oct key needs k';
    if (Buffer.from(jwk.k, 'base64url').length < 32) return 'an HMAC key must have at least 32 bytes (RFC 7518 3.2)';
    return null;
  }
  if (jwk.d !== undefined) return 'holds a private key (d): a JWKS must only publish public keys';
  let bits: number | undefined;
  try {
    bits = createPublicKey({ key: jwk as never, format: 'jwk' }).asymmetricKeyDetails?.modulusLength;
  } catch (err) {
    return `not a usable ${jwk.kty} public key: ${(err as Error).message}`;
  }
  // jose refuses shorter RSA keys at verification time; say so at load time instead.
  if (jwk.kty === 'RSA' && (bits ?? 0) < 2048) return `not a usable RSA public key: ${bits ?? 0} bits, at least 2048 needed`;
  return null;
}

function readText(c: Checker, file: string, path: Path): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    return c.fail(path, `cannot read: ${(err as Error).message}`);
  }
}

function hmacKey(c: Checker, secret: string, kid: string | undefined, path: Path): Jwk {
  // A secret file usually ends with a newline nobody meant as part of the secret.
  const s = secret.replace(/\r?\n$/, '');
  if (Buffer.byteLength(s) < 32) c.fail(path, 'an HS256 secret must have at least 32 bytes (RFC 7518 3.2)');
  const jwk: Jwk = { kty: 'oct', k: Buffer.from(s).toString('base64url') };
  if (kid !== undefined) jwk.kid = kid;
  return jwk;
}

export function parseJwtAuthn(c: Checker, raw: Record<string, unknown>, path: Path): JwtAuthnConfig {
  const o = c.object(raw, path, FIELDS);
  const at = (f: string): Path => [...path, f];

  const keys: Jwk[] = [];
  if (o.jwks !== undefined) keys.push(...checkJwks(c, typeof o.jwks === 'string' ? parseJson(c, o.jwks, at('jwks')) : o.jwks, at('jwks')));
  if (o.jwks_file !== undefined) {
    const file = c.string(o.jwks_file, at('jwks_file'));
    keys.push(...checkJwks(c, parseJson(c, readText(c, file, at('jwks_file')), at('jwks_file')), at('jwks_file')));
  }
  const hsKid = c.optString(o.hs256_kid, at('hs256_kid'));
  if (o.hs256_secret_env !== undefined) {
    const name = c.string(o.hs256_secret_env, at('hs256_secret_env'));
    const secret = process.env[name];
    if (secret === undefined || secret === '') c.fail(at('hs256_secret_env'), `environment variable ${name} is not set`);
    keys.push(hmacKey(c, secret, hsKid, at('hs256_secret_env')));
  }
  if (o.hs256_secret_file !== undefined) {
    const file = c.string(o.hs256_secret_file, at('hs256_secret_file'));
    keys.push(hmacKey(c, readText(c, file, at('hs256_secret_file')), hsKid, at('hs256_secret_file')));
  }
  const jwksUri = c.optString(o.jwks_uri, at('jwks_uri')) ?? null;
  if (jwksUri !== null) {
    let u: URL | null = null;
    try { u = new URL(jwksUri); } catch { /* reported below */ }
    if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) c.fail(at('jwks_uri'), 'must be an http:// or https:// URL');
    if (keys.length > 0) c.fail(at('jwks_uri'), 'cannot be combined with local keys (jwks, jwks_file, hs256_secret_*): one key source per filter');
  }
  if (keys.length === 0 && jwksUri === null) c.fail(path, 'needs keys: jwks, jwks_file, jwks_uri, hs256_secret_env or hs256_secret_file');

  const algorithms = o.algorithms === undefined ? [...KNOWN_ALGS] : c.stringList(o.algorithms, at('algorithms'));
  algorithms.forEach((a, i) => { if (!KNOWN_ALGS.includes(a)) c.fail([...path, 'algorithms', i], `unknown algorithm (known: ${KNOWN_ALGS.join(', ')})`); });
  if (algorithms.length === 0) c.fail(at('algorithms'), 'must name at least one algorithm');

  const fromHeaders = o.from_headers === undefined
    ? [{ name: 'authorization', value_prefix: 'Bearer ' }]
    : c.array(o.from_headers, at('from_headers')).map((h, i) => {
      const p = [...path, 'from_headers', i];
      const ho = c.object(h, p, ['name', 'value_prefix']);
      const name = c.string(ho.name, [...p, 'name']).toLowerCase();
      if (!HEADER_NAME.test(name)) c.fail([...p, 'name'], 'is not a valid header name');
      const prefix = ho.value_prefix === undefined ? '' : typeof ho.value_prefix === 'string' ? ho.value_prefix : c.fail([...p, 'value_prefix'], 'must be a string');
      return { name, value_prefix: prefix };
    });
  const fromParams = o.from_params === undefined ? [] : c.stringList(o.from_params, at('from_params'));
  if (fromHeaders.length === 0 && fromParams.length === 0) c.fail(path, 'needs somewhere to find the token (from_headers or from_params)');

  const claimToHeaders = c.array(o.claim_to_headers ?? [], at('claim_to_headers')).map((x, i) => {
    const p = [...path, 'claim_to_headers', i];
    const xo = c.object(x, p, ['claim', 'header']);
    const header = c.string(xo.header, [...p, 'header']).toLowerCase();
    if (!HEADER_NAME.test(header)) c.fail([...p, 'header'], 'is not a valid header name');
    if (fromHeaders.some((h) => h.name === header)) c.fail([...p, 'header'], 'is where the token is read from');
    return { claim: c.string(xo.claim, [...p, 'claim']), header };
  });

  const required: Record<string, string[]> = {};
  if (o.required_claims !== undefined) {
    const rc = c.object(o.required_claims, at('required_claims'), Object.keys(o.required_claims ?? {}));
    for (const [claim, v] of Object.entries(rc)) {
      const p = [...path, 'required_claims', claim];
      required[claim] = typeof v === 'string' ? [v] : c.stringList(v, p);
      if (required[claim]!.length === 0) c.fail(p, 'must list at least one accepted value');
    }
  }

  const audiences = o.audiences === undefined ? null : typeof o.audiences === 'string' ? [o.audiences] : c.stringList(o.audiences, at('audiences'));
  if (audiences !== null && audiences.length === 0) c.fail(at('audiences'), 'must list at least one audience (leave it out to accept any)');

  return {
    issuer: c.optString(o.issuer, at('issuer')) ?? null,
    audiences,
    algorithms,
    local_jwks: keys.length > 0 ? { keys } : null,
    jwks_uri: jwksUri,
    cache_duration_ms: c.duration(o.cache_duration, at('cache_duration'), 300_000),
    jwks_fetch_timeout_ms: c.duration(o.jwks_fetch_timeout, at('jwks_fetch_timeout'), 5000),
    kid_refetch_interval_ms: c.duration(o.kid_refetch_interval, at('kid_refetch_interval'), 10_000),
    clock_skew_s: c.duration(o.clock_skew, at('clock_skew'), 60_000) / 1000,
    require_expiration: c.bool(o.require_expiration, at('require_expiration'), false),
    from_headers: fromHeaders,
    from_params: fromParams,
    forward: c.bool(o.forward, at('forward'), false),
    claim_to_headers: claimToHeaders,
    allow_missing: c.bool(o.allow_missing, at('allow_missing'), false),
    bypass_cors_preflight: c.bool(o.bypass_cors_preflight, at('bypass_cors_preflight'), false),
    required_claims: required,
    cache_max_entries: c.int(o.cache_max_entries, at('cache_max_entries'), 10_000, 1, 10_000_000),
  };
}

function parseJson(c: Checker, text: string, path: Path): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return c.fail(path, `is not valid JSON: ${(err as Error).message}`);
  }
}
