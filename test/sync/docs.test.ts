// docs/sync.md must not drift from the code: its Kubernetes examples are the files in deploy/sync/
// (linked, not copied), and every config-sync / file-sync invocation in them and in the shell
// examples uses only real flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
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

test('the Kubernetes examples are the files in deploy/sync/ (linked, not copied), and their sync containers use real flags', () => {
  // one source of truth: docs/sync.md links the manifests in deploy/sync/ (validated by
  // test/deploy/manifests.test.ts) instead of carrying copies that could drift from them
  for (const text of blocks('yaml')) assert.doesNotMatch(text, /^apiVersion:/m, 'no Kubernetes manifest copied into docs/sync.md');
  const files = [...new Set(DOC.match(/deploy\/sync\/[\w.-]+\.yaml/g) ?? [])];
  for (const f of ['config-sync-http.yaml', 'config-sync-configmap.yaml', 'file-sync-backup.yaml']) {
    assert.ok(files.includes(`deploy/sync/${f}`), `docs/sync.md links deploy/sync/${f}`);
  }
  for (const link of DOC.match(/\]\(\.\.\/deploy\/[^)]*\)/g) ?? []) {
    assert.ok(existsSync(fileURLToPath(new URL(`../../../docs/${link.slice(2, -1)}`, import.meta.url))), `${link} exists`);
  }
  let containers = 0;
  for (const f of files) {
    const text = readFileSync(fileURLToPath(new URL(`../../../${f}`, import.meta.url)), 'utf8');
    for (const d of parseAllDocuments(text)) {
      assert.deepEqual(d.errors, [], f);
      const spec = (d.toJS() as { spec?: { template?: { spec?: unknown } } } | null)?.spec;
      const pod = (spec?.template?.spec ?? spec ?? {}) as { initContainers?: Array<{ args?: string[] }>; containers?: Array<{ args?: string[] }> };
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        if (c.args !== undefined && (c.args[0] === 'config-sync' || c.args[0] === 'file-sync')) {
          checkArgs(c.args.map(String), f);
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
