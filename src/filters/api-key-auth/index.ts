import type { FilterModule } from '../../chain/registry.js';
import { parseApiKeyAuth, type ApiKeyAuthConfig } from './config.js';
import { ApiKeyAuthFilter } from './filter.js';

const c = (stat: string, help: string) => ({ stat, type: 'counter' as const, help });

export const apiKeyAuth: FilterModule<ApiKeyAuthConfig> = {
  name: 'api_key_auth',
  statPrefix: 'api_key_auth',
  stats: {
    allowed: c('allowed', 'Requests with a known key of an allowed client'),
    unauthorized: c('unauthorized', 'Requests refused with 401: key missing or unknown'),
    forbidden: c('forbidden', "Requests refused with 403: the key's client is not allowed on the route"),
  },
  sharedSlots: 0,
  parse: parseApiKeyAuth,
  create: (config, env) => new ApiKeyAuthFilter(config, env),
};
