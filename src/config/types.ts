import type { FrontKind } from '../front/types.js';
import type { PromNaming } from '../stats/render.js';
import type { ClusterTls, ListenerTls } from '../front/tls-config.js';
import type { ListenerAccessLogs } from '../telemetry/config.js';
import type { TcpClusterConfig, TcpListenerConfig } from '../l4/config.js';

// pillion's own config, after validation: every default filled in, every duration in milliseconds.
// The file format is documented in docs/config.md and published as JSON Schema in
// docs/config.schema.json (for editors); src/config/validate.ts is the authority.

export interface HeaderMatcher {
  name: string;
  exact?: string;
  prefix?: string;
  regex?: string;
  /** true: the header must be present; false: it must be absent. */
  present?: boolean;
}

export interface RouteMatch {
  prefix?: string;
  path?: string;
  regex?: string;
  headers?: HeaderMatcher[];
}

export interface RouteConfig {
  name: string;
  match: RouteMatch;
  /** Forward to this cluster ... */
  cluster?: string;
  /** ... or answer locally. */
  direct_response?: { status: number; body: string };
  /** Time allowed for the upstream's response headers (Envoy's route timeout, default 15 s). 0 disables. */
  timeout_ms: number;
  /** Longest silence allowed between two chunks of the response body. 0 disables. */
  idle_timeout_ms: number;
  prefix_rewrite?: string;
  host_rewrite?: string;
  /** Largest request body accepted (413 beyond it). */
  max_request_bytes: number;
  /** Per-route filter settings by filter name: `false` disables the listener's filter here, an object
   *  overrides fields of its config (Envoy's typed_per_filter_config). */
  filters: Record<string, false | unknown>;
  retry_policy: RetryPolicy | null;
  /** mTLS listeners: client certificate SANs allowed on this route (403 otherwise); null: any. */
  allowed_client_sans: string[] | null;
}

export type RetryOn = '5xx' | 'gateway-error' | 'reset' | 'connect-failure' | 'retriable-status-codes';

export interface RetryPolicy {
  retry_on: RetryOn[];
  num_retries: number;
  /** 0: each try gets what is left of the route timeout. */
  per_try_timeout_ms: number;
  retriable_status_codes: number[];
  base_interval_ms: number;
  max_interval_ms: number;
}

/** A filter as written under a listener: its name and its raw config, validated by its factory. */
export interface FilterConfig {
  name: string;
  /** The filter's own parsed config (its factory's type). */
  config: unknown;
  /** As written; only kept during validation, for per-route overrides to merge over. */
  raw?: Record<string, unknown>;
  /** Where it came from, for error messages: `listeners[0].filters[1]`. */
  path: (string | number)[];
}

export interface ListenerConfig {
  name: string;
  address: string;
  port: number;
  /** TLS termination; null: plain HTTP. */
  tls: ListenerTls | null;
  /** Bumped when certificate files change, so that data planes reload them (rotation). */
  tls_generation: number;
  /** Access-log sinks (src/telemetry/config.ts); null: none. */
  access_log: ListenerAccessLogs | null;
  filters: FilterConfig[];
  /** `uws` (default, fastest) or `node` (node:http: pipelining, any method, 400 on malformed input). */
  front: FrontKind;
  routes: RouteConfig[];
}

export type LbPolicy = 'round_robin' | 'least_request' | 'random';

export interface ClusterConfig {
  name: string;
  /** Endpoint URLs, `http://host:port`. */
  endpoints: string[];
  lb_policy: LbPolicy;
  connect_timeout_ms: number;
  /** Keep-alive connections per endpoint. */
  max_connections: number;
  /** How long an unused upstream connection is kept open. */
  idle_timeout_ms: number;
  /** TLS to the endpoints (https:// endpoints use it; defaults verify against the system CAs). */
  tls: ClusterTls | null;
  circuit_breakers: CircuitBreakers;
  outlier_detection: OutlierDetection | null;
  health_checks: HealthCheck | null;
  /** When set, replaces circuit_breakers.max_retries, as in Envoy. */
  retry_budget: RetryBudget | null;
}

/** Envoy's thresholds and defaults (default priority). */
export interface CircuitBreakers {
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
}

export interface OutlierDetection {
  consecutive_5xx: number;
  consecutive_gateway_failure: number;
  base_ejection_time_ms: number;
  max_ejection_time_ms: number;
  max_ejection_percent: number;
}

export interface HealthCheck {
  path: string;
  interval_ms: number;
  timeout_ms: number;
  healthy_threshold: number;
  unhealthy_threshold: number;
  /** Status codes counted as healthy: [from, to) ranges, default [[200, 300)]. */
  expected_statuses: [number, number][];
}

/** Envoy's retry budget: retries in flight may be this % of requests in flight, at least min_retry_concurrency. */
export interface RetryBudget {
  budget_percent: number;
  min_retry_concurrency: number;
}

export interface AdminConfig {
  address: string;
  port: number;
}

export interface Config {
  admin: AdminConfig;
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
  /** Worker threads, each a uWS app on the same ports. */
  concurrency: number;
  /** How long listeners stay open after drain starts (responses carry `Connection: close`). */
  drain_time_ms: number;
  /** How long in-flight requests may take after the listeners close. */
  drain_timeout_ms: number;
  /** Envoy's response headers (x-envoy-upstream-service-time, x-envoy-overloaded, x-envoy-ratelimited). */
  envoy_headers: boolean;
  /** Upper bounds (ms) of the Prometheus latency histograms (`stats.histogram_buckets`). */
  histogram_buckets_ms: number[];
  /** `/stats/prometheus` names: Envoy's (`envoy_cluster_...{envoy_cluster_name=}`) or pillion's (`stats.prometheus_names`). */
  prometheus_names: PromNaming;
  /** L4 (tcp_proxy) listeners and their clusters: src/l4/config.ts, docs/l4.md. */
  tcp_listeners?: TcpListenerConfig[];
  tcp_clusters?: TcpClusterConfig[];
}
