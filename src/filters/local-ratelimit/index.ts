import type { FilterModule } from '../../chain/registry.js';
import { SharedTokenBucket } from '../common/token-bucket.js';
import { parseLocalRateLimit, type LocalRateLimitConfig } from './config.js';
import { LocalRateLimitFilter } from './filter.js';

const c = (stat: string, help: string) => ({ stat, type: 'counter' as const, help });

/** Envoy's stat names: `http.<listener>.http_local_rate_limit.{enabled,ok,rate_limited,enforced}`. */
export const localRateLimit: FilterModule<LocalRateLimitConfig> = {
  name: 'local_ratelimit',
  statPrefix: 'http_local_rate_limit',
  stats: {
    enabled: c('enabled', 'Requests the rate limiter looked at'),
    ok: c('ok', 'Requests under the limit'),
    rateLimited: c('rate_limited', 'Requests over the limit (refused or, in shadow mode, only counted)'),
    enforced: c('enforced', 'Requests refused with 429'),
  },
  sharedSlots: 2,
  parse: parseLocalRateLimit,
  initShared: (config, shared, slot) => {
    if (config.bucket !== null) SharedTokenBucket.init(shared, slot, config.bucket);
  },
  create: (config, env) => new LocalRateLimitFilter(config, env),
};
