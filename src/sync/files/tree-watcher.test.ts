import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TreeWatcher } from './tree-watcher.js';

async function eventually(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('watches exactly the directories it is given, one watch each', async () => {
  const root = await mkdtemp(join(tmpdir(), 'pillion-tw-'));
  await mkdir(join(root, 'a'));
  await mkdir(join(root, 'skipped'));
  let changes = 0;
  const errors: string[] = [];
  const w = new TreeWatcher(root, () => { changes++; }, (dir, err) => { errors.push(`${dir}: ${String(err)}`); });
  try {
    w.reconcile(['', 'a']);
    assert.equal(w.watchedCount, 2);
    await writeFile(join(root, 'a', 'f.txt'), '1');
    await eventually(() => changes > 0);
    const before = changes;
    await writeFile(join(root, 'skipped', 'g.txt'), '1');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(changes, before, 'an unlisted directory is not watched');
    await rm(join(root, 'a'), { recursive: true });
    w.reconcile(['']);
    assert.equal(w.watchedCount, 1);
    assert.deepEqual(errors, []);
  } finally {
    w.close();
  }
});

test('over the directory cap: reported once, the rest left to the rescan', async () => {
  const root = await mkdtemp(join(tmpdir(), 'pillion-tw-'));
  for (const d of ['a', 'b', 'c']) await mkdir(join(root, d));
  const errors: string[] = [];
  const w = new TreeWatcher(root, () => undefined, (dir) => { errors.push(dir); }, 2);
  try {
    w.reconcile(['', 'a', 'b', 'c']);
    w.reconcile(['', 'a', 'b', 'c']);
    assert.equal(w.watchedCount, 2);
    assert.equal(errors.length, 1);
  } finally {
    w.close();
  }
});
