// Reads a config file (YAML or JSON; JSON is YAML) keeping each field's line for error messages, and
// applies the CLI's overrides on top. The result is validated once here, never per request.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { Config } from './types.js';
import { ConfigError, validateConfig, type Locator, type Path } from './validate.js';
import { DEFAULT_CONFIG_RAW } from './default.js';
import { loadEnvoyForProxy } from '../../envoy-compat/proxy-load.js';

export interface Overrides {
  listen?: { host: string; port: number };
  /** `--tls-self-signed`: the first listener terminates TLS with a certificate made at start. */
  tlsSelfSigned?: boolean;
  upstream?: string;
  admin?: { host: string; port: number };
  concurrency?: number;
  drainTimeMs?: number;
  drainTimeoutMs?: number;
  /** The file is an Envoy v3 bootstrap (`--envoy-config`): translated by envoy-compat/, then validated. */
  envoyConfig?: { allowUnsupported: boolean };
}

export interface LoadedConfig {
  config: Config;
  /** The raw input, for /config_dump's "what you wrote" view. */
  source: string;
}

/** Parses the text of a config file; syntax errors name the line. */
export function parseConfigText(text: string, file: string): { raw: unknown; locate: Locator } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
    throw new ConfigError('(syntax)', e.message.split('\n')[0]!, file, line);
  }
  const locate: Locator = (path: Path) => {
    const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    if (!isNode(node) || node.range == null) return undefined;
    return lineCounter.linePos(node.range[0]).line;
  };
  return { raw: doc.toJS(), locate };
}

export function loadConfig(file: string | undefined, overrides: Overrides): LoadedConfig {
  let raw: unknown;
  let locate: Locator = () => undefined;
  let source = '(embedded default)';
  if (file !== undefined && overrides.envoyConfig !== undefined) {
    return loadEnvoyForProxy(file, overrides.envoyConfig, (r) => applyOverrides(r, overrides));
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError('(file)', `cannot read: ${(err as Error).message}`, file);
    }
    ({ raw, locate } = parseConfigText(text, file));
    source = file;
  } else {
    raw = structuredClone(DEFAULT_CONFIG_RAW);
  }
  applyOverrides(raw, overrides);
  return { config: validateConfig(raw, locate, file), source };
}

/** Flags win over the file: they rewrite the raw input so that validation covers them too. */
function applyOverrides(raw: unknown, o: Overrides): void {
  if (raw === null || typeof raw !== 'object') return;
  const r = raw as Record<string, any>;
  if (o.admin) r.admin = { ...(r.admin ?? {}), address: o.admin.host, port: o.admin.port };
  if (o.concurrency !== undefined) r.concurrency = o.concurrency;
  if (o.drainTimeMs !== undefined) r.drain_time = `${o.drainTimeMs}ms`;
  if (o.drainTimeoutMs !== undefined) r.drain_timeout = `${o.drainTimeoutMs}ms`;
  const first = Array.isArray(r.listeners) ? r.listeners[0] : undefined;
  if (o.listen && first) {
    first.address = o.listen.host;
    first.port = o.listen.port;
  }
  // Never the default when real certificates are given.
  if (o.tlsSelfSigned && first && (first.tls?.cert === undefined)) first.tls = { ...(first.tls ?? {}), self_signed: true };
  if (o.upstream !== undefined) {
    // The one-route case: the first listener's routes that go to a cluster now go to this upstream.
    const clusters: any[] = Array.isArray(r.clusters) ? r.clusters : (r.clusters = []);
    const name = first?.routes?.find((rt: any) => typeof rt?.cluster === 'string')?.cluster ?? 'upstream';
    const existing = clusters.find((c) => c?.name === name);
    if (existing) existing.endpoints = [o.upstream];
    else clusters.push({ name, endpoints: [o.upstream] });
  }
}
