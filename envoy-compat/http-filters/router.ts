// envoy.filters.http.router: pillion's request path is the router, so the filter itself carries
// nothing but suppress_envoy_headers; its other options that change behaviour are reported.
import type { HttpFilterTranslator } from '../extensions.js';

export const router: HttpFilterTranslator = {
  name: 'envoy.filters.http.router',
  types: ['envoy.extensions.filters.http.router.v3.Router'],
  hcm(entry, config, scope) {
    // Envoy adds x-envoy-upstream-service-time, x-envoy-overloaded... unless this is set. pillion's
    // `envoy_headers` is one switch for the process: bootstrap.ts turns it off when every router asks.
    const at = config?.get('suppress_envoy_headers') ?? entry;
    scope.ctx.routers.push({ suppress: config?.bool('suppress_envoy_headers') === true, at });
    if (config === undefined) return;
    config.skip('dynamic_stats'); // per-cluster timing stats: pillion has none to turn off
    config.finish();
  },
  perRoute(config) {
    config.dropSelf('per-route router config: pillion has no equivalent');
  },
};
