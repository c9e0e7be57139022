// file-sync rounds on real trees: exactly the changed files, hashes only when needed, the settle
// rule against files being written, deletion propagation and its guards, the manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from '../../src/sync/common/metrics.js';
import { copyFileAtomic } from '../../src/sync/files/copy-file.js';
import { FileSync } from '../../src/sync/files/file-sync.js';
import { PathFilter } from '../../src/sync/files/glob.js';
import type { Manifest } from '../../src/sync/files/manifest.js';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { captureLogger, promtoolCheck, tempDir, waitFor } from './helpers.js';

const READER = fileURLToPath(new URL('./reader.js', import.meta.url));

async function setup(opts: { includes?: string[]; excludes?: string[]; del?: boolean; settleMs?: number } = {}) {
  const dir = await tempDir('fs');
  const source = join(dir, 'src');
  const dest = join(dir, 'dst');
  await mkdir(source);
  await mkdir(dest);
  const registry = new Registry();
  const { log, lines } = captureLogger('file-sync');
  const manifestPath = join(dest, '.pillion-sync-manifest.json');
  const sync = new FileSync({
    source, dest, manifestPath, filter: new PathFilter(opts.includes ?? [], opts.excludes ?? []),
    deletePropagation: opts.del ?? false, settleMs: opts.settleMs ?? 30, log, registry,
  });
  return { dir, source, dest, sync, registry, lines, manifestPath };
}

/** Writes a file with an mtime in the past, so it is "settled" and rounds need not wait. */
async function put(root: string, rel: string, content: string, ageMs = 60_000): Promise<void> {
  const p = join(root, rel);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, content);
  const t = new Date(Date.now() - ageMs);
  await utimes(p, t, t);
}

async function listTree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listTree(root, r)));
    else out.push(r);
  }
  return out.sort();
}

function metric(registry: Registry, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(registry.render());
  return m === null ? NaN : Number(m[1]);
}

test('copies exactly the new and changed files; hashes only when size+mtime cannot decide', async () => {
  const { source, dest, sync, registry, manifestPath } = await setup();
  for (let i = 0; i < 20; i++) await put(source, `d${i % 3}/f${i}.txt`, `content ${i}`);
  const r1 = await sync.syncOnce();
  assert.equal(r1.copied.length, 20);
  const r2 = await sync.syncOnce();
  assert.deepEqual([r2.copied, r2.unchanged, r2.hashed], [[], 20, 0]);

  await put(source, 'd1/f1.txt', 'content 1 grew', 30_000);           // size changed
  await put(source, 'd2/f2.txt', 'CONTENT 2', 30_000);                // same size, new bytes, new mtime
  await put(source, 'd0/f3.txt', 'content 3', 30_000);                // same bytes, new mtime (a touch)
  await put(source, 'new/deep/n.txt', 'new file', 30_000);            // new
  const r3 = await sync.syncOnce();
  assert.deepEqual(r3.copied.sort(), ['d1/f1.txt', 'd2/f2.txt', 'new/deep/n.txt']);
  assert.equal(r3.hashed, 2, 'the same-size files were hashed; the size change was not');
  assert.equal(r3.unchanged, 18);
  assert.equal(await readFile(join(dest, 'd2/f2.txt'), 'utf8'), 'CONTENT 2');
  // utimes takes milliseconds, stat reports nanoseconds: equal within a millisecond.
  const [dm, sm] = [(await stat(join(dest, 'd0/f3.txt'))).mtimeMs, (await stat(join(source, 'd0/f3.txt'))).mtimeMs];
  assert.ok(Math.abs(dm - sm) < 1, `the touch carried the mtime: dest ${dm} source ${sm}`);

  const r4 = await sync.syncOnce();
  assert.deepEqual([r4.copied, r4.hashed], [[], 0], 'the touched file is settled after one hash');
  assert.equal(metric(registry, 'pillion_file_sync_files_copied_total'), 23);
  assert.equal(metric(registry, 'pillion_file_sync_files_hashed_total'), 2);

  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  assert.equal(Object.keys(manifest.files).length, 21);
  const e = manifest.files['d2/f2.txt']!;
  assert.equal(e.sha256, createHash('sha256').update('CONTENT 2').digest('hex'));
  assert.equal(e.size, 9);
  assert.deepEqual(await listTree(dest), [...(await listTree(source)), '.pillion-sync-manifest.json'].sort());
  const lint = promtoolCheck(registry.render());
  if (lint !== null) assert.ok(lint.ok, lint.output);
});

test('a destination edited behind our back is detected and repaired; equal files are adopted, not copied', async () => {
  const { source, dest, sync } = await setup();
  await put(source, 'a.txt', 'aaaa');
  await put(source, 'b.txt', 'bbbb');
  await put(dest, 'a.txt', 'aaaa', 5_000); // already there, other mtime: adopt after hashing
  const r1 = await sync.syncOnce();
  assert.deepEqual([r1.copied, r1.adopted], [['b.txt'], ['a.txt']]);
  await writeFile(join(dest, 'b.txt'), 'XXXX');
  const r2 = await sync.syncOnce();
  assert.deepEqual(r2.copied, ['b.txt']);
  assert.equal(await readFile(join(dest, 'b.txt'), 'utf8'), 'bbbb');
});

test('include/exclude globs', async () => {
  const { source, dest, sync } = await setup({ includes: ['*.db', 'conf/**'], excludes: ['cache/**', '*.tmp'] });
  for (const f of ['a.db', 'x/b.db', 'cache/c.db', 'conf/app.yaml', 'conf/x.tmp', 'notes.txt']) await put(source, f, f);
  await sync.syncOnce();
  assert.deepEqual(await listTree(dest), ['.pillion-sync-manifest.json', 'a.db', 'conf/app.yaml', 'x/b.db']);
});

test('deletion propagation: only our copies, only with --delete, never from an empty source', async () => {
  const plain = await setup();
  await put(plain.source, 'a.txt', 'a');
  await plain.sync.syncOnce();
  await rm(join(plain.source, 'a.txt'));
  await put(plain.source, 'keep.txt', 'k');
  await plain.sync.syncOnce();
  assert.ok((await listTree(plain.dest)).includes('a.txt'), 'without --delete nothing is deleted');

  const { source, dest, sync, registry, lines } = await setup({ del: true });
  await put(source, 'a.txt', 'a');
  await put(source, 'sub/deeper/b.txt', 'b');
  await put(source, 'c.txt', 'c');
  await put(dest, 'foreign.txt', 'not ours');
  await sync.syncOnce();
  await rm(join(source, 'sub'), { recursive: true });
  await rm(join(source, 'a.txt'));
  const r = await sync.syncOnce();
  assert.deepEqual(r.deleted.sort(), ['a.txt', 'sub/deeper/b.txt']);
  assert.deepEqual(await listTree(dest), ['.pillion-sync-manifest.json', 'c.txt', 'foreign.txt'], 'empty dirs removed, foreign file kept');

  await rm(join(source, 'c.txt'));
  const r2 = await sync.syncOnce();
  assert.deepEqual(r2.deleted, [], 'an empty source looks like an unmounted volume');
  assert.ok((await listTree(dest)).includes('c.txt'));
  assert.equal(metric(registry, 'pillion_file_sync_deletions_refused_total'), 1);
  assert.ok(lines.some((l) => l.includes(' warn file-sync: source has no files')));

  await rm(source, { recursive: true });
  await assert.rejects(sync.syncOnce(), { code: 'ENOENT' }, 'a missing source root fails the round, deletes nothing');
  assert.ok((await listTree(dest)).includes('c.txt'));
});

test('a file still being written is not copied; it is copied whole once the writer stops', async () => {
  const { source, dest, sync, registry } = await setup({ settleMs: 400 });
  await put(source, 'steady.txt', 'steady');
  const growing = join(source, 'growing.log');
  await writeFile(growing, '');
  // A separate process appends every 5 ms for 1.2 s, as an app writing its data file would.
  const writer = spawn(process.execPath, ['-e', `
    const fs = require('fs'); const end = Date.now() + 1200; let i = 0;
    const t = setInterval(() => { fs.appendFileSync(${JSON.stringify(growing)}, 'line ' + (i++) + '\\n'); if (Date.now() > end) { clearInterval(t); process.exit(0); } }, 5);
  `], { stdio: 'inherit' });
  let writing = true;
  const writerDone = new Promise<void>((r) => writer.on('exit', () => { writing = false; r(); }));
  // Rounds start once the writer is writing (node can take a second to start on a loaded machine;
  // until then the empty file is not "being written" and copying it would be right).
  await waitFor('the writer\'s first line', async () => (await stat(growing)).size > 0 || !writing);
  let rounds = 0;
  const copiedSizes: number[] = [];
  const collect = async (): Promise<void> => {
    const r = await sync.syncOnce();
    rounds++;
    if (r.copied.includes('growing.log')) copiedSizes.push((await stat(join(dest, 'growing.log'))).size);
  };
  while (writing) await collect();
  await writerDone;
  await collect();
  const finalSize = (await stat(growing)).size;
  // Every copy ever made is of the finished file: no intermediate state was copied. (A round that
  // began while the writer was finishing may be the one that copies it: that copy is also whole.)
  assert.deepEqual(copiedSizes, [finalSize], `rounds ${rounds}`);
  assert.ok(rounds >= 3, `rounds ${rounds}`);
  assert.ok(metric(registry, 'pillion_file_sync_files_unstable_total') >= 2);
  assert.equal(await readFile(join(dest, 'steady.txt'), 'utf8'), 'steady');
  assert.ok((await readFile(growing)).equals(await readFile(join(dest, 'growing.log'))));
});

test('a source that changes during the copy is thrown away (no torn copy, no temp left)', async () => {
  const dir = await tempDir('fs-race');
  const src = join(dir, 'big.bin');
  const dst = join(dir, 'out', 'big.bin');
  await writeFile(src, Buffer.alloc(64 << 20, 7));
  const st = await stat(src);
  const expected = { size: st.size, mtimeMs: st.mtimeMs, mode: st.mode };
  const copying = copyFileAtomic(src, dst, expected);
  await new Promise((r) => setTimeout(r, 5));
  await writeFile(src, 'x', { flag: 'a' });
  const r = await copying;
  assert.equal(r.kind, 'unstable');
  assert.deepEqual(await readdir(join(dir, 'out')), []);
  const again = await stat(src);
  const r2 = await copyFileAtomic(src, dst, { size: again.size, mtimeMs: again.mtimeMs, mode: again.mode });
  assert.equal(r2.kind, 'copied');
  assert.deepEqual(await readdir(join(dir, 'out')), ['big.bin']);
});

test('symlinks and FIFOs in the source are skipped and counted; a corrupt manifest is replaced', async () => {
  const { source, dest, sync, registry, lines, manifestPath } = await setup();
  await put(source, 'a.txt', 'a');
  await import('node:fs/promises').then((f) => f.symlink('a.txt', join(source, 'link')));
  spawn('mkfifo', [join(source, 'fifo')]);
  await new Promise((r) => setTimeout(r, 100));
  await writeFile(manifestPath, '{not json');
  const r = await sync.syncOnce();
  assert.deepEqual(r.copied, ['a.txt']);
  assert.deepEqual(await listTree(dest), ['.pillion-sync-manifest.json', 'a.txt']);
  assert.equal(metric(registry, 'pillion_file_sync_skipped_total{kind="symlink"}'), 1);
  assert.equal(metric(registry, 'pillion_file_sync_manifest_problems_total'), 1);
  assert.ok(lines.some((l) => l.includes(' warn file-sync: manifest unusable')));
});

test('a reader of a destination file never sees a partial copy during 150 rounds', async (t) => {
  // settle 0: every version is copied at once (this test is about the copy, not the settle rule).
  const { source, dest, sync } = await setup({ settleMs: 0 });
  const doc = (v: number): string => JSON.stringify({ version: v, items: new Array(50_000).fill(v) });
  await writeFile(join(source, 'state.json'), doc(0));
  await sync.syncOnce();
  const target = join(dest, 'state.json');
  const reader = spawn(process.execPath, [READER, target], { stdio: 'inherit' });
  const exited = new Promise<void>((r) => reader.on('exit', () => r()));
  for (let v = 1; v <= 150; v++) {
    await writeFile(join(source, 'state.json'), doc(v));
    const r = await sync.syncOnce();
    assert.deepEqual(r.copied, ['state.json']);
  }
  writeFileSync(`${target}.stop`, '');
  await exited;
  const result = JSON.parse(await readFile(`${target}.result`, 'utf8')) as { reads: number; bad: number; versions: number; firstBad: string };
  t.diagnostic(`file-sync reader: ${JSON.stringify(result)}`);
  assert.equal(result.bad, 0, result.firstBad);
  assert.ok(result.versions > 1);
});
