// The gate between the source and the destination: content that fails here is refused and the
// last good file stays where it is. Parsing catches a truncated or garbled download; the optional
// JSON Schema catches a well-formed but wrong config (a missing listener, a port as a string).
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';

export type ConfigFormat = 'json' | 'yaml' | 'raw';

export type Verdict = { ok: true } | { ok: false; reason: string };

export type Validator = (body: Buffer) => Verdict;

/**
 * The parser's message without the quoted input: V8's JSON errors quote a slice of the text, and a
 * config may hold passwords, so logs get the position only. yaml's first line has no content.
 */
function parseErrorText(err: unknown): string {
  const first = (err as Error).message.split('\n')[0] ?? '';
  return first.replace(/, "[^]*" is not valid JSON$/, '').replace(/"[^"]*"/g, '"…"');
}

/** Picks the format from the destination's extension when the user did not say. */
export function formatForPath(path: string): ConfigFormat {
  if (/\.json$/i.test(path)) return 'json';
  if (/\.ya?ml$/i.test(path)) return 'yaml';
  return 'raw';
}

/**
 * Builds the validator once at startup. Throws (a usage error for the caller) when the schema file
 * cannot be read or compiled, because a sidecar running without its safety check is worse than one
 * that refuses to start.
 */
export function createValidator(format: ConfigFormat, schemaPath: string | undefined, allowEmpty: boolean): Validator {
  let check: ((data: unknown) => string | null) | null = null;
  if (schemaPath !== undefined) {
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    // strict: false so schemas written for other validators (unknown keywords such as "example")
    // still compile; allErrors so the log lists every problem at once. The draft follows the
    // schema's own $schema: draft-07 (Ajv's default) unless it names 2019-09 or 2020-12.
    const declared = schema['$schema'];
    const draft = typeof declared === 'string' ? declared : '';
    const AjvClass = draft.includes('2020-12') ? Ajv2020 : draft.includes('2019-09') ? Ajv2019 : Ajv;
    const ajv = new AjvClass({ allErrors: true, strict: false });
    const fn = ajv.compile(schema);
    check = (data) => (fn(data) ? null : ajv.errorsText(fn.errors, { dataVar: 'config' }));
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return (body) => {
    // A zero-byte body is the classic config-centre failure (an empty key, a truncated response);
    // writing it would take the app down, so it needs an explicit opt-in.
    if (body.length === 0 && !allowEmpty) return { ok: false, reason: 'empty config (use --allow-empty to accept)' };
    if (format === 'raw') return { ok: true };
    let text: string;
    try {
      text = decoder.decode(body);
    } catch {
      return { ok: false, reason: 'config is not valid UTF-8' };
    }
    let data: unknown;
    try {
      data = format === 'json' ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      return { ok: false, reason: `not valid ${format}: ${parseErrorText(err)}` };
    }
    if (check !== null) {
      const problems = check(data);
      if (problems !== null) return { ok: false, reason: `schema check failed: ${problems}` };
    }
    return { ok: true };
  };
}
