import type { FilterModule } from '../../chain/registry.js';
import { BASIC_AUTH_STATS } from '../../stats/names.js';
import { parseBasicAuth, type BasicAuthConfig } from './config.js';
import { BasicAuthFilter } from './filter.js';

/** Envoy's stat names: `http.<listener>.basic_auth.{allowed,denied}`. */
export const basicAuth: FilterModule<BasicAuthConfig> = {
  name: 'basic_auth',
  statPrefix: 'basic_auth',
  stats: BASIC_AUTH_STATS,
  sharedSlots: 0,
  parse: parseBasicAuth,
  create: (config, env) => new BasicAuthFilter(config, env),
};
