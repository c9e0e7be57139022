import type { FilterModule } from '../../chain/registry.js';
import { parseJwtAuthn, type JwtAuthnConfig } from './config.js';
import { JwtAuthnFilter } from './filter.js';

const c = (stat: string, help: string) => ({ stat, type: 'counter' as const, help });

/** Envoy's names where it has them: `http.<listener>.jwt_authn.{allowed,denied,cors_preflight_bypassed,
 *  jwks_fetch_success,jwks_fetch_failed,jwt_cache_hit,jwt_cache_miss}`; pillion adds forbidden, missing and
 *  jwks_refetch_rate_limited. */
export const jwtAuthn: FilterModule<JwtAuthnConfig> = {
  name: 'jwt_authn',
  statPrefix: 'jwt_authn',
  stats: {
    allowed: c('allowed', 'Requests let through: a valid token, or none where allow_missing'),
    denied: c('denied', 'Requests refused with 401 (token missing or invalid) or 403 (a required claim missing)'),
    forbidden: c('forbidden', 'Requests refused with 403: valid token without a required claim (also counted in denied)'),
    missing: c('missing', 'Requests without a token (refused, or let through where allow_missing)'),
    cacheHit: c('jwt_cache_hit', 'Tokens found in the verified-token cache (no signature check)'),
    cacheMiss: c('jwt_cache_miss', 'Requests whose token was not in the cache: checked (or waiting for a check of the same token)'),
    corsBypassed: c('cors_preflight_bypassed', 'CORS preflight requests let through without a token (bypass_cors_preflight)'),
    jwksFetchSuccess: c('jwks_fetch_success', 'JWKS fetched from jwks_uri'),
    jwksFetchFailed: c('jwks_fetch_failed', 'JWKS fetches that failed (the previous keys, if any, stay in use)'),
    jwksRefetchLimited: c('jwks_refetch_rate_limited', 'Unknown-kid refetches skipped because one ran within kid_refetch_interval'),
  },
  sharedSlots: 0,
  parse: parseJwtAuthn,
  create: (config, env) => new JwtAuthnFilter(config, env),
};
