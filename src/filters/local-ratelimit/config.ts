// local_ratelimit config, after Envoy's filter: a token bucket for the listener (or, in a route's
// override, for the route), optional per-client buckets keyed by a descriptor, shadow mode through
// `enabled`/`enforced` percentages, and the x-ratelimit-* headers.
import type { Checker, Path } from '../../config/validate.js';
import type { BucketConfig } from '../common/token-bucket.js';

export type DescriptorKey =
  | { kind: 'remote_address' }
  | { kind: 'api_key_client' }
  | { kind: 'header'; name: string }
  | { kind: 'jwt_claim'; name: string };

export interface Descriptor {
  key: DescriptorKey;
  /** The key as written, for stats and messages. */
  text: string;
  bucket: BucketConfig;
}

export interface LocalRateLimitConfig {
  /** The shared bucket; null when only descriptors limit. */
  bucket: BucketConfig | null;
  descriptors: Descriptor[];
  /** Distinct clients kept per descriptor (least recently seen evicted first). */
  max_descriptor_entries: number;
  /** Percent of requests the filter looks at (Envoy's filter_enabled). */
  enabled_percent: number;
  /** Percent of limited requests actually refused (Envoy's filter_enforced); the rest only counted. */
  enforced_percent: number;
  /** x-ratelimit-limit/remaining/reset on passing responses too. */
  response_headers: boolean;
}

function bucket(c: Checker, v: unknown, path: Path): BucketConfig {
  const o = c.object(v, path, ['max_tokens', 'tokens_per_fill', 'fill_interval']);
  const max = c.int(o.max_tokens, [...path, 'max_tokens'], -1, 1, 1_000_000_000);
  if (max < 0) c.fail([...path, 'max_tokens'], 'is required');
  const fill = c.duration(o.fill_interval, [...path, 'fill_interval'], -1);
  // Envoy's floor; it also keeps shared-memory fill counters small.
  if (fill < 50) c.fail([...path, 'fill_interval'], fill < 0 ? 'is required' : 'must be at least 50ms');
  return { max_tokens: max, tokens_per_fill: c.int(o.tokens_per_fill, [...path, 'tokens_per_fill'], max, 1, 1_000_000_000), fill_interval_ms: fill };
}

function descriptorKey(c: Checker, v: unknown, path: Path): DescriptorKey {
  const s = c.string(v, path);
  if (s === 'remote_address') return { kind: 'remote_address' };
  if (s === 'api_key_client') return { kind: 'api_key_client' };
  if (s.startsWith('header:') && s.length > 7) return { kind: 'header', name: s.slice(7).toLowerCase() };
  if (s.startsWith('jwt_claim:') && s.length > 10) return { kind: 'jwt_claim', name: s.slice(10) };
  return c.fail(path, "must be remote_address, api_key_client, header:<name> or jwt_claim:<name>");
}

export function parseLocalRateLimit(c: Checker, raw: Record<string, unknown>, path: Path): LocalRateLimitConfig {
  const o = c.object(raw, path, ['token_bucket', 'descriptors', 'max_descriptor_entries', 'enabled', 'enforced', 'response_headers']);
  const descriptors = c.array(o.descriptors ?? [], [...path, 'descriptors']).map((d, i) => {
    const p = [...path, 'descriptors', i];
    const dobj = c.object(d, p, ['key', 'token_bucket']);
    return { key: descriptorKey(c, dobj.key, [...p, 'key']), text: String(dobj.key), bucket: bucket(c, dobj.token_bucket, [...p, 'token_bucket']) };
  });
  const b = o.token_bucket === undefined ? null : bucket(c, o.token_bucket, [...path, 'token_bucket']);
  if (b === null && descriptors.length === 0) c.fail(path, 'needs a token_bucket, descriptors, or both');
  return {
    bucket: b,
    descriptors,
    max_descriptor_entries: c.int(o.max_descriptor_entries, [...path, 'max_descriptor_entries'], 10_000, 1, 10_000_000),
    enabled_percent: c.number(o.enabled, [...path, 'enabled'], 100, 0, 100),
    enforced_percent: c.number(o.enforced, [...path, 'enforced'], 100, 0, 100),
    response_headers: c.bool(o.response_headers, [...path, 'response_headers'], false),
  };
}
