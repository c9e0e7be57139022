// envoy.filters.http.router: pillion's request path is the router, so the filter itself carries
// nothing; its options that change behaviour are reported.
import type { HttpFilterTranslator } from '../extensions.js';

export const router: HttpFilterTranslator = {
  name: 'envoy.filters.http.router',
  types: ['envoy.extensions.filters.http.router.v3.Router'],
  hcm(_entry, config) {
    if (config === undefined) return;
    // Envoy adds x-envoy-upstream-service-time and friends unless this is set; pillion adds none.
    if (config.bool('suppress_envoy_headers') === true) config.note('suppress_envoy_headers: pillion adds no x-envoy-* response headers anyway');
    config.skip('dynamic_stats'); // per-cluster timing stats: pillion has none to turn off
    config.finish();
  },
  perRoute(config) {
    config.dropSelf('per-route router config: pillion has no equivalent');
  },
};
