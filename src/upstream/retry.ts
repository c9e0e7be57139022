// Retry decisions (Envoy's retry_on vocabulary) and backoff. Pure functions of the route's policy,
// so the request path only calls them when something already went wrong.
import type { RetryPolicy } from '../config/types.js';
import type { LocalReplyKind } from '../errors/local-reply.js';

/** May a failure before any response header be retried under this policy? */
export function retriableError(p: RetryPolicy, kind: LocalReplyKind, reset: boolean): boolean {
  const on = p.retry_on;
  if (kind === 'upstreamTimeout') return on.includes('5xx') || on.includes('gateway-error');
  if (reset) return on.includes('reset') || on.includes('5xx');
  if (kind === 'upstreamConnectFailure') return on.includes('connect-failure') || on.includes('5xx') || on.includes('gateway-error');
  return on.includes('5xx');
}

/** May a response with this status be retried under this policy? */
export function retriableStatus(p: RetryPolicy, status: number): boolean {
  const on = p.retry_on;
  if (status >= 500 && on.includes('5xx')) return true;
  if (status >= 502 && status <= 504 && on.includes('gateway-error')) return true;
  return on.includes('retriable-status-codes') && p.retriable_status_codes.includes(status);
}

/** Envoy's jittered exponential backoff: uniform in [0, base * 2^(n-1)], capped at max. */
export function backoffMs(p: RetryPolicy, retryNumber: number): number {
  const ceiling = Math.min(p.max_interval_ms, p.base_interval_ms * 2 ** (retryNumber - 1));
  return Math.random() * ceiling;
}
