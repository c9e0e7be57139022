// docs/sync.md must not drift from the code: every Kubernetes example parses as YAML, and every
// config-sync / file-sync invocation in it (YAML args and shell lines) uses only real flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseFlags } from '../../src/sync/common/cli-args.js';
import { CONFIG_SYNC_FLAGS } from '../../src/sync/config-sync-main.js';
import { FILE_SYNC_FLAGS } from '../../src/sync/file-sync-main.js';

const DOC = readFileSync(fileURLToPath(new URL('../../../docs/sync.md', import.meta.url)), 'utf8');
const SPECS = { 'config-sync': CONFIG_SYNC_FLAGS, 'file-sync': FILE_SYNC_FLAGS } as const;

function blocks(lang: string): string[] {
  const out: string[] = [];
  const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
  for (let m = re.exec(DOC); m !== null; m = re.exec(DOC)) out.push(m[1] as string);
  return out;
}

function checkArgs(args: string[], where: string): void {
  const mode = args[0] as keyof typeof SPECS;
  assert.ok(mode in SPECS, `${where}: unknown mode ${mode}`);
  assert.doesNotThrow(() => parseFlags(args.slice(1), SPECS[mode]), `${where}: ${args.join(' ')}`);
}

test('every YAML example parses and its sync containers use real flags', () => {
  const yamlBlocks = blocks('yaml');
  assert.ok(yamlBlocks.length >= 3, 'manifests for config-sync (2) and file-sync (1)');
  let containers = 0;
  for (const text of yamlBlocks) {
    for (const d of parseAllDocuments(text)) {
      assert.deepEqual(d.errors, []);
      const spec = (d.toJS() as { spec?: { template?: { spec?: unknown } } }).spec;
      const pod = (spec?.template?.spec ?? spec) as { initContainers?: Array<{ args?: string[] }>; containers?: Array<{ args?: string[] }> };
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        if (c.args !== undefined && (c.args[0] === 'config-sync' || c.args[0] === 'file-sync')) {
          checkArgs(c.args.map(String), 'yaml');
          containers++;
        }
      }
    }
  }
  assert.ok(containers >= 3, `found ${containers} sync containers`);
});

test('every shell example uses real flags', () => {
  let lines = 0;
  for (const text of blocks('sh')) {
    const joined = text.replace(/\\\n\s*/g, ' ');
    for (const line of joined.split('\n')) {
      const m = /^pillion (config-sync|file-sync) (.*)$/.exec(line.trim());
      if (m === null) continue;
      const args = [m[1] as string, ...(m[2] as string).split(/\s+/).map((a) => a.replace(/^'(.*)'$/, '$1'))];
      checkArgs(args, 'sh');
      lines++;
    }
  }
  assert.ok(lines >= 4, `found ${lines} shell examples`);
});
