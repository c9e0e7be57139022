// access_log and stats config: what is refused at load time, with the field named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../config/load.js';
import { ConfigError, validateConfig } from '../config/validate.js';
import { DEFAULT_BUCKETS_MS } from './metrics-pool.js';

const base = (listenerExtra: string, rootExtra = '') => `${rootExtra}listeners:
  - name: in
    port: 8000
${listenerExtra}    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [http://127.0.0.1:1]
`;

function load(yaml: string) {
  const { raw, locate } = parseConfigText(yaml, 'x.yaml');
  return validateConfig(raw, locate, 'x.yaml');
}

function refused(yaml: string): string {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  assert.fail('config was accepted');
}

test('histogram buckets: Envoy defaults, a custom list, refused when not increasing', () => {
  assert.deepEqual(load(base('')).histogram_buckets_ms, DEFAULT_BUCKETS_MS);
  assert.deepEqual(load(base('', 'stats:\n  histogram_buckets: [1, 2.5, 30]\n')).histogram_buckets_ms, [1, 2.5, 30]);
  assert.match(refused(base('', 'stats:\n  histogram_buckets: [5, 5]\n')), /stats\.histogram_buckets\[1\]: bounds must increase/);
  assert.match(refused(base('', 'stats:\n  histogram_buckets: []\n')), /stats\.histogram_buckets: needs 1 to 64 bounds/);
  assert.match(refused(base('', 'stats:\n  buckets: [1]\n')), /stats/);
});

test('access_log: format errors and sink shape are refused with the field', () => {
  assert.match(refused(base('    access_log:\n      - path: /tmp/x\n        format: "%NOPE%"\n')), /listeners\[0\]\.access_log\[0\]\.format: unknown operator %NOPE%/);
  assert.match(refused(base('    access_log:\n      - path: /tmp/x\n        format: "%START_TIME(%Q)%"\n')), /access_log\[0\]\.format: START_TIME\(%Q\)/);
  assert.match(refused(base('    access_log:\n      - http: { url: ftp://x }\n')), /access_log\[0\]\.http\.url: must be an http/);
  assert.match(refused(base('    access_log:\n      - http: { url: http://x, preset: splunk }\n')), /preset: must be ndjson, loki or elasticsearch/);
  assert.match(refused(base('    access_log:\n      - path: /tmp/x\n        http: { url: http://x }\n')), /use path or http, not both/);
  const ok = load(base('    access_log:\n      - path: /tmp/x\n        json_format: { a: "%REQ(X-A)%", b: "%RESP(X-B)%" }\n')).listeners[0]!.access_log!;
  assert.deepEqual([ok.headers, ok.respHeaders], [['x-a'], ['x-b']]);
});

test('access_log http.gzip: on by default, off by default to a collector on loopback, as configured otherwise', () => {
  const gzip = (http: string) => load(base(`    access_log:\n      - http: ${http}\n`)).listeners[0]!.access_log!.sinks[0]!.http!.gzip;
  assert.equal(gzip('{ url: "http://loki:3100/loki/api/v1/push" }'), true);
  assert.equal(gzip('{ url: "https://10.0.0.7/_bulk" }'), true);
  assert.equal(gzip('{ url: "http://127.0.0.1:9880/" }'), false);
  assert.equal(gzip('{ url: "http://127.1.2.3:9880/" }'), false);
  assert.equal(gzip('{ url: "http://localhost:9880/" }'), false);
  assert.equal(gzip('{ url: "http://[::1]:9880/" }'), false);
  assert.equal(gzip('{ url: "http://127.0.0.1:9880/", gzip: true }'), true);
  assert.equal(gzip('{ url: "http://loki:3100/", gzip: false }'), false);
});

test('access_log http.headers: lowercased; a line break, a bad name or a framing header is refused with the field', () => {
  const sink = (h: string) => base(`    access_log:\n      - http: { url: "http://loki:3100/", headers: ${h} }\n`);
  assert.deepEqual(load(sink('{ X-Scope-OrgID: t1 }')).listeners[0]!.access_log!.sinks[0]!.http!.headers, { 'x-scope-orgid': 't1' });
  assert.match(refused(sink('{ x-a: "v\\r\\nx-evil: 1" }')), /access_log\[0\]\.http\.headers\.x-a: the value of 'x-a' has a character not allowed/);
  assert.match(refused(sink('{ "a b": v }')), /http\.headers\.a b: 'a b' is not a valid header name/);
  assert.match(refused(sink('{ Content-Length: "9" }')), /http\.headers\.Content-Length: 'Content-Length' is set by pillion/);
});
