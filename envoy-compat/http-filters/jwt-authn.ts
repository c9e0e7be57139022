// envoy.filters.http.jwt_authn: providers (issuer, audiences, local/remote JWKS, forward,
// claim_to_headers) and rules.
// TODO(envoy-compat): map onto pillion's JWT auth once issue 3 lands in src/config/validate.ts.
import { notCarried } from '../extensions.js';

export const jwtAuthn = notCarried(
  'envoy.filters.http.jwt_authn',
  ['envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', 'envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig'],
  'pillion has no JWT authentication yet (issue 3): requests would pass unauthenticated',
  true,
);
