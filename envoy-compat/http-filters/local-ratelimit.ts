// envoy.filters.http.local_ratelimit: token buckets, descriptors, enabled/enforced shadow mode.
// TODO(envoy-compat): map onto pillion's local rate limit once issue 3 lands in src/config/validate.ts:
// token_bucket -> bucket, filter_enabled/filter_enforced -> enabled/enforced percentages (Envoy's
// default is 0%: a bucket without them never enforces), descriptors + the route's rate_limits actions.
import { notCarried } from '../extensions.js';

export const localRatelimit = notCarried(
  'envoy.filters.http.local_ratelimit',
  ['envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit'],
  'pillion has no local rate limit yet (issue 3): requests are not limited',
  false,
);
