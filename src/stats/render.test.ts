import { test } from 'node:test';
import assert from 'node:assert/strict';
import { named, promName, renderPrometheus, renderStatsText } from './render.js';
import { StatRegistry, newStatBuffer, sumStats } from './registry.js';

test("Envoy's Prometheus names: scope as a label, status classes as envoy_response_code_class", () => {
  assert.deepEqual(promName('cluster.app.upstream_rq_total', 'counter'), { family: 'envoy_cluster_upstream_rq_total', labels: '{envoy_cluster_name="app"}' });
  assert.deepEqual(promName('http.ingress.downstream_rq_5xx', 'counter'), { family: 'envoy_http_downstream_rq_xx_total', labels: '{envoy_response_code_class="5",envoy_http_conn_manager_prefix="ingress"}' });
  assert.deepEqual(promName('http.ingress.downstream_rq_active', 'gauge'), { family: 'envoy_http_downstream_rq_active', labels: '{envoy_http_conn_manager_prefix="ingress"}' });
  assert.deepEqual(promName('pillion.config.reload_success', 'counter'), { family: 'pillion_config_reload_success_total', labels: '' });
});

test('slots are summed over every thread and rendered once per family', () => {
  const r = new StatRegistry();
  const a = r.cluster('a');
  const b = r.cluster('b');
  const t1 = new Float64Array(newStatBuffer());
  const t2 = new Float64Array(newStatBuffer());
  t1[a.rqTotal] = 2; t2[a.rqTotal] = 3; t2[b.rq2xx] = 7;
  const v = sumStats(r, [t1, t2]);
  assert.equal(v[a.rqTotal], 5);
  assert.match(renderStatsText(r, v), /^cluster\.a\.upstream_rq_total: 5$/m);
  const prom = renderPrometheus(r, v);
  assert.equal(prom.match(/^# TYPE envoy_cluster_upstream_rq_total counter$/gm)?.length, 1);
  assert.match(prom, /^envoy_cluster_upstream_rq_xx_total\{envoy_response_code_class="2",envoy_cluster_name="b"\} 7$/m);
});

test('a registry hands out the same slot for the same name, and adjacent status classes', () => {
  const r = new StatRegistry();
  const x = r.listener('l');
  assert.deepEqual(r.listener('l'), x);
  assert.equal(x.rq5xx - x.rq1xx, 4);
});

test("pillion naming: envoy_ families become pillion_, Envoy's label names plain ones, label values untouched", () => {
  assert.deepEqual(named('envoy_http_downstream_rq_xx_total', '{envoy_response_code_class="2",envoy_http_conn_manager_prefix="in"}', 'pillion'),
    { family: 'pillion_http_downstream_rq_xx_total', labels: '{code_class="2",listener="in"}' });
  // A value that looks like a label (escaped quote, comma, Envoy's label name) is copied as it is.
  const tricky = '{envoy_cluster_name="a\\"b,envoy_route_name=\\"x",envoy_route_name="r"}';
  assert.deepEqual(named('envoy_cluster_x', tricky, 'pillion'), { family: 'pillion_cluster_x', labels: '{cluster="a\\"b,envoy_route_name=\\"x",route="r"}' });
  assert.deepEqual(named('pillion_pool_queue_size', '{pool="metrics"}', 'pillion'), { family: 'pillion_pool_queue_size', labels: '{pool="metrics"}' });
  assert.deepEqual(named('envoy_server_live', '', 'envoy'), { family: 'envoy_server_live', labels: '' });
  const r = new StatRegistry();
  const a = r.cluster('app');
  const v = new Float64Array(r.stats.length);
  v[a.rqTotal] = 3;
  const envoy = renderPrometheus(r, v, [], 'envoy');
  const pillion = renderPrometheus(r, v, [], 'pillion');
  assert.match(envoy, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="app"\} 3$/m);
  assert.match(pillion, /^pillion_cluster_upstream_rq_total\{cluster="app"\} 3$/m);
  assert.doesNotMatch(pillion, /envoy_/);
  // Names resolved once per registry and naming: a stat added later is rendered too.
  r.cluster('late');
  assert.match(renderPrometheus(r, new Float64Array(r.stats.length), [], 'pillion'), /^pillion_cluster_upstream_rq_total\{cluster="late"\} 0$/m);
});
