// jwt_authn end to end: the real proxy (`pillion proxy --config`), a real origin and a real JWKS server
// on 127.0.0.1:0, tokens signed with keys generated here. Stats from /stats are the oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { Origin } from '../helpers/origin.js';
import { startProxy } from '../helpers/proxy.js';
import { request, sleep } from '../helpers/util.js';

interface Key { kid: string; priv: CryptoKey; jwk: JWK }

async function rsaKey(kid: string): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const ISS = 'https://issuer.test';
const now = () => Math.floor(Date.now() / 1000);

function sign(k: Key, claims: Record<string, unknown>, exp = now() + 600, kid = k.kid): Promise<string> {
  return new SignJWT({ iss: ISS, aud: 'api', ...claims }).setProtectedHeader({ alg: 'RS256', kid }).setIssuedAt().setExpirationTime(exp).sign(k.priv);
}

/** Serves `{keys}`; the test swaps the keys to rotate them. */
class JwksServer {
  keys: JWK[] = [];
  hits = 0;
  url = '';
  private readonly server: Server = createServer((_req, res) => {
    this.hits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: this.keys }));
  });
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const SECRET = 'pillion-integration-hs256-secret-0123456789';

test('jwt_authn: 200 with a good token (claims as headers), 401 expired / wrong audience / bad signature / unknown kid / missing, JWKS rotation, 403 per route, open health route', async () => {
  const k1 = await rsaKey('k1');
  const k2 = await rsaKey('k2');
  const forger = await rsaKey('k1'); // same kid as k1, another key
  const jwks = new JwksServer();
  jwks.keys = [k1.jwk];
  await jwks.start();
  const origin = new Origin();
  await origin.start();
  const config = `admin: { address: 127.0.0.1, port: 0 }
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    filters:
      - name: jwt_authn
        issuer: ${ISS}
        audiences: [api]
        jwks_uri: ${jwks.url}
        kid_refetch_interval: 1s
        claim_to_headers:
          - { claim: sub, header: x-jwt-sub }
          - { claim: role, header: x-jwt-role }
    routes:
      - name: health
        match: { path: /healthz }
        cluster: app
        filters: { jwt_authn: false }
      - name: admin
        match: { prefix: /admin }
        cluster: app
        filters: { jwt_authn: { required_claims: { role: admin } } }
      - name: billing
        match: { prefix: /billing }
        cluster: app
        filters: { jwt_authn: { audiences: [billing] } }
      - name: public
        match: { prefix: /public }
        cluster: app
        filters: { jwt_authn: { allow_missing: true } }
      - name: static
        match: { prefix: /static }
        direct_response: { status: 200, body: static-ok }
      - name: default
        match: { prefix: / }
        cluster: app
  - name: internal
    address: 127.0.0.1
    port: 0
    filters:
      - name: jwt_authn
        hs256_secret_env: PILLION_TEST_JWT_SECRET
    routes:
      - name: all
        match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [${origin.url}]
`;
  const p = await startProxy({ config, env: { PILLION_TEST_JWT_SECRET: SECRET } });
  try {
    const port = p.ports.get('ingress')!;
    const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
      request(port, { path, headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` } });
    const description = (r: { headers: Record<string, unknown> }) => /error_description="([^"]*)"/.exec(String(r.headers['www-authenticate']))?.[1];

    // 200, claims forwarded, the token and a spoofed claim header not.
    const good = await sign(k1, { sub: 'alice', role: 'user' });
    const ok = await get('/echo', good, { 'x-jwt-sub': 'mallory' });
    assert.equal(ok.status, 200, ok.body.toString());
    const seen = JSON.parse(ok.body.toString()) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-jwt-sub'], 'alice');
    assert.equal(seen.headers['x-jwt-role'], 'user');
    assert.equal(seen.headers.authorization, undefined, 'forward: false (default) strips the token');
    assert.equal((await get('/echo', good)).status, 200, 'again, from the verified-token cache');

    // A direct_response route is answered after the filters, as in Envoy: a fresh token is verified
    // asynchronously (a cache miss), so its 200 is written from outside the front's handler.
    assert.equal((await get('/static')).status, 401, 'no token: the filter guards the direct response');
    const direct = await get('/static', await sign(k1, { sub: 'dora', role: 'user' }));
    assert.equal(direct.status, 200);
    assert.equal(direct.body.toString(), 'static-ok');
    assert.equal(await p.stat('http.ingress.downstream_rq_direct_response'), 1);

    // 401 without a token: bare Bearer challenge (RFC 6750 3.1).
    const missing = await get('/echo');
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    assert.equal(missing.headers['x-pillion-error'], 'UAEX');

    // 401 invalid_token with Envoy's descriptions.
    const expired = await get('/echo', await sign(k1, { sub: 'alice' }, now() - 120));
    assert.equal(expired.status, 401);
    assert.match(String(expired.headers['www-authenticate']), /^Bearer error="invalid_token"/);
    assert.equal(description(expired), 'Jwt is expired');
    const wrongAud = await get('/echo', await sign(k1, { sub: 'alice', aud: 'billing' }));
    assert.equal(wrongAud.status, 401);
    assert.equal(description(wrongAud), 'Audiences in Jwt are not allowed');
    const forged = await get('/echo', await sign(forger, { sub: 'alice' }));
    assert.equal(forged.status, 401);
    assert.equal(description(forged), 'Jwt verification fails');
    await sleep(1100); // past kid_refetch_interval since the start-up fetch
    const unknownKid = await get('/echo', await sign(k1, { sub: 'alice' }, now() + 600, 'k9'));
    assert.equal(unknownKid.status, 401);
    assert.equal(description(unknownKid), "Jwks doesn't have key to match kid or alg from Jwt");
    const hitsBeforeRotation = jwks.hits;
    assert.equal(hitsBeforeRotation, 2, 'the start-up fetch, and one refetch for the unknown kid');

    // Rotation: the issuer now publishes k2 only and signs with it.
    const junk = await Promise.all([0, 1, 2, 3, 4].map((i) => sign(k2, { sub: 'x' }, now() + 600, `junk-${i}`)));
    const rotatedToken = await sign(k2, { sub: 'bob', role: 'user' });
    jwks.keys = [k2.jwk];
    await sleep(1100);
    const rotated = await get('/echo', rotatedToken);
    assert.equal(rotated.status, 200, String(rotated.headers['www-authenticate']));
    assert.equal((JSON.parse(rotated.body.toString()) as { headers: Record<string, string> }).headers['x-jwt-sub'], 'bob');
    assert.equal(jwks.hits, hitsBeforeRotation + 1);
    // A burst of made-up kids costs no further fetch within the interval.
    for (const t of junk) assert.equal((await get('/echo', t)).status, 401);
    assert.equal(jwks.hits, hitsBeforeRotation + 1);

    // Per route: 403 without the required claim, 200 with it; the health route needs no token.
    assert.equal((await get('/admin/x', await sign(k2, { sub: 'bob', role: 'user' }))).status, 403);
    assert.equal((await get('/admin/x', await sign(k2, { sub: 'root', role: 'admin' }))).status, 200);
    assert.equal((await get('/admin/x')).status, 401);
    assert.equal((await get('/healthz')).status, 200, 'jwt_authn: false on the health route');
    assert.equal((await get('/billing/x', await sign(k2, { sub: 'bob' }))).status, 401, 'the route wants aud billing');
    assert.equal((await get('/billing/x', await sign(k2, { sub: 'bob', aud: 'billing' }))).status, 200);
    assert.equal((await get('/public/x')).status, 200, 'allow_missing on this route');
    assert.equal((await get('/public/x', 'garbage')).status, 401, 'but a bad token is still refused');

    // HS256 with a secret from the environment, on the second listener.
    const hs = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now() + 600).sign(new TextEncoder().encode(SECRET));
    assert.equal((await request(p.ports.get('internal')!, { path: '/echo', headers: { authorization: `Bearer ${hs}` } })).status, 200);
    assert.equal((await request(p.ports.get('internal')!, { path: '/echo', headers: { authorization: `Bearer ${good}` } })).status, 401, 'an RS256 token against HS keys');

    // A body waits while a fresh token is checked (async path), then goes up whole; refused, it never does.
    const body = 'x'.repeat(200_000);
    const fresh = await sign(k2, { sub: 'carol' });
    const posted = await request(port, { method: 'POST', path: '/echo', body, headers: { authorization: `Bearer ${fresh}`, 'content-type': 'text/plain' } });
    assert.equal(posted.status, 200);
    assert.equal((JSON.parse(posted.body.toString()) as { len: number }).len, body.length);
    const refused = await request(port, { method: 'POST', path: '/echo', body, headers: { authorization: `Bearer ${fresh}x` } });
    assert.equal(refused.status, 401);

    const s = await p.stats();
    // allowed: good x2, static, rotated, admin, billing, public without a token, the POST; /healthz is
    // not counted (filter off)
    assert.equal(s.get('http.ingress.jwt_authn.allowed'), 8);
    // denied: static without token, missing, expired, aud, forged, unknown kid, 5 junk kids, 403, admin
    // without token, billing with aud api, public with garbage, bad POST
    assert.equal(s.get('http.ingress.jwt_authn.denied'), 16);
    assert.equal(s.get('http.ingress.jwt_authn.forbidden'), 1);
    assert.equal(s.get('http.ingress.jwt_authn.missing'), 4);
    assert.equal(s.get('http.ingress.jwt_authn.jwt_cache_hit'), 1);
    assert.equal(s.get('http.ingress.jwt_authn.jwks_fetch_success'), 3);
    assert.equal(s.get('http.ingress.jwt_authn.jwks_fetch_failed'), 0);
    assert.equal(s.get('http.ingress.jwt_authn.jwks_refetch_rate_limited'), 5);
    assert.equal(s.get('http.internal.jwt_authn.allowed'), 1);
    assert.equal(s.get('http.internal.jwt_authn.denied'), 1);
    // Only the allowed requests and the open route reached the app.
    assert.equal(origin.requests.length, 9);

    // A reload (SIGHUP, same config) keeps the fetched JWKS: no refetch, tokens still pass.
    const hits = jwks.hits;
    p.signal('SIGHUP');
    await p.waitStat('pillion.config.reload_success', 1);
    assert.equal((await get('/echo', await sign(k2, { sub: 'dave' }))).status, 200);
    assert.equal(jwks.hits, hits);

    const dump = (await p.admin('/config_dump')).body;
    assert.ok(!dump.includes(SECRET) && !dump.includes(Buffer.from(SECRET).toString('base64url')), 'no HS256 secret in /config_dump');
    assert.ok(!p.stderr().includes(SECRET), 'no secret in the log');
  } finally {
    await p.stop();
    await origin.stop();
    await jwks.stop();
  }
});

test('jwt_authn with keys from a jwks_file, ES256 and EdDSA, across 2 worker threads', async () => {
  const es = await generateKeyPair('ES256');
  const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const keys = [
    { ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256' },
    { ...(await exportJWK(ed.publicKey)), kid: 'ed', alg: 'EdDSA' },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'pillion-jwks-'));
  const file = join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys }));
  const origin = new Origin();
  await origin.start();
  const p = await startProxy({ config: `admin: { address: 127.0.0.1, port: 0 }
concurrency: 2
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    filters:
      - name: jwt_authn
        jwks_file: ${file}
        audiences: [api]
        forward: true
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [${origin.url}]
` });
  try {
    const esToken = await new SignJWT({ aud: 'api', sub: 'e' }).setProtectedHeader({ alg: 'ES256', kid: 'es' }).setExpirationTime(now() + 600).sign(es.privateKey);
    const edToken = await new SignJWT({ aud: 'api', sub: 'd' }).setProtectedHeader({ alg: 'EdDSA', kid: 'ed' }).setExpirationTime(now() + 600).sign(ed.privateKey);
    // Fresh connections spread over both threads; each thread verifies once, then hits its own cache.
    for (let i = 0; i < 6; i++) {
      for (const t of [esToken, edToken]) {
        const r = await request(p.port, { path: '/echo', headers: { authorization: `Bearer ${t}` } });
        assert.equal(r.status, 200, String(r.headers['www-authenticate']));
        assert.equal((JSON.parse(r.body.toString()) as { headers: Record<string, string> }).headers.authorization, `Bearer ${t}`, 'forward: true');
      }
    }
    const bad = await request(p.port, { path: '/echo', headers: { authorization: `Bearer ${esToken.slice(0, -4)}AAAA` } });
    assert.equal(bad.status, 401);
    const s = await p.stats();
    assert.equal(s.get('http.ingress.jwt_authn.allowed'), 12);
    assert.equal(s.get('http.ingress.jwt_authn.denied'), 1);
    const misses = s.get('http.ingress.jwt_authn.jwt_cache_miss')!;
    assert.ok(misses >= 3 && misses <= 5, `2 tokens x (1 or 2 threads) + the bad one, got ${misses}`);
    assert.equal(s.get('http.ingress.jwt_authn.jwt_cache_hit'), 13 - misses);
  } finally {
    await p.stop();
    await origin.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
