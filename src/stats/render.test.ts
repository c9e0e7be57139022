import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promName, renderPrometheus, renderStatsText } from './render.js';
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
