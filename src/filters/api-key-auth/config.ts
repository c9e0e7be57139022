// api_key_auth config: keys from the file itself, from a key file, or from env vars; each key belongs
// to a named client. Keys are hashed here, in the main thread, when the config loads: the data planes
// (and /config_dump) only ever hold SHA-256 digests.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Checker, Path } from '../../config/validate.js';

export interface ApiKeyAuthConfig {
  /** Request header holding the key (lowercase). */
  header: string;
  /** Query parameter holding the key, when keys may come that way. */
  query_param: string | null;
  /** Base64 SHA-256 of each key -> its client. */
  key_sha256: Record<string, string>;
  /** Clients allowed here; null: every known client. */
  allow: string[] | null;
  /** Remove the credential before forwarding (default true). */
  hide_credentials: boolean;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('base64');
}

export function parseApiKeyAuth(c: Checker, raw: Record<string, unknown>, path: Path): ApiKeyAuthConfig {
  const o = c.object(raw, path, ['header', 'query_param', 'keys', 'keys_file', 'keys_env', 'allow', 'hide_credentials']);
  const hashes: Record<string, string> = {};
  const add = (client: string, key: string, where: Path) => {
    if (key.length < 8) c.fail(where, 'an API key must have at least 8 characters');
    hashes[hashKey(key)] = client;
  };
  if (o.keys !== undefined) {
    c.array(o.keys, [...path, 'keys']).forEach((k, i) => {
      const p = [...path, 'keys', i];
      const ko = c.object(k, p, ['client', 'key']);
      add(c.string(ko.client, [...p, 'client']), c.string(ko.key, [...p, 'key']), p);
    });
  }
  if (o.keys_file !== undefined) {
    const p = [...path, 'keys_file'];
    const file = c.string(o.keys_file, p);
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      c.fail(p, `cannot read: ${(err as Error).message}`);
    }
    // One `client:key` per line; blank lines and # comments ignored.
    text.split('\n').forEach((line, n) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      const i = t.indexOf(':');
      if (i <= 0) c.fail(p, `${file} line ${n + 1}: expected client:key`);
      add(t.slice(0, i).trim(), t.slice(i + 1).trim(), p);
    });
  }
  if (o.keys_env !== undefined) {
    const env = c.object(o.keys_env, [...path, 'keys_env'], Object.keys(o.keys_env ?? {}));
    for (const [client, v] of Object.entries(env)) {
      const p = [...path, 'keys_env', client];
      const name = c.string(v, p);
      const key = process.env[name];
      if (key === undefined || key === '') c.fail(p, `environment variable ${name} is not set`);
      add(client, key, p);
    }
  }
  if (Object.keys(hashes).length === 0) c.fail(path, 'needs at least one key (keys, keys_file or keys_env)');
  const header = c.string(o.header, [...path, 'header'], 'x-api-key').toLowerCase();
  return {
    header,
    query_param: o.query_param === undefined ? null : c.string(o.query_param, [...path, 'query_param']),
    key_sha256: hashes,
    allow: o.allow === undefined ? null : c.stringList(o.allow, [...path, 'allow']),
    hide_credentials: c.bool(o.hide_credentials, [...path, 'hide_credentials'], true),
  };
}
