// envoy-compat's entry points: translate an Envoy v3 bootstrap file into pillion's config, then
// validate it with pillion's own validator (src/config/validate.ts), naming the Envoy field and line
// when the result is refused.
import { validateConfig, ConfigError, type Path } from '../src/config/validate.js';
import type { Config } from '../src/config/types.js';
import { translateDocs, type Translation } from './bootstrap.js';
import type { TranslateOptions } from './context.js';
import { EnvoyCompatError, readDoc, type Finding } from './source.js';

export type { Finding, Report } from './source.js';
export { EnvoyCompatError } from './source.js';
export type { RawConfig, TranslateOptions } from './context.js';

export interface EnvoyLoad extends Translation {
  /** The validated pillion config. */
  validated: Config;
}

/** Translates a bootstrap, or xDS resource files, or a bootstrap followed by resource files. */
export function translateFiles(files: string[], options: TranslateOptions = {}): Translation {
  return translateDocs(files.map((f) => readDoc(f, options.readFile)), options);
}

/**
 * Translates and validates. Throws EnvoyCompatError (a ConfigError) naming the Envoy field.
 * `edit` changes the raw translation before validation (the proxy's flag overrides).
 */
export function loadEnvoyConfig(files: string | string[], options: TranslateOptions = {}, edit?: (raw: unknown) => void): EnvoyLoad {
  const t = translateFiles(typeof files === 'string' ? [files] : files, options);
  const raw = structuredClone(t.config) as { listeners: unknown[] };
  edit?.(raw);
  // Resource files with clusters only (`check` on a CDS file): validate the clusters under a stand-in listener.
  if (raw.listeners.length === 0 && options.allowNoListener) {
    raw.listeners = [{ name: '(none)', port: 0, routes: [{ direct_response: { status: 404 } }] }];
  }
  let validated: Config;
  try {
    // The locator is never asked for pillion's own lines: errors are re-pointed below.
    validated = validateConfig(raw, () => undefined);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw envoyError(err, t);
  }
  return { ...t, validated };
}

/** A pillion validation error, re-pointed at the Envoy field the pillion field came from. */
function envoyError(err: ConfigError, t: Translation): EnvoyCompatError {
  const path = parseField(err.field);
  const from = t.ctx.originOf(path);
  if (from === undefined) return new EnvoyCompatError(`(pillion ${err.field})`, err.reason);
  return new EnvoyCompatError(`${from.where} (pillion ${err.field})`, err.reason, from.doc.file, from.line());
}

function parseField(field: string): Path {
  const path: Path = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) path.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return path;
}

/** One line per finding: `file:line: path: reason`. */
export function formatFinding(f: Finding): string {
  const at = f.file !== undefined ? `${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ` : f.line !== undefined ? `line ${f.line}: ` : '';
  return `${at}${f.path}: ${f.reason}${f.unsafe ? ' [unsafe]' : ''}`;
}
