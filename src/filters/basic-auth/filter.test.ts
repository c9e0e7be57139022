// basic_auth with a fake StreamContext and the filter's stats as the oracle; htpasswd parsing as Envoy
// does it; per-route settings through the real config validator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilterStatus, getHeader, type StreamContext } from '../../chain/filter.js';
import type { FilterEnv } from '../../chain/registry.js';
import { parseConfigText } from '../../config/load.js';
import { Checker, ConfigError, validateConfig } from '../../config/validate.js';
import type { LocalReplyKind } from '../../errors/local-reply.js';
import { redact } from '../../proxy/redact.js';
import { basicAuth } from './index.js';
import type { BasicAuthConfig } from './config.js';

const sha = (password: string) => `{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`;
const HTPASSWD = `# users\nalice:${sha('wonderland')}\n\nbob:${sha('builder')}\n`;
const basic = (userPass: string) => ['authorization', `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`];

class Ctx implements StreamContext {
  method = 'GET';
  readonly remoteAddress = '127.0.0.1';
  apiKeyClient: string | null = null;
  jwtClaims: Record<string, unknown> | null = null;
  credentialFingerprint: string | null = null;
  readonly clientCert = null;
  done = false;
  replied: { kind: LocalReplyKind; headers: readonly string[] } | null = null;
  constructor(public headers: string[], readonly path = '/app', public query = '') {}
  addResponseHeader(): void {}
  reply(kind: LocalReplyKind, extraHeaders: readonly string[] = []): void {
    this.replied = { kind, headers: extraHeaders };
    this.done = true;
  }
  resume(): void {}
}

function make(raw: Record<string, unknown>) {
  const config = basicAuth.parse(new Checker(() => undefined), raw, ['listeners', 0, 'filters', 0]);
  const keys = Object.keys(basicAuth.stats);
  const handles = Object.fromEntries(keys.map((k, i) => [k, i]));
  const stats = new Float64Array(keys.length);
  const env: FilterEnv = { listener: 'in', route: null, stats, handles, shared: new Int32Array(0), sharedSlot: -1, epoch: 0, now: () => 0 };
  const f = basicAuth.create(config, env);
  const run = (headers: string[], path?: string, query?: string) => {
    const ctx = new Ctx(['host', 'app.local', ...headers, 'x-forwarded-proto', 'http'], path, query);
    const st = f.onRequestHeaders(ctx);
    assert.equal(st === FilterStatus.Stop, ctx.replied !== null, 'Stop if and only if it replied');
    if (ctx.replied !== null) assert.equal(ctx.replied.kind, 'unauthorized');
    return { status: ctx.replied === null ? 200 : 401, ctx, challenge: ctx.replied === null ? undefined : getHeader(ctx.replied.headers as string[], 'www-authenticate') };
  };
  return { run, config, stat: (k: string) => stats[handles[k]!]! };
}

test('the right user and password pass; the credential is forwarded as in Envoy; allowed counts', () => {
  const { run, stat } = make({ users: HTPASSWD });
  const r = run(basic('alice:wonderland'));
  assert.equal(r.status, 200);
  assert.equal(getHeader(r.ctx.headers, 'authorization'), basic('alice:wonderland')[1]);
  assert.equal(run(basic('bob:builder')).status, 200);
  assert.equal(stat('allowed'), 2);
  assert.equal(stat('denied'), 0);
});

test('401 with WWW-Authenticate: missing, wrong password, unknown user, other scheme, bad base64, no colon', () => {
  const { run, stat } = make({ users: HTPASSWD });
  const cases: [string, string[]][] = [
    ['no header', []],
    ['wrong password', basic('alice:Wonderland')],
    ['unknown user', basic('carol:wonderland')],
    ['user only', basic('alice')],
    ['empty password', basic('alice:')],
    ['lowercase scheme (Envoy compares "Basic " exactly)', ['authorization', `basic ${Buffer.from('alice:wonderland').toString('base64')}`]],
    ['Bearer', ['authorization', 'Bearer abc']],
    ['not base64', ['authorization', `Basic ${Buffer.from('alice:wonderland').toString('base64').slice(0, 8)}!${Buffer.from('alice:wonderland').toString('base64').slice(8)}`]],
    ['password of the other user', basic('bob:wonderland')],
  ];
  for (const [what, headers] of cases) {
    const r = run(headers, '/app/x', 'a=1');
    assert.equal(r.status, 401, what);
    // Envoy's realm when none is configured: the request's URI.
    assert.equal(r.challenge, 'Basic realm="http://app.local/app/x?a=1"', what);
  }
  assert.equal(stat('denied'), cases.length);
  assert.equal(stat('allowed'), 0);
});

test('a password may contain colons; the user name ends at the first one', () => {
  const { run } = make({ users: `u:${sha('a:b:c')}` });
  assert.equal(run(basic('u:a:b:c')).status, 200);
  assert.equal(run(basic('u:a')).status, 401);
});

test('UTF-8 user names and passwords compare byte for byte and are forwarded with the same bytes', () => {
  const { run } = make({ users: `zoë:${sha('pässword')}`, forward_username_header: 'x-user' });
  const r = run(basic('zoë:pässword'));
  assert.equal(r.status, 200);
  // Header values travel as latin1 strings (one char per byte), as undici writes them.
  assert.equal(Buffer.from(getHeader(r.ctx.headers, 'x-user')!, 'latin1').toString('utf8'), 'zoë');
  assert.equal(run(basic('zoe:pässword')).status, 401);
});

test('forward_username_header replaces what the client sent; hide_credentials removes the credential', () => {
  const { run } = make({ users: HTPASSWD, forward_username_header: 'X-Auth-User', hide_credentials: true });
  const r = run(['x-auth-user', 'root', ...basic('bob:builder'), 'x-auth-user', 'admin']);
  assert.equal(r.status, 200);
  assert.deepEqual(r.ctx.headers.filter((_, i, h) => i % 2 === 0 && h[i] === 'x-auth-user'), ['x-auth-user']);
  assert.equal(getHeader(r.ctx.headers, 'x-auth-user'), 'bob');
  assert.equal(getHeader(r.ctx.headers, 'authorization'), undefined);
  // A denied request keeps its headers (it goes nowhere).
  assert.equal(run(['x-auth-user', 'root']).status, 401);
});

test('authentication_header reads another header; a fixed realm is sent as is', () => {
  const { run } = make({ users: HTPASSWD, authentication_header: 'Proxy-Authorization', realm: 'pillion' });
  assert.equal(run(['proxy-authorization', basic('alice:wonderland')[1]!]).status, 200);
  const r = run(basic('alice:wonderland'));
  assert.equal(r.status, 401);
  assert.equal(r.challenge, 'Basic realm="pillion"');
});

test('the URI realm cannot break the header: quotes, backslashes and non-ASCII are %-escaped, the path cut at 256', () => {
  const { run } = make({ users: HTPASSWD });
  assert.equal(run([], '/a"b\\c/é').challenge, 'Basic realm="http://app.local/a%22b%5Cc/%C3%A9"');
  const long = `/${'x'.repeat(400)}`;
  assert.equal(run([], long).challenge, `Basic realm="http://app.local${long.slice(0, 256)}"`);
});

test('htpasswd as Envoy reads it: {SHA} only, 28 base64 characters, no duplicates; errors name the user, never the hash', () => {
  const fail = (users: unknown): ConfigError => {
    try {
      make({ users });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err;
    }
    assert.fail(`accepted ${JSON.stringify(users)}`);
  };
  const bcrypt = fail('alice:$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC');
  assert.match(bcrypt.message, /alice.*only \{SHA\}/);
  assert.doesNotMatch(bcrypt.message, /c4WoMPo3/);
  assert.match(fail(`alice:${sha('x')}\nalice:${sha('y')}`).message, /line 2: duplicate user 'alice'/);
  assert.match(fail('alice:{SHA}abc').message, /28 base64 characters/);
  assert.match(fail('alice').message, /line 1: expected name:\{SHA\}hash/);
  assert.match(fail(`:${sha('x')}`).message, /empty user name/);
  assert.match(fail({ inline: 'a', file: '/x' }).message, /exactly one of inline, file or env/);
  assert.match(fail({ file: '/nonexistent/htpasswd' }).message, /users\.file: cannot read/);
  assert.match(fail({ env: 'PILLION_TEST_UNSET_HTPASSWD' }).message, /not set/);
  // CRLF line ends and comments are fine; an empty list denies everything (as in Envoy).
  assert.equal(make({ users: `# c\r\nalice:${sha('wonderland')}\r\n` }).run(basic('alice:wonderland')).status, 200);
  assert.equal(make({ users: '' }).run(basic('alice:wonderland')).status, 401);
});

test('users from a file and from an environment variable, read at config load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-basic-auth-'));
  try {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, HTPASSWD);
    const fromFile = make({ users: { file } });
    writeFileSync(file, ''); // read once: the running filter does no I/O
    assert.equal(fromFile.run(basic('bob:builder')).status, 200);
    process.env.PILLION_TEST_HTPASSWD = `carol:${sha('c')}`;
    assert.equal(make({ users: { env: 'PILLION_TEST_HTPASSWD' } }).run(basic('carol:c')).status, 200);
  } finally {
    delete process.env.PILLION_TEST_HTPASSWD;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per route: false turns it off, an object overrides users (Envoy BasicAuthPerRoute); /config_dump shows no hash', () => {
  const yaml = `
listeners:
  - port: 8000
    filters:
      - name: basic_auth
        users: "alice:${sha('wonderland')}"
        forward_username_header: x-user
    routes:
      - match: { path: /healthz }
        direct_response: { status: 200 }
        filters: { basic_auth: false }
      - match: { prefix: /admin }
        cluster: app
        filters: { basic_auth: { users: { inline: "root:${sha('toor')}" } } }
      - cluster: app
clusters:
  - name: app
    endpoints: [http://127.0.0.1:1]
`;
  const c = validateConfig(parseConfigText(yaml, 'x.yaml').raw);
  const l = c.listeners[0]!;
  assert.equal(l.routes[0]!.filters.basic_auth, false);
  const admin = l.routes[1]!.filters.basic_auth as BasicAuthConfig;
  assert.deepEqual(admin.credentials.map(([u]) => u), ['root']);
  assert.equal(admin.forward_username_header, 'x-user', 'fields the route does not set come from the listener');
  const dump = JSON.stringify(redact(c));
  assert.doesNotMatch(dump, new RegExp(sha('wonderland').slice(5, 20).replace(/[+/]/g, '.')));
  assert.doesNotMatch(dump, /alice|root/);
});
