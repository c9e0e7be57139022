// A cluster's traffic policies: circuit_breakers (+ retry_budget), outlier_detection, health_checks ->
// pillion's fields of the same names (src/config/validate.ts; Envoy's defaults there too).
import { ms, type RawCluster } from './context.js';
import type { Node } from './source.js';

/** circuit_breakers: the DEFAULT priority's thresholds; HIGH and per-host thresholds are reported. */
export function circuitBreakers(cb: Node, out: RawCluster): void {
  for (const t of cb.list('thresholds')) {
    const priority = t.str('priority') ?? 'DEFAULT';
    if (priority !== 'DEFAULT') {
      t.dropSelf(`${priority} priority thresholds: pillion has one priority (routes' priority is not carried)`);
      continue;
    }
    const th: Record<string, unknown> = {};
    for (const f of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) {
      const v = t.int(f);
      if (v !== undefined) th[f] = v;
    }
    if (Object.keys(th).length > 0) out.circuit_breakers = th;
    const rb = t.get('retry_budget');
    if (rb !== undefined) {
      const budget: Record<string, unknown> = {};
      const pct = rb.get('budget_percent');
      if (pct !== undefined) {
        const v = pct.isMap() ? (pct.value as { value?: unknown }).value : pct.value;
        if (typeof v !== 'number') pct.fail('budget_percent must be {value: N}');
        budget.budget_percent = v;
        pct.skip('value');
        pct.finish();
      }
      const min = rb.int('min_retry_concurrency');
      if (min !== undefined) budget.min_retry_concurrency = min;
      rb.finish();
      out.retry_budget = budget;
    }
    t.skip('track_remaining'); // pillion always keeps the remaining_* gauges
    t.finish();
  }
  cb.drop('per_host_thresholds', 'per-endpoint limits: pillion\'s breakers are per cluster');
  cb.finish();
}

/**
 * outlier_detection. Envoy enforces consecutive 5xx at 100% but consecutive gateway failures at 0%
 * by default (detected, counted, never ejected); pillion has no enforcement percentage, so a
 * detector Envoy would not enforce is written as 0 (off) and one it enforces partly is reported.
 */
export function outlierDetection(od: Node, out: RawCluster): void {
  const o: Record<string, unknown> = {};
  const enforcing = (name: string, fallback: number): number => {
    const n = od.get(name);
    if (n === undefined) return fallback;
    const v = n.isMap() ? (n.value as { value?: unknown }).value : n.value;
    if (typeof v !== 'number') return n.fail('must be a percentage');
    n.skip('value');
    n.finish();
    if (v !== 0 && v !== 100) n.dropSelf(`enforcing ${v}%: pillion ejects always or never; taken as always`);
    return v;
  };
  const c5xx = od.int('consecutive_5xx') ?? 5;
  o.consecutive_5xx = enforcing('enforcing_consecutive_5xx', 100) === 0 ? 0 : c5xx;
  const gw = od.int('consecutive_gateway_failure') ?? 5;
  o.consecutive_gateway_failure = enforcing('enforcing_consecutive_gateway_failure', 0) === 0 ? 0 : gw;
  const base = od.durationMs('base_ejection_time');
  if (base !== undefined) o.base_ejection_time = ms(base);
  const max = od.durationMs('max_ejection_time');
  if (max !== undefined) o.max_ejection_time = ms(max);
  const pct = od.int('max_ejection_percent');
  if (pct !== undefined) o.max_ejection_percent = pct;
  od.get('interval')?.note('interval: pillion ejects on the failure itself and returns endpoints on their own timers, with no sweep interval');
  if (od.bool('split_external_local_origin_errors') === true) {
    od.get('split_external_local_origin_errors')!.dropSelf('pillion counts connect failures and 5xx together');
  }
  od.drop('consecutive_local_origin_failure', 'pillion does not count local-origin failures apart');
  od.drop('enforcing_consecutive_local_origin_failure', 'pillion does not count local-origin failures apart');
  for (const k of od.keys()) {
    if (/^(success_rate|failure_percentage|enforcing_success_rate|enforcing_failure_percentage|enforcing_local_origin_success_rate|enforcing_failure_percentage_local_origin)/.test(k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`))) {
      od.drop(k, 'success-rate and failure-percentage ejection: pillion has consecutive failures only');
    }
  }
  od.drop('max_ejection_time_jitter', 'pillion adds no jitter to ejection times');
  od.drop('successful_active_health_check_uneject_host', 'pillion\'s health checks and ejections are separate');
  od.drop('detector_in_cluster_health', 'pillion has no such option');
  od.note('Envoy also ejects by success rate by default (clusters of 5+ busy hosts); pillion ejects on consecutive failures only');
  od.finish();
  out.outlier_detection = o;
}

/** health_checks: the first HTTP health check; others are reported. */
export function healthChecks(list: Node[], out: RawCluster): void {
  for (const hc of list) {
    const http = hc.get('http_health_check');
    if (http === undefined || out.health_checks !== undefined) {
      hc.dropSelf(out.health_checks !== undefined ? 'a second health check: pillion runs one per cluster' : 'health check that is not HTTP (tcp, grpc, custom): pillion checks over HTTP');
      continue;
    }
    const h: Record<string, unknown> = {};
    const path = http.str('path');
    if (path === undefined) return http.fail('http_health_check needs a path');
    h.path = path;
    const interval = hc.durationMs('interval');
    if (interval !== undefined) h.interval = ms(interval);
    const timeout = hc.durationMs('timeout');
    if (timeout !== undefined) h.timeout = ms(timeout);
    const healthy = hc.int('healthy_threshold');
    if (healthy !== undefined) h.healthy_threshold = healthy;
    const unhealthy = hc.int('unhealthy_threshold');
    if (unhealthy !== undefined) h.unhealthy_threshold = unhealthy;
    const ranges = http.list('expected_statuses');
    if (ranges.length > 0) {
      h.expected_statuses = ranges.map((r) => {
        const start = r.int('start');
        const end = r.int('end');
        r.finish();
        return { start, end };
      });
    }
    http.drop('host', 'pillion sends the endpoint\'s host:port as Host');
    http.drop('method', 'pillion health checks use GET');
    http.drop('send', 'pillion sends no health check body');
    http.drop('receive', 'pillion checks the status only');
    http.drop('request_headers_to_add', 'pillion adds no health check headers');
    http.drop('request_headers_to_remove', 'pillion adds no health check headers');
    http.drop('retriable_statuses', 'pillion counts any unexpected status as a failure');
    http.drop('codec_client_type', 'pillion health checks use HTTP/1.1');
    http.skip('service_name_matcher');
    http.finish();
    hc.drop('no_traffic_interval', 'pillion checks at interval whether or not the cluster has traffic');
    hc.drop('no_traffic_healthy_interval', 'pillion checks at interval whether or not the cluster has traffic');
    hc.drop('unhealthy_interval', 'pillion checks at one interval');
    hc.drop('unhealthy_edge_interval', 'pillion checks at one interval');
    hc.drop('healthy_edge_interval', 'pillion checks at one interval');
    hc.drop('interval_jitter', 'pillion adds no jitter');
    hc.drop('interval_jitter_percent', 'pillion adds no jitter');
    hc.drop('initial_jitter', 'pillion adds no jitter');
    hc.drop('event_log_path', 'pillion logs health transitions to its own log');
    hc.drop('always_log_health_check_failures', 'pillion logs health transitions to its own log');
    hc.drop('reuse_connection', 'pillion\'s health checks use their own connections');
    hc.finish();
    out.health_checks = h;
  }
}

/** A route's (or virtual host's) retry_policy -> pillion's route retry_policy. */
export function retryPolicy(rp: Node): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const on = rp.str('retry_on');
  const KNOWN = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-status-codes'];
  if (on === undefined) {
    // Envoy retries nothing without a condition; pillion's default would retry connect failures.
    rp.note('no retry_on: Envoy retries nothing, and neither does the translation');
    rp.finish('not used: the policy has no retry_on');
    return {};
  }
  {
    const list = on.split(',').map((x) => x.trim()).filter((x) => x !== '');
    const kept = list.filter((x) => KNOWN.includes(x));
    const dropped = list.filter((x) => !KNOWN.includes(x));
    if (dropped.length > 0) rp.get('retry_on')!.dropSelf(`retry_on ${dropped.join(', ')}: pillion retries on ${KNOWN.join(', ')}`);
    if (kept.length === 0) {
      rp.dropSelf('no retry condition pillion knows: the route does not retry');
      return {};
    }
    out.retry_on = kept.join(',');
  }
  // Envoy's default is 1 retry; so is pillion's.
  const n = rp.int('num_retries');
  if (n !== undefined) out.num_retries = n;
  const pt = rp.durationMs('per_try_timeout');
  if (pt !== undefined) out.per_try_timeout = ms(pt);
  const codes = rp.strings('retriable_status_codes');
  if (codes !== undefined) out.retriable_status_codes = codes.map(Number);
  const back = rp.get('retry_back_off');
  if (back !== undefined) {
    const b: Record<string, unknown> = {};
    const base = back.durationMs('base_interval');
    if (base !== undefined) b.base_interval = ms(base);
    const max = back.durationMs('max_interval');
    if (max !== undefined) b.max_interval = ms(max);
    back.finish();
    out.retry_back_off = b;
  }
  // pillion's retries prefer another endpoint: Envoy's previous_hosts predicate is what it does.
  for (const p of rp.list('retry_host_predicate')) {
    if (p.str('name') === 'envoy.retry_host_predicates.previous_hosts') {
      p.skip('typed_config');
      p.finish();
    } else p.dropSelf('retry host predicate: pillion prefers another endpoint (previous_hosts) only');
  }
  rp.skip('host_selection_retry_max_attempts');
  rp.drop('retry_priority', 'pillion has no priorities');
  rp.drop('retriable_headers', 'pillion retries on status and failures only');
  rp.drop('retriable_request_headers', 'pillion decides retries from the method and body (idempotent, or buffered)');
  rp.drop('rate_limited_retry_back_off', 'pillion has no Retry-After-driven back-off');
  rp.drop('per_try_idle_timeout', 'pillion has per_try_timeout only');
  rp.finish();
  return out;
}
