// Every stat pillion keeps, in one place. Names follow Envoy wherever pillion copies Envoy's behaviour,
// so that `/stats` reads like Envoy's and `/stats/prometheus` feeds dashboards built for Envoy
// (`http.<listener>.downstream_rq_total` -> `envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=...}`).
// Stats that Envoy has no equivalent for are prefixed `pillion.`.

export type StatType = 'counter' | 'gauge';

export interface StatTemplate {
  /** Name under its scope: `http.<scope>.<stat>`, `cluster.<scope>.<stat>`, or the full name for server stats. */
  stat: string;
  type: StatType;
  help: string;
}

const c = (stat: string, help: string): StatTemplate => ({ stat, type: 'counter', help });
const g = (stat: string, help: string): StatTemplate => ({ stat, type: 'gauge', help });

/** Per listener (Envoy's http connection manager stats), scope `http.<listener>`. */
export const LISTENER_STATS = {
  rqTotal: c('downstream_rq_total', 'Requests received'),
  rq1xx: c('downstream_rq_1xx', 'Responses with a 1xx status'),
  rq2xx: c('downstream_rq_2xx', 'Responses with a 2xx status'),
  rq3xx: c('downstream_rq_3xx', 'Responses with a 3xx status'),
  rq4xx: c('downstream_rq_4xx', 'Responses with a 4xx status'),
  rq5xx: c('downstream_rq_5xx', 'Responses with a 5xx status'),
  rqActive: g('downstream_rq_active', 'Requests in flight'),
  rqAborted: c('downstream_rq_rx_reset', 'Requests the client abandoned before the response ended'),
  rqTooLarge: c('downstream_rq_too_large', 'Requests refused with 413: body over the route limit'),
  rqBad: c('downstream_rq_bad_request', 'Requests refused with 400: ambiguous framing or invalid headers'),
  rqNotImplemented: c('downstream_rq_not_implemented', 'Requests refused with 501: a method the front cannot carry'),
  rqNoRoute: c('no_route', 'Requests that matched no route (404)'),
  rqDirect: c('downstream_rq_direct_response', 'Requests answered by a direct_response route'),
  rqDrainClose: c('downstream_cx_drain_close', 'Responses that closed the connection because the proxy is draining'),
  rqUpstreamReset: c('downstream_rq_upstream_reset', 'Responses cut short because the upstream failed mid-body'),
  rqClientCertForbidden: c('downstream_rq_client_cert_forbidden', "Requests refused with 403: the client certificate's SAN is not allowed on the route"),
  tlsError: c('ssl.connection_error', 'TLS handshakes that failed (node front: plain HTTP, missing or untrusted client certificate)'),
  tlsNoCertificate: c('ssl.no_certificate', 'mTLS connections without a verified client certificate (optional mode)'),
} as const satisfies Record<string, StatTemplate>;

/** Per cluster (Envoy's upstream stats), scope `cluster.<cluster>`. */
export const CLUSTER_STATS = {
  rqTotal: c('upstream_rq_total', 'Requests sent upstream'),
  rq1xx: c('upstream_rq_1xx', 'Upstream responses with a 1xx status'),
  rq2xx: c('upstream_rq_2xx', 'Upstream responses with a 2xx status'),
  rq3xx: c('upstream_rq_3xx', 'Upstream responses with a 3xx status'),
  rq4xx: c('upstream_rq_4xx', 'Upstream responses with a 4xx status'),
  rq5xx: c('upstream_rq_5xx', 'Upstream responses with a 5xx status'),
  rqActive: g('upstream_rq_active', 'Upstream requests in flight'),
  rqTimeout: c('upstream_rq_timeout', 'Upstream requests that timed out (504 UT)'),
  rqRxReset: c('upstream_rq_rx_reset', 'Upstream requests reset by the upstream after the request was sent'),
  rqCancelled: c('upstream_rq_cancelled', 'Upstream requests cancelled because the client went away'),
  cxConnectFail: c('upstream_cx_connect_fail', 'Upstream connection failures (503 UF)'),
  cxTotal: c('upstream_cx_total', 'Upstream connections opened'),
  cxDestroy: c('upstream_cx_destroy', 'Upstream connections closed'),
  noHealthy: c('upstream_cx_none_healthy', 'Requests that found no healthy endpoint (503 UH)'),
  rqPendingOverflow: c('upstream_rq_pending_overflow', 'Requests refused with 503 UO: max_requests or max_pending_requests reached'),
  rqRetry: c('upstream_rq_retry', 'Retries sent'),
  rqRetrySuccess: c('upstream_rq_retry_success', 'Retries that got a response that was not retried again'),
  rqRetryOverflow: c('upstream_rq_retry_overflow', 'Retries not sent: max_retries or the retry budget reached'),
  rqRetryLimitExceeded: c('upstream_rq_retry_limit_exceeded', 'Retries not sent: num_retries or the route timeout used up'),
  lbHealthyPanic: c('lb_healthy_panic', 'Requests balanced over all endpoints because fewer than half were healthy'),
  ejectionsEnforced: c('outlier_detection.ejections_enforced_total', 'Endpoints ejected by outlier detection'),
  ejections5xx: c('outlier_detection.ejections_enforced_consecutive_5xx', 'Ejections for consecutive 5xx'),
  ejectionsGateway: c('outlier_detection.ejections_enforced_consecutive_gateway_failure', 'Ejections for consecutive gateway failures'),
  ejectionsOverflow: c('outlier_detection.ejections_overflow', 'Ejections not done because of max_ejection_percent'),
  hcAttempt: c('health_check.attempt', 'Active health checks sent'),
  hcSuccess: c('health_check.success', 'Active health checks passed'),
  hcFailure: c('health_check.failure', 'Active health checks failed'),
} as const satisfies Record<string, StatTemplate>;

/** Process-wide stats, full names. */
export const SERVER_STATS = {
  reloadSuccess: c('pillion.config.reload_success', 'Config reloads applied'),
  reloadRejected: c('pillion.config.reload_rejected', 'Config reloads refused (the old config kept serving)'),
  workerRestarts: c('pillion.server.worker_restarts', 'Worker threads restarted after they died'),
  accessLogWritten: c('access_log.records_written', 'Access-log records written to stdout or files'),
  accessLogShipped: c('access_log.records_shipped', 'Access-log records delivered to HTTP sinks'),
  accessLogSpooled: c('access_log.records_spooled', 'Access-log records written to the spool while a sink was down'),
  accessLogDropped: c('access_log.dropped', 'Access-log records dropped past the memory and disk bounds (or unwritable)'),
  accessLogBatchesFailed: c('access_log.batches_failed', 'Access-log batches a sink refused or could not take'),
  accessLogRetries: c('access_log.retries', 'HTTP sink attempts that failed and were retried or spooled'),
  tlsRotationSuccess: c('pillion.tls.rotation_success', 'Certificate files changed and loaded'),
  tlsRotationRejected: c('pillion.tls.rotation_rejected', 'Certificate files changed but refused (the previous certificate keeps serving)'),
} as const satisfies Record<string, StatTemplate>;

export type ListenerStats = { readonly [K in keyof typeof LISTENER_STATS]: number };
export type ClusterStats = { readonly [K in keyof typeof CLUSTER_STATS]: number };
export type ServerStats = { readonly [K in keyof typeof SERVER_STATS]: number };

/** basic_auth filter, scope `http.<listener>.basic_auth` (Envoy's names and meanings). */
export const BASIC_AUTH_STATS = {
  allowed: c('allowed', 'Requests with a known user and the right password'),
  denied: c('denied', 'Requests refused with 401: credentials missing, malformed or wrong'),
} as const satisfies Record<string, StatTemplate>;
