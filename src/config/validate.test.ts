import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfigText } from './load.js';
import { ConfigError, validateConfig } from './validate.js';
import { DEFAULT_CONFIG_RAW } from './default.js';

function check(yaml: string): ConfigError {
  try {
    const { raw, locate } = parseConfigText(yaml, 'x.yaml');
    validateConfig(raw, locate, 'x.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('config was accepted');
}

const base = `listeners:
  - name: in
    port: 8000
    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [http://127.0.0.1:1]
`;

test('the embedded default is valid and is the sidecar drop-in', () => {
  const c = validateConfig(structuredClone(DEFAULT_CONFIG_RAW));
  assert.equal(c.listeners[0]!.address, '0.0.0.0');
  assert.equal(c.listeners[0]!.port, 15001);
  assert.deepEqual(c.clusters[0]!.endpoints, ['http://127.0.0.1:8080']);
  assert.deepEqual(c.admin, { address: '127.0.0.1', port: 15000 });
  assert.equal(c.listeners[0]!.routes[0]!.timeout_ms, 15_000);
});

test('a route naming an unknown cluster names the field and its line', () => {
  const e = check(base.replace('cluster: app', 'cluster: nope'));
  assert.equal(e.field, 'listeners[0].routes[0].cluster');
  assert.equal(e.line, 6);
  assert.match(e.message, /^x\.yaml:6: listeners\[0\]\.routes\[0\]\.cluster: names no cluster/);
});

test('an unknown field is refused with its line', () => {
  const e = check(base.replace('    port: 8000\n', '    port: 8000\n    prot: 1\n'));
  assert.equal(e.field, 'listeners[0].prot');
  assert.equal(e.line, 4);
});

test('a missing required field points at its parent', () => {
  const e = check(base.replace('    endpoints: [http://127.0.0.1:1]\n', ''));
  assert.equal(e.field, 'clusters[0].endpoints');
  assert.equal(e.line, 8);
});

test('bad values: durations, ports, URLs, regexes, lb policies', () => {
  assert.equal(check(base.replace('cluster: app', 'cluster: app\n        timeout: soon')).field, 'listeners[0].routes[0].timeout');
  assert.equal(check(base.replace('port: 8000', 'port: 70000')).field, 'listeners[0].port');
  assert.equal(check(base.replace('http://127.0.0.1:1', 'ftp://x:1')).field, 'clusters[0].endpoints[0]');
  assert.equal(check(base.replace('prefix: /', 'regex: "("')).field, 'listeners[0].routes[0].match.regex');
  assert.equal(check(base.replace("endpoints:", 'lb_policy: fastest\n    endpoints:')).field, 'clusters[0].lb_policy');
});

test('a syntax error names its line', () => {
  const e = check('listeners: [\n');
  assert.equal(e.field, '(syntax)');
  assert.equal(e.line, 2);
});

test('durations in Envoy spelling and integers as strings are accepted', () => {
  const { raw } = parseConfigText(base.replace('cluster: app', 'cluster: app\n        timeout: "0.25s"').replace('port: 8000', 'port: "8000"'), 'x.yaml');
  const c = validateConfig(raw);
  assert.equal(c.listeners[0]!.routes[0]!.timeout_ms, 250);
  assert.equal(c.listeners[0]!.port, 8000);
});

test('front: node needs concurrency 1', () => {
  const e = check(base.replace('port: 8000', 'port: 8000\n    front: node') + 'concurrency: 2\n');
  assert.equal(e.field, 'listeners[0].front');
});

test('the published JSON Schema knows every field the validator accepts', () => {
  const schema = JSON.parse(readFileSync(new URL('../../../docs/config.schema.json', import.meta.url), 'utf8'));
  const props = (o: { properties: Record<string, unknown> }) => Object.keys(o.properties).sort();
  const d = schema.$defs;
  // Field lists as validate.ts allows them (an unknown field there is an error, so these are exact).
  assert.deepEqual(props(schema), ['admin', 'clusters', 'concurrency', 'drain_time', 'drain_timeout', 'envoy_headers', 'listeners', 'stats', 'tcp_clusters', 'tcp_listeners']);
  assert.deepEqual(props(d.listener), ['access_log', 'address', 'filters', 'front', 'name', 'port', 'routes', 'tls']);
  assert.deepEqual(props(d.route), ['allowed_client_sans', 'cluster', 'direct_response', 'filters', 'host_rewrite', 'idle_timeout', 'match', 'max_request_bytes', 'name', 'prefix_rewrite', 'retry_policy', 'timeout']);
  assert.deepEqual(props(d.cluster), ['circuit_breakers', 'connect_timeout', 'endpoints', 'health_checks', 'idle_timeout', 'lb_policy', 'max_connections', 'name', 'outlier_detection', 'retry_budget', 'tls']);
  for (const [k, v] of Object.entries({ listener: d.listener, route: d.route, cluster: d.cluster })) {
    const fields = props(v as { properties: Record<string, unknown> });
    for (const f of fields.filter((x) => x !== 'front')) {
      const yaml = k === 'listener' ? base.replace('    port: 8000\n', `    port: 8000\n    ${f}_unknown: 1\n`) : null;
      if (yaml !== null) assert.equal(check(yaml).field, `listeners[0].${f}_unknown`);
    }
  }
});
