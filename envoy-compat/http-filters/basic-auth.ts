// envoy.filters.http.basic_auth: htpasswd users ({SHA} only, as inline_string or inline_bytes).
// pillion's issue 3 plans API keys and JWT, not HTTP basic auth.
import { notCarried } from '../extensions.js';

export const basicAuth = notCarried(
  'envoy.filters.http.basic_auth',
  ['envoy.extensions.filters.http.basic_auth.v3.BasicAuth', 'envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute'],
  'pillion has no HTTP basic authentication: requests would pass unauthenticated',
  true,
);
