// Every way a config can be wrong must end in a ConfigError that names an Envoy field, never in a
// TypeError from inside a translator. The real configs in fixtures/ are mutated at random (seeded, so a
// failure reproduces): a value becomes a string, a number, a list, a mapping, null or is removed.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { translateDocs } from './bootstrap.js';
import type { Doc } from './source.js';
import { parseDoc } from './source.js';
import { ConfigError } from '../src/config/validate.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/envoy/', import.meta.url));
const FILES = [
  'front-proxy__envoy.yaml', 'configs__envoy-demo.yaml', 'docs__best_practices__edge.yaml', 'local_ratelimit__envoy.yaml',
  'docs__http_filters__local-rate-limit-with-descriptors.yaml', 'configs__jwt_authn.yaml', 'docs__http_filters__api-key-auth-filter.yaml',
  'tls-sni__envoy.yaml', 'locality-load-balancing__envoy.yaml', 'docs__quick-start__envoy-demo-tls-client-auth.yaml',
  'health-check.clusters.yaml', 'retry.routes.yaml', 'accesslog.listeners.yaml', 'load-balancer.clusters.yaml',
];
const inline = mkdtempSync(join(tmpdir(), 'pillion-envoy-fuzz-'));
after(() => rmSync(inline, { recursive: true, force: true }));

/** A small seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every [container, key] in a JSON value. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([v, i]); slots(x, out); });
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push([v as Record<string, unknown>, k]); slots(x, out); }
  return out;
}

const REPLACEMENTS: unknown[] = ['x', 7, -1, '1.5s', [], [1, 'a'], {}, { a: 1 }, null, true, undefined];

test('mutated real configs fail with a ConfigError naming a field, or translate', () => {
  const random = rng(0x5eed);
  let translated = 0;
  let refused = 0;
  for (const f of FILES) {
    const text = readFileSync(join(FIXTURES, f), 'utf8');
    for (let i = 0; i < 40; i++) {
      const doc: Doc = parseDoc(text, f);
      const all = slots(doc.value);
      const [container, key] = all[Math.floor(random() * all.length)]!;
      const replacement = REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)];
      if (replacement === undefined && !Array.isArray(container)) delete (container as Record<string, unknown>)[key];
      else (container as Record<string | number, unknown>)[key] = structuredClone(replacement);
      try {
        translateDocs([doc], { allowNoListener: true, inlineDir: inline, readFile: () => { throw new Error('no file in this test'); } });
        translated++;
      } catch (err) {
        if (!(err instanceof ConfigError)) {
          assert.fail(`${f}: setting ${String(key)} to ${JSON.stringify(replacement)} threw ${(err as Error).stack}`);
        }
        assert.notEqual(err.field, '', 'the error names a field');
        refused++;
      }
    }
  }
  assert.ok(translated > 0 && refused > 0, `translated ${translated}, refused ${refused}`);
});
