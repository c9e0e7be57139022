// HTTP filters pillion has no plan for. Each is reported by name; the access-control ones mark the
// config unsafe to run without them.
import { notCarried, type HttpFilterTranslator } from '../extensions.js';

const ext = (short: string, type: string, why: string, unsafe: boolean): HttpFilterTranslator =>
  notCarried(`envoy.filters.http.${short}`, [type], why, unsafe);

export const unsupportedHttpFilters: readonly HttpFilterTranslator[] = [
  ext('ext_authz', 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', 'pillion has no external authorization: requests would pass unchecked', true),
  ext('rbac', 'envoy.extensions.filters.http.rbac.v3.RBAC', 'pillion has no RBAC: requests would pass unchecked', true),
  ext('oauth2', 'envoy.extensions.filters.http.oauth2.v3.OAuth2', 'pillion has no OAuth2 filter: requests would pass unauthenticated', true),
  ext('ext_proc', 'envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor', 'pillion has no external processing', true),
  ext('lua', 'envoy.extensions.filters.http.lua.v3.Lua', 'pillion runs no Lua', false),
  ext('wasm', 'envoy.extensions.filters.http.wasm.v3.Wasm', 'pillion runs no Wasm', false),
  ext('cors', 'envoy.extensions.filters.http.cors.v3.Cors', 'pillion has no CORS filter', false),
  ext('ratelimit', 'envoy.extensions.filters.http.ratelimit.v3.RateLimit', 'pillion has no global (gRPC) rate limit', false),
  ext('fault', 'envoy.extensions.filters.http.fault.v3.HTTPFault', 'pillion has no fault injection', false),
  ext('health_check', 'envoy.extensions.filters.http.health_check.v3.HealthCheck', 'pillion has no health_check filter (its admin has /ready)', false),
  ext('buffer', 'envoy.extensions.filters.http.buffer.v3.Buffer', 'pillion has no buffer filter (routes have max_request_bytes)', false),
  ext('compressor', 'envoy.extensions.filters.http.compressor.v3.Compressor', 'pillion does not compress', false),
  ext('grpc_web', 'envoy.extensions.filters.http.grpc_web.v3.GrpcWeb', 'pillion has no gRPC-Web bridge', false),
  ext('header_to_metadata', 'envoy.extensions.filters.http.header_to_metadata.v3.Config', 'pillion has no dynamic metadata', false),
];
