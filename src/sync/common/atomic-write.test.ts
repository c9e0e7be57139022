import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepStaleTemps, writeFileAtomic } from './atomic-write.js';

test('replaces the file, keeps its mode, leaves no temp file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pillion-aw-'));
  const p = join(dir, 'cfg.json');
  await writeFile(p, 'old');
  await chmod(p, 0o600);
  await writeFileAtomic(p, Buffer.from('new'));
  assert.equal(await readFile(p, 'utf8'), 'new');
  assert.equal((await stat(p)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ['cfg.json']);
});

test('a failed write leaves the destination and no temp file behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pillion-aw-'));
  const p = join(dir, 'sub-that-does-not-exist', 'cfg.json');
  await assert.rejects(writeFileAtomic(p, Buffer.from('x')), { code: 'ENOENT' });
  assert.deepEqual(await readdir(dir), []);
});

test('stale temps of a dead writer are swept; a live writer\'s temp is kept', async () => {
  const { spawnSync } = await import('node:child_process');
  const dir = await mkdtemp(join(tmpdir(), 'pillion-aw-'));
  // A pid that certainly exited: a child we ran to completion.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  await writeFile(join(dir, `.cfg.json.pillion-tmp-${dead}-abcd`), 'half');
  await writeFile(join(dir, `.cfg.json.pillion-tmp-${process.pid}-abcd`), 'mine');
  await writeFile(join(dir, 'cfg.json'), 'whole');
  const removed = await sweepStaleTemps(dir);
  assert.equal(removed.length, 1);
  assert.deepEqual((await readdir(dir)).sort(), [`.cfg.json.pillion-tmp-${process.pid}-abcd`, 'cfg.json']);
});
