// tcp_listeners / tcp_clusters validation through the real config loader: defaults, the cluster
// reference rules, and errors that name the field and its line.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError, validateConfig } from '../../src/config/validate.js';

const BASE = `listeners:
  - name: web
    port: 8000
    routes: [{ cluster: app }]
clusters:
  - name: app
    endpoints: [http://127.0.0.1:8080]
`;

function load(extra: string) {
  const { raw, locate } = parseConfigText(BASE + extra, 'pillion.yaml');
  return validateConfig(raw, locate, 'pillion.yaml');
}

function error(extra: string): ConfigError {
  try {
    load(extra);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no error');
}

test('defaults are filled in; an HTTP cluster can be used at L4', () => {
  const c = load(`tcp_clusters:
  - name: db
    endpoints: ["10.0.0.5:5432", "[fd00::5]:5432"]
tcp_listeners:
  - name: db_in
    port: 15432
    cluster: db
  - name: app_raw
    port: 15433
    cluster: app
`);
  assert.deepEqual(c.tcp_listeners![0], {
    name: 'db_in', address: '0.0.0.0', port: 15432, stat_prefix: 'db_in', cluster: 'db', sni: [], original_dst: false,
    destinations: [], passthrough: false, http: 'l7', inspect_timeout_ms: 1000, idle_timeout_ms: 3_600_000,
    max_connections: 65_536, splice: true,
  });
  assert.deepEqual(c.tcp_clusters, [
    { name: 'db', endpoints: [{ host: '10.0.0.5', port: 5432 }, { host: 'fd00::5', port: 5432 }], lb_policy: 'round_robin', connect_timeout_ms: 5000 },
    { name: 'app', endpoints: [{ host: '127.0.0.1', port: 8080 }], lb_policy: 'round_robin', connect_timeout_ms: 5000 },
  ]);
});

test('transparent listener: original_dst turns passthrough on; destinations and sni are checked', () => {
  const c = load(`tcp_clusters:
  - { name: db, endpoints: ["10.0.0.5:5432"] }
tcp_listeners:
  - name: outbound
    port: 15002
    original_dst: true
    destinations:
      - { address: 10.96.0.10, port: 5432, cluster: db }
      - { port: 6379, cluster: db }
    sni:
      - { server_names: [API.Example.com, "*.example.org"], cluster: db }
`);
  const l = c.tcp_listeners![0]!;
  assert.equal(l.passthrough, true);
  assert.deepEqual(l.destinations, [{ address: '10.96.0.10', port: 5432, cluster: 'db' }, { address: undefined, port: 6379, cluster: 'db' }]);
  assert.deepEqual(l.sni, [{ server_names: ['api.example.com', '*.example.org'], cluster: 'db' }]);
});

test('errors name the field and its line', () => {
  const cases: [string, string, RegExp][] = [
    [`tcp_listeners:\n  - { name: x, port: 1, cluster: nope }\n`, 'tcp_listeners[0].cluster', /names no cluster \(known: app\)/],
    [`tcp_listeners:\n  - { name: x, cluster: app }\n`, 'tcp_listeners[0].port', /is required/],
    [`tcp_listeners:\n  - { name: x, port: 1 }\n`, 'tcp_listeners[0]', /needs a cluster, sni routes or original_dst: true/],
    [`tcp_listeners:\n  - { name: x, port: 1, cluster: app, passthrough: true }\n`, 'tcp_listeners[0].passthrough', /needs original_dst: true/],
    [`tcp_listeners:\n  - { name: x, port: 1, cluster: app, speed: 9 }\n`, 'tcp_listeners[0].speed', /unknown field/],
    [`tcp_listeners:\n  - { name: x, port: 1, cluster: app, http: h2 }\n`, 'tcp_listeners[0].http', /must be 'l7' or 'l4'/],
    [`tcp_listeners:\n  - { name: x, port: 1, original_dst: true, destinations: [{ address: db.local, port: 5, cluster: app }] }\n`, 'tcp_listeners[0].destinations[0].address', /must be an IP address/],
    [`tcp_listeners:\n  - { name: x, port: 1, sni: [{ server_names: ["bad name"], cluster: app }] }\n`, 'tcp_listeners[0].sni[0].server_names[0]', /is not a host name/],
    [`tcp_listeners:\n  - { name: x, port: 1, cluster: app }\n  - { name: x, port: 2, cluster: app }\n`, 'tcp_listeners[1].name', /duplicate tcp listener name/],
    [`tcp_clusters:\n  - { name: app, endpoints: ["1.2.3.4:5"] }\n`, 'tcp_clusters[0].name', /duplicate cluster name 'app'/],
    [`tcp_clusters:\n  - { name: db, endpoints: ["db.local"] }\n`, 'tcp_clusters[0].endpoints[0]', /must be host:port/],
    [`tcp_clusters:\n  - { name: db, endpoints: [] }\n`, 'tcp_clusters[0].endpoints', /needs at least one endpoint/],
  ];
  for (const [extra, field, reason] of cases) {
    const e = error(extra);
    assert.equal(e.field, field, extra);
    assert.match(e.reason, reason, extra);
    assert.ok(e.line !== undefined && e.line > 7, `${field}: a line in the tcp section (got ${e.line})`);
  }
});
