// Golden translations: every Envoy config in test/fixtures/envoy/ (copied from ../shared/envoy-configs,
// origins in test/fixtures/envoy/ORIGINS.md) is translated as `pillion envoy-compat check` does it, and
// the pillion config, the fields not carried over and the notes are compared exactly with
// test/fixtures/envoy/golden/<case>.yaml. A config pillion cannot run at all is compared on its error.
// UPDATE_GOLDEN=1 rewrites the files.
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { formatFinding, loadEnvoyConfig } from './index.js';
import { ConfigError } from '../src/config/validate.js';
import { TestPki } from '../test/helpers/certs.js';

// Compiled to dist/envoy-compat/: the fixtures are read from the source tree, two levels up.
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/envoy', import.meta.url));
const GOLDEN = join(FIXTURES, 'golden');

interface Case {
  name: string;
  files: string[];
}

const one = (f: string): Case => ({ name: f.replace(/\.yaml$/, ''), files: [f] });

export const CASES: Case[] = [
  // Bootstraps.
  one('front-proxy__service-envoy.yaml'),
  one('front-proxy__envoy.yaml'),
  one('configs__envoy-demo.yaml'),
  one('docs__best_practices__edge.yaml'),
  one('local_ratelimit__envoy.yaml'),
  one('docs__http_filters__local-rate-limit-with-descriptors.yaml'),
  one('configs__jwt_authn.yaml'),
  one('docs__http_filters__api-key-auth-filter.yaml'),
  one('rbac__envoy.yaml'),
  one('ext_authz__config__http-service.yaml'),
  one('tls__envoy-https-http.yaml'),
  one('docs__quick-start__envoy-demo-tls-client-auth.yaml'),
  one('double-proxy__envoy-backend.yaml'),
  one('tls-sni__envoy.yaml'),
  one('locality-load-balancing__envoy.yaml'),
  one('dynamic-config-fs__envoy.yaml'), // its /var/lib/envoy/{lds,cds}.yaml are read from fixtures/
  one('dynamic-config-cp__envoy.yaml'),
  // xDS resource files (Envoy Gateway's protojson, lowerCamelCase).
  one('dynamic-config-fs__configs__lds.yaml'),
  one('dynamic-config-fs__configs__cds.yaml'),
  one('circuit-breaker.clusters.yaml'),
  one('health-check.clusters.yaml'),
  one('load-balancer.clusters.yaml'),
  one('retry.routes.yaml'),
  one('timeout.routes.yaml'),
  one('accesslog.listeners.yaml'),
  one('basic-auth.listeners.yaml'),
  { name: 'local-ratelimit.listeners+routes', files: ['local-ratelimit.listeners.yaml', 'local-ratelimit.routes.yaml'] },
];

/** Envoy's example paths for filesystem xDS, read from the fixtures instead. */
const REMAP: Record<string, string> = {
  '/var/lib/envoy/lds.yaml': 'dynamic-config-fs__configs__lds.yaml',
  '/var/lib/envoy/cds.yaml': 'dynamic-config-fs__configs__cds.yaml',
};

const readFile = (p: string): string => readFileSync(REMAP[p] !== undefined ? join(FIXTURES, REMAP[p]!) : p, 'utf8');

// The TLS examples name certificate files relative to Envoy's working directory (certs/...); the
// repositories do not ship them. Test certificates are made under those names in a temp directory,
// which becomes the working directory, so the translation (and pillion's check that the files load)
// sees what Envoy would. Inline certificates are written under INLINE, left out of the golden text.
const WORK = mkdtempSync(join(tmpdir(), 'pillion-envoy-golden-'));
const INLINE = join(WORK, 'inline');
function makeCerts(): void {
  const pki = new TestPki();
  const certs = join(WORK, 'certs');
  mkdirSync(certs);
  const put = (name: string, from: string) => copyFileSync(from, join(certs, name));
  put('cacert.pem', pki.ca.cert);
  const server = pki.issue('server', 'DNS:example.com,DNS:www.example.com', 'server');
  put('servercert.pem', server.cert);
  put('serverkey.pem', server.key);
  const client = pki.issue('client', 'DNS:proxy-postgres-frontend.example.com', 'client');
  put('clientcert.pem', client.cert);
  put('clientkey.pem', client.key);
  for (const d of ['domain1', 'domain2']) {
    const c = pki.issue(d, `DNS:${d}.example.com`, d);
    put(`${d}.crt.pem`, c.cert);
    put(`${d}.key.pem`, c.key);
  }
  rmSync(pki.dir, { recursive: true, force: true });
}

/** What `check` shows for a case, with the fixtures folder left out of file names. */
export function render(c: Case): string {
  const strip = (s: string) => s.split(`${FIXTURES}/`).join('').split(`${INLINE}/`).join('<inline>/');
  let out = '';
  try {
    const t = loadEnvoyConfig(c.files.map((f) => join(FIXTURES, f)), { readFile, allowNoListener: true, inlineDir: INLINE });
    out += stringify({
      config: t.config,
      dropped: t.report.dropped.map(formatFinding),
      notes: t.report.notes.map(formatFinding),
    }, { lineWidth: 0 });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    out += stringify({ error: err.message }, { lineWidth: 0 });
  }
  return `# golden: pillion envoy-compat check ${c.files.join(' ')}\n${strip(out)}`;
}

describe('golden translations of real Envoy configs', () => {
  const cwd = process.cwd();
  before(() => {
    makeCerts();
    process.chdir(WORK);
  });
  after(() => {
    process.chdir(cwd);
    rmSync(WORK, { recursive: true, force: true });
  });
  for (const c of CASES) {
    test(c.name, () => {
      const got = render(c);
      const file = join(GOLDEN, `${basename(c.name)}.yaml`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, got);
      assert.equal(got, readFileSync(file, 'utf8'));
    });
  }
});
