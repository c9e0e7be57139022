// envoy.filters.http.api_key_auth: credentials (key -> client), key_sources (header, query, cookie),
// per-route ApiKeyAuthPerRoute (allowed_clients, override credentials).
// TODO(envoy-compat): map onto pillion's API-key auth once issue 3 lands in src/config/validate.ts.
import { notCarried } from '../extensions.js';

export const apiKeyAuth = notCarried(
  'envoy.filters.http.api_key_auth',
  ['envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth', 'envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute'],
  'pillion has no API-key authentication yet (issue 3): requests would pass unauthenticated',
  true,
);
