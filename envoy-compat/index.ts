// envoy-compat's entry points: translate an Envoy v3 bootstrap file into pillion's config, then
// validate it with pillion's own validator (src/config/validate.ts), naming the Envoy field and line
// when the result is refused.
import { validateConfig, ConfigError, type Path } from '../src/config/validate.js';
import type { Config } from '../src/config/types.js';
import { translateBootstrap, type Translation } from './bootstrap.js';
import type { TranslateOptions } from './context.js';
import { EnvoyCompatError, readDoc, type Finding } from './source.js';

export type { Finding, Report } from './source.js';
export { EnvoyCompatError } from './source.js';
export type { RawConfig, TranslateOptions } from './context.js';

export interface EnvoyLoad extends Translation {
  /** The validated pillion config. */
  validated: Config;
}

export function translateFile(file: string, options: TranslateOptions = {}): Translation {
  return translateBootstrap(readDoc(file, options.readFile), options);
}

/** Translates and validates. Throws EnvoyCompatError (a ConfigError) naming the Envoy field. */
export function loadEnvoyConfig(file: string, options: TranslateOptions = {}, edit?: (raw: unknown) => void): EnvoyLoad {
  const t = translateFile(file, options);
  const raw = structuredClone(t.config);
  edit?.(raw);
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
