// jwt_authn against real keys (generated here with jose), a fake StreamContext, the filter's stats as
// the oracle and an injected clock (env.now, which also becomes jose's currentDate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { FilterStatus, getHeader, type StreamContext } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import { parseConfigText } from '../../config/load.js';
import { Checker, ConfigError, validateConfig } from '../../config/validate.js';
import type { LocalReplyKind } from '../../errors/local-reply.js';
import { jwtAuthn } from './index.js';
import type { JwtAuthnFilter } from './filter.js';

const T0 = 1_800_000_000_000; // ms since the epoch; every test's clock starts here

class Clock {
  t = T0;
  readonly now = () => this.t;
}

class Ctx implements StreamContext {
  method = 'GET';
  readonly path = '/';
  readonly remoteAddress = '127.0.0.1';
  apiKeyClient: string | null = null;
  jwtClaims: Record<string, unknown> | null = null;
  credentialFingerprint: string | null = null;
  readonly clientCert = null;
  done = false;
  replied: { kind: LocalReplyKind; headers: readonly string[] } | null = null;
  resumed = 0;
  settle: () => void = () => {};
  constructor(public headers: string[], public query = '') {}
  addResponseHeader(): void {}
  reply(kind: LocalReplyKind, extraHeaders: readonly string[] = []): void {
    this.replied = { kind, headers: extraHeaders };
    this.done = true;
    this.settle();
  }
  resume(): void {
    this.resumed++;
    this.settle();
  }
}

interface Outcome {
  /** 200 (passed on), 401, 403. */
  status: number;
  /** The filter decided synchronously. */
  sync: boolean;
  wwwAuthenticate?: string;
  ctx: Ctx;
}

async function run(f: JwtAuthnFilter, headers: string[], query = ''): Promise<Outcome> {
  const ctx = new Ctx(headers, query);
  const settled = new Promise<void>((r) => { ctx.settle = r; });
  const st = f.onRequestHeaders(ctx);
  const sync = st === FilterStatus.Continue || ctx.replied !== null;
  if (st === FilterStatus.Stop && ctx.replied === null) await settled;
  const status = ctx.replied === null ? 200 : ctx.replied.kind === 'unauthorized' ? 401 : 403;
  return { status, sync, wwwAuthenticate: ctx.replied === null ? undefined : getHeader(ctx.replied.headers as string[], 'www-authenticate'), ctx };
}

const bearer = (t: string) => ['authorization', `Bearer ${t}`];

function make(raw: Record<string, unknown>, clock = new Clock(), listener = 'in'): { f: JwtAuthnFilter; stat: (k: string) => number } {
  const config = jwtAuthn.parse(new Checker(() => undefined), raw, ['listeners', 0, 'filters', 0]);
  const keys = Object.keys(jwtAuthn.stats);
  const handles = Object.fromEntries(keys.map((k, i) => [k, i]));
  const stats = new Float64Array(keys.length);
  const env: FilterEnv = { listener, route: null, stats, handles, shared: new Int32Array(0), sharedSlot: -1, epoch: 0, now: clock.now };
  const f = jwtAuthn.create(config, env) as JwtAuthnFilter;
  return { f, stat: (name: string) => stats[handles[name]!]! };
}

function parseError(raw: Record<string, unknown>): string {
  try {
    jwtAuthn.parse(new Checker(() => undefined), raw, ['f']);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return assert.fail('config was accepted');
}

interface Signer { kid: string; alg: string; priv: CryptoKey; jwk: JWK }

async function signer(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  return { kid, alg, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

async function sign(s: Signer | { kid?: string; alg: string; priv: Uint8Array }, claims: Record<string, unknown>, opts: { exp?: number | null; iat?: number } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: s.alg, ...(s.kid !== undefined ? { kid: s.kid } : {}) }).setIssuedAt(opts.iat ?? T0 / 1000);
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? T0 / 1000 + 3600);
  return jwt.sign(s.priv);
}

const rsa = await signer('RS256', 'rsa-1');
const ec = await signer('ES256', 'ec-1');
const ed = await signer('EdDSA', 'ed-1');
const other = await signer('RS256', 'rsa-1'); // same kid, different key: a forged signature
const GOOD = { iss: 'https://issuer.example', aud: 'api', sub: 'alice', scope: 'read write', tenant: { id: 't1' } };
const BASE = { issuer: 'https://issuer.example', audiences: ['api'], jwks: { keys: [rsa.jwk, ec.jwk, ed.jwk] } };

test('a good RS256 token passes after an async check, then from the cache synchronously; claims forwarded, token stripped', async () => {
  const { f, stat } = make({ ...BASE, claim_to_headers: [{ claim: 'sub', header: 'x-user' }, { claim: 'tenant.id', header: 'X-Tenant' }] });
  const token = await sign(rsa, GOOD);
  const first = await run(f, [...bearer(token), 'x-user', 'mallory', 'accept', '*/*']);
  assert.equal(first.status, 200);
  assert.equal(first.sync, false);
  assert.equal(first.ctx.resumed, 1);
  assert.deepEqual(first.ctx.headers, ['accept', '*/*', 'x-user', 'alice', 'x-tenant', 't1'], 'spoofed x-user gone, token stripped (forward: false)');
  assert.equal(first.ctx.jwtClaims?.sub, 'alice');
  assert.match(first.ctx.credentialFingerprint!, /^[A-Za-z0-9+/]{8}$/);
  const second = await run(f, bearer(token));
  assert.equal(second.status, 200);
  assert.equal(second.sync, true, 'a cache hit decides without a promise');
  assert.equal(second.ctx.resumed, 0);
  assert.deepEqual(second.ctx.headers, ['x-user', 'alice', 'x-tenant', 't1']);
  assert.deepEqual([stat('allowed'), stat('denied'), stat('cacheHit'), stat('cacheMiss')], [2, 0, 1, 1]);
});

test('a token without a kid is tried against every matching key', async () => {
  const second = await signer('RS256', 'rsa-2');
  const { f } = make({ jwks: { keys: [{ ...rsa.jwk, kid: undefined }, { ...second.jwk, kid: undefined }] } });
  for (const s of [rsa, second]) {
    const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(T0 / 1000 + 60).sign(s.priv);
    const r = await run(f, bearer(token));
    assert.equal(r.status, 200);
    assert.throws(() => { (r.ctx.jwtClaims as Record<string, unknown>).sub = 'y'; }, TypeError, 'cached claims are frozen');
  }
  const forged = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(T0 / 1000 + 60).sign(other.priv);
  assert.match((await run(f, bearer(forged))).wwwAuthenticate!, /Jwt verification fails/);
});

test('ES256 and EdDSA tokens pass; forward: true keeps the token; the Bearer scheme is case-insensitive', async () => {
  const { f, stat } = make({ ...BASE, forward: true });
  for (const s of [ec, ed]) {
    const token = await sign(s, GOOD);
    const r = await run(f, ['authorization', `bearer ${token}`]);
    assert.equal(r.status, 200, s.alg);
    assert.equal(getHeader(r.ctx.headers, 'authorization'), `bearer ${token}`);
  }
  assert.equal(stat('allowed'), 2);
});

test('no token: 401 with a bare `WWW-Authenticate: Bearer` (RFC 6750 3.1); allow_missing lets it through but not a bad token', async () => {
  const strict = make(BASE);
  for (const headers of [[], ['authorization', 'Basic dXNlcjpwdw=='], ['authorization', 'Bearer ']]) {
    const r = await run(strict.f, headers);
    assert.equal(r.status, 401);
    assert.equal(r.sync, true);
    assert.equal(r.wwwAuthenticate, 'Bearer');
  }
  assert.deepEqual([strict.stat('missing'), strict.stat('denied')], [3, 3]);
  const open = make({ ...BASE, allow_missing: true });
  assert.equal((await run(open.f, [])).status, 200);
  const bad = await run(open.f, bearer('not.a.jwt'));
  assert.equal(bad.status, 401);
  assert.equal(bad.wwwAuthenticate, 'Bearer error="invalid_token", error_description="Jwt is not in the form of Header.Payload.Signature"');
  assert.deepEqual([open.stat('missing'), open.stat('allowed'), open.stat('denied')], [1, 1, 1]);
});

test('401 invalid_token for: expired, not yet valid, wrong audience, wrong issuer, bad signature, unknown kid, alg confusion', async () => {
  const { f, stat } = make(BASE);
  const secret = new Uint8Array(32).fill(7);
  const cases: [string, Promise<string>, string][] = [
    ['expired', sign(rsa, GOOD, { exp: T0 / 1000 - 61 }), 'Jwt is expired'],
    ['nbf', sign(rsa, { ...GOOD, nbf: T0 / 1000 + 120 }), 'Jwt not yet valid'],
    ['audience', sign(rsa, { ...GOOD, aud: 'other' }), 'Audiences in Jwt are not allowed'],
    ['issuer', sign(rsa, { ...GOOD, iss: 'https://evil.example' }), 'Jwt issuer is not configured'],
    ['signature', sign(other, GOOD), 'Jwt verification fails'],
    ['kid', sign({ ...rsa, kid: 'nope' }, GOOD), "Jwks doesn't have key to match kid or alg from Jwt"],
    ['hs256 with only public keys', sign({ kid: 'rsa-1', alg: 'HS256', priv: secret }, GOOD), "Jwks doesn't have key to match kid or alg from Jwt"],
  ];
  for (const [what, token, why] of cases) {
    const r = await run(f, bearer(await token));
    assert.equal(r.status, 401, what);
    assert.equal(r.wwwAuthenticate, `Bearer error="invalid_token", error_description="${why}"`, what);
  }
  assert.deepEqual([stat('denied'), stat('allowed'), stat('cacheMiss')], [cases.length, 0, cases.length]);
});

test('clock skew: 60 s by default on exp; the cache entry expires with the token (injected clock)', async () => {
  const clock = new Clock();
  const { f, stat } = make(BASE, clock);
  const token = await sign(rsa, GOOD, { exp: T0 / 1000 + 100 });
  assert.equal((await run(f, bearer(token))).status, 200);
  clock.t = T0 + 100_000 + 59_000; // past exp, within the skew: still served from the cache
  assert.equal((await run(f, bearer(token))).sync, true);
  clock.t = T0 + 100_000 + 61_000;
  const r = await run(f, bearer(token));
  assert.equal(r.status, 401);
  assert.match(r.wwwAuthenticate!, /Jwt is expired/);
  assert.deepEqual([stat('cacheHit'), stat('cacheMiss'), stat('allowed'), stat('denied')], [1, 2, 2, 1]);
  const tight = make({ ...BASE, clock_skew: 0 }, new Clock());
  assert.equal((await run(tight.f, bearer(await sign(rsa, GOOD, { exp: T0 / 1000 - 1 })))).status, 401);
});

test('HS256 with a secret from an env var; require_expiration; algorithms narrows what is accepted', async () => {
  process.env.JWT_TEST_SECRET = 's'.repeat(40);
  const secret = new TextEncoder().encode('s'.repeat(40));
  const { f } = make({ hs256_secret_env: 'JWT_TEST_SECRET', require_expiration: true });
  assert.equal((await run(f, bearer(await sign({ alg: 'HS256', priv: secret }, { sub: 'svc' })))).status, 200);
  const noExp = await run(f, bearer(await sign({ alg: 'HS256', priv: secret }, { sub: 'svc' }, { exp: null })));
  assert.equal(noExp.status, 401);
  const wrong = await run(f, bearer(await sign({ alg: 'HS256', priv: new Uint8Array(40) }, { sub: 'svc' })));
  assert.match(wrong.wwwAuthenticate!, /Jwt verification fails/);
  const rsOnly = make({ ...BASE, algorithms: ['ES256'] });
  assert.match((await run(rsOnly.f, bearer(await sign(rsa, GOOD)))).wwwAuthenticate!, /Jwt algorithm is not allowed/);
  delete process.env.JWT_TEST_SECRET;
});

test('an HS256 secret from a file (trailing newline ignored) and an inline JWKS given as a JSON string', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jwt-authn-'));
  try {
    writeFileSync(join(dir, 'secret'), `${'k'.repeat(32)}\n`);
    const { f } = make({ hs256_secret_file: join(dir, 'secret'), hs256_kid: 'v1' });
    const key = new TextEncoder().encode('k'.repeat(32));
    assert.equal((await run(f, bearer(await sign({ kid: 'v1', alg: 'HS256', priv: key }, { sub: 's' })))).status, 200);
    assert.equal((await run(f, bearer(await sign({ kid: 'v2', alg: 'HS256', priv: key }, { sub: 's' })))).status, 401, 'another kid');
    const inline = make({ jwks: JSON.stringify({ keys: [ed.jwk] }) });
    assert.equal((await run(inline.f, bearer(await sign(ed, GOOD)))).status, 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('required_claims: a valid token without them gets 403 (also from the cache); scope is space-separated', async () => {
  const { f, stat } = make({ ...BASE, required_claims: { scope: ['admin', 'write'] } });
  assert.equal((await run(f, bearer(await sign(rsa, GOOD)))).status, 200, 'scope "read write" holds write');
  const reader = await sign(rsa, { ...GOOD, scope: 'read' });
  for (let i = 0; i < 2; i++) {
    const r = await run(f, bearer(reader));
    assert.equal(r.status, 403);
    assert.equal(r.wwwAuthenticate, 'Bearer error="insufficient_scope"');
  }
  assert.deepEqual([stat('allowed'), stat('forbidden'), stat('denied'), stat('cacheHit')], [1, 2, 2, 1]);
});

test('from_params and from_headers with a prefix; the token is removed from where it was found', async () => {
  const { f } = make({ ...BASE, from_headers: [{ name: 'x-jwt', value_prefix: '' }], from_params: ['access_token'] });
  const token = await sign(rsa, GOOD);
  const q = await run(f, [], `a=1&access_token=${token}&b=2`);
  assert.equal(q.status, 200);
  assert.equal(q.ctx.query, 'a=1&b=2');
  const h = await run(f, ['x-jwt', token, 'authorization', 'Bearer zzz']);
  assert.equal(h.status, 200);
  assert.deepEqual(h.ctx.headers, ['authorization', 'Bearer zzz'], 'only the configured header is read and stripped');
});

test('bypass_cors_preflight lets a preflight through without a token; other OPTIONS still need one', async () => {
  const { f, stat } = make({ ...BASE, bypass_cors_preflight: true });
  const pre = new Ctx(['origin', 'https://app.example', 'access-control-request-method', 'POST']);
  pre.method = 'OPTIONS';
  assert.equal(f.onRequestHeaders(pre), FilterStatus.Continue);
  const plain = new Ctx(['origin', 'https://app.example']);
  plain.method = 'OPTIONS';
  assert.equal(f.onRequestHeaders(plain), FilterStatus.Stop);
  assert.equal(plain.replied?.kind, 'unauthorized');
  assert.deepEqual([stat('corsBypassed'), stat('denied')], [1, 1]);
});

test('a client that leaves during verification gets no reply and no resume', async () => {
  const { f, stat } = make(BASE);
  const ctx = new Ctx(bearer(await sign(rsa, GOOD)));
  assert.equal(f.onRequestHeaders(ctx), FilterStatus.Stop);
  ctx.done = true;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ctx.resumed, 0);
  assert.equal(ctx.replied, null);
  assert.equal(stat('cacheMiss'), 1);
});

test('concurrent requests with one new token share one check', async () => {
  const { f, stat } = make(BASE);
  const token = await sign(rsa, GOOD);
  const runs = [run(f, bearer(token)), run(f, bearer(token)), run(f, bearer(token))];
  assert.equal((f as unknown as { pending: Map<string, unknown> }).pending.size, 1);
  for (const r of await Promise.all(runs)) assert.equal(r.status, 200);
  assert.equal((f as unknown as { pending: Map<string, unknown> }).pending.size, 0);
  assert.deepEqual([stat('cacheMiss'), stat('allowed')], [3, 3]);
  assert.equal((await run(f, bearer(token))).sync, true);
});

test('the verified-token cache is bounded; a token used since it was cached gets a second chance', async () => {
  const { f, stat } = make({ ...BASE, cache_max_entries: 2 });
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => sign(rsa, { ...GOOD, sub })));
  await run(f, bearer(a!));
  await run(f, bearer(b!));
  assert.equal((await run(f, bearer(a!))).sync, true, 'a hit marks a as used');
  await run(f, bearer(c!)); // full: b (unused) goes, a (used) stays
  assert.equal((await run(f, bearer(a!))).sync, true);
  assert.equal((await run(f, bearer(c!))).sync, true);
  assert.equal((await run(f, bearer(b!))).sync, false, 'b was evicted');
  assert.deepEqual([stat('cacheMiss'), stat('cacheHit')], [4, 3]);
});

/** A JWKS server whose keys the test swaps; counts its requests. */
class JwksServer {
  keys: JWK[] = [];
  hits = 0;
  status = 200;
  private server: Server = createServer((req, res) => {
    this.hits++;
    res.writeHead(this.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: this.keys }));
  });
  url = '';
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
    return this;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

test('jwks_uri: fetched once, rotation picked up by an unknown-kid refetch, bogus kids rate-limited, expiry refreshes', async () => {
  const srv = await new JwksServer().start();
  try {
    srv.keys = [rsa.jwk];
    const clock = new Clock();
    const { f, stat } = make({ issuer: GOOD.iss, audiences: ['api'], jwks_uri: srv.url, kid_refetch_interval: '10s', cache_duration: '5m' }, clock, 'remote1');
    assert.equal((await run(f, bearer(await sign(rsa, GOOD)))).status, 200);
    assert.equal(srv.hits, 1);
    // Rotation: the issuer now signs with ec-1 and publishes it.
    srv.keys = [ec.jwk];
    clock.t += 11_000;
    assert.equal((await run(f, bearer(await sign(ec, GOOD)))).status, 200);
    assert.equal(srv.hits, 2);
    // A flood of made-up kids: one refetch per interval at most.
    for (let i = 0; i < 20; i++) {
      const r = await run(f, bearer(await sign({ ...rsa, kid: `bogus-${i}` }, GOOD)));
      assert.equal(r.status, 401);
    }
    assert.equal(srv.hits, 2, 'no refetch within 10 s of the last one');
    assert.equal(stat('jwksRefetchLimited'), 20);
    clock.t += 11_000;
    await run(f, bearer(await sign({ ...rsa, kid: 'bogus-x' }, GOOD)));
    assert.equal(srv.hits, 3);
    // cache_duration over: a request with a known kid uses the keys it has and refreshes behind.
    clock.t += 5 * 60_000;
    assert.equal((await run(f, bearer(await sign(ec, { ...GOOD, sub: 'bob' })))).status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(srv.hits, 4);
    assert.deepEqual([stat('jwksFetchSuccess'), stat('jwksFetchFailed')], [4, 0]);
  } finally {
    await srv.stop();
  }
});

test('jwks_uri down: 401 "Jwks remote fetch is failed", counted; keys come once it answers', async () => {
  const srv = await new JwksServer().start();
  try {
    srv.status = 503;
    const clock = new Clock();
    const { f, stat } = make({ jwks_uri: srv.url }, clock, 'remote2');
    const token = await sign(rsa, GOOD);
    const r = await run(f, bearer(token));
    assert.equal(r.status, 401);
    assert.match(r.wwwAuthenticate!, /Jwks remote fetch is failed/);
    assert.ok(stat('jwksFetchFailed') >= 1);
    const hits = srv.hits;
    await run(f, bearer(token));
    assert.equal(srv.hits, hits, 'a failed fetch is not retried within a second');
    srv.status = 200;
    srv.keys = [rsa.jwk];
    clock.t += 1500;
    assert.equal((await run(f, bearer(token))).status, 200);
    assert.equal(stat('jwksFetchSuccess'), 1);
  } finally {
    await srv.stop();
  }
});

test('config errors name the field', () => {
  assert.match(parseError({}), /f: needs keys/);
  assert.match(parseError({ jwks: { keys: [{ ...rsa.jwk, d: 'AAAA' }] } }), /f\.jwks\.keys\[0\]: holds a private key/);
  assert.match(parseError({ jwks: { keys: [{ kty: 'RSA', n: 'xx', e: 'AQAB' }] } }), /f\.jwks\.keys\[0\]: not a usable RSA public key/);
  process.env.JWT_TEST_SHORT = 'short';
  assert.match(parseError({ hs256_secret_env: 'JWT_TEST_SHORT' }), /f\.hs256_secret_env: an HS256 secret must have at least 32 bytes/);
  delete process.env.JWT_TEST_SHORT;
  assert.match(parseError({ hs256_secret_env: 'JWT_TEST_UNSET_VAR' }), /environment variable JWT_TEST_UNSET_VAR is not set/);
  assert.match(parseError({ jwks_uri: 'ftp://x', }), /f\.jwks_uri: must be an http/);
  assert.match(parseError({ jwks_uri: 'http://x/jwks', jwks: { keys: [rsa.jwk] } }), /cannot be combined/);
  assert.match(parseError({ ...BASE, algorithms: ['none'] }), /f\.algorithms\[0\]: unknown algorithm/);
  assert.match(parseError({ ...BASE, claim_to_headers: [{ claim: 'sub', header: 'bad header' }] }), /claim_to_headers\[0\]\.header: is not a valid header name/);
  assert.match(parseError({ ...BASE, jwks_file: '/nonexistent/jwks.json' }), /f\.jwks_file: cannot read/);
});

test('the example in docs/config.md is a valid config', () => {
  const md = readFileSync(new URL('../../../../docs/config.md', import.meta.url), 'utf8');
  const at = md.indexOf('### jwt_authn');
  const from = md.indexOf('```yaml\n', at) + 8;
  const yaml = `listeners:\n  - name: ingress\n    port: 15001\n${md.slice(from, md.indexOf('```', from))}clusters:\n  - { name: app, endpoints: [http://127.0.0.1:8080] }\n`;
  const { raw, locate } = parseConfigText(yaml, 'docs/config.md');
  const cfg = validateConfig(raw, locate, 'docs/config.md');
  assert.equal(cfg.listeners[0]!.filters[0]!.name, 'jwt_authn');
});
