// The real `pillion file-sync` process: usage errors, /ready + /metrics, on-change mode, and the
// final sync on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { httpGet, promtoolCheck, runCli, statusPort, tempDir, waitFor } from './helpers.js';

async function dirs(): Promise<{ source: string; dest: string }> {
  const dir = await tempDir('fs-cli');
  const source = join(dir, 'src');
  const dest = join(dir, 'dst');
  await mkdir(source);
  return { source, dest };
}

test('bad usage exits 2 and names the flag', async () => {
  const { source, dest } = await dirs();
  for (const [args, flag] of [
    [['file-sync', '--dest', dest], '--source'],
    [['file-sync', '--source', source, '--dest', join(source, 'backup')], '--source'],
    [['file-sync', '--source', source, '--dest', dest, '--mode', 'sometimes'], '--mode'],
    [['file-sync', '--source', source, '--dest', dest, '--settle', 'soon'], '--settle'],
    [['file-sync', '--source', source, '--dest', dest, '--rescan', '1m'], '--rescan'],
  ] as const) {
    const run = runCli([...args]);
    assert.equal(await run.exited, 2, args.join(' '));
    assert.ok(run.stderr().includes(flag), `${args.join(' ')}: ${run.stderr()}`);
  }
});

test('SIGTERM: the final sync copies what was written after the last round, then exit 0', async () => {
  const { source, dest } = await dirs();
  await writeFile(join(source, 'early.txt'), 'early');
  const run = runCli(['file-sync', '--source', source, '--dest', dest, '--interval', '1h', '--settle', '200ms', '--status-addr', '127.0.0.1:0']);
  try {
    const port = await statusPort(run);
    await waitFor('ready', async () => (await httpGet(`http://127.0.0.1:${port}/ready`)).status === 200);
    assert.equal(await readFile(join(dest, 'early.txt'), 'utf8'), 'early');
    const metrics = (await httpGet(`http://127.0.0.1:${port}/metrics`)).body;
    assert.match(metrics, /^pillion_file_sync_files_copied_total 1$/m);
    const lint = promtoolCheck(metrics);
    if (lint !== null) assert.ok(lint.ok, lint.output);
    // Written just before the stop: fresh, so the final round must also wait out the settle time.
    await writeFile(join(source, 'late.txt'), 'late');
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal(await readFile(join(dest, 'late.txt'), 'utf8'), 'late');
    assert.match(run.stderr(), /final sync before exit/);
  } finally {
    run.child.kill('SIGKILL');
  }
});

test('SIGTERM in the middle of a round: that round finishes, then the final one', async () => {
  const { source, dest } = await dirs();
  await writeFile(join(source, 'big.bin'), Buffer.alloc(48 << 20, 1));
  const run = runCli(['file-sync', '--source', source, '--dest', dest, '--interval', '1h', '--settle', '300ms', '--status-addr', 'off']);
  try {
    // The file is fresh, so the first round sits in its 300 ms settle wait when the signal lands.
    await waitFor('handlers in', () => run.stderr().includes('signal handlers installed'));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal((await readFile(join(dest, 'big.bin'))).length, 48 << 20);
    const err = run.stderr();
    const stopAt = err.indexOf('stopping signal=SIGTERM');
    const copiedAt = err.indexOf('round done copied=1');
    assert.ok(stopAt !== -1 && copiedAt > stopAt, `the signal landed before the round finished:\n${err}`);
    assert.ok(err.indexOf('final sync before exit') > copiedAt, err);
  } finally {
    run.child.kill('SIGKILL');
  }
});

test('on-change mode: a new file is copied without waiting for the rescan', async () => {
  const { source, dest } = await dirs();
  const run = runCli(['file-sync', '--source', source, '--dest', dest, '--mode', 'on-change', '--rescan', '1h', '--settle', '50ms', '--status-addr', 'off']);
  try {
    await waitFor('first round', () => run.stderr().includes('first round done'), 10_000);
    await mkdir(join(source, 'sub'));
    await writeFile(join(source, 'sub', 'new.txt'), 'hello');
    await waitFor('copied on change', () => existsSync(join(dest, 'sub', 'new.txt')), 10_000);
    assert.equal(await readFile(join(dest, 'sub', 'new.txt'), 'utf8'), 'hello');
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  } finally {
    run.child.kill('SIGKILL');
  }
});

test('SIGHUP means "sync now", not "die"', async () => {
  const { source, dest } = await dirs();
  const run = runCli(['file-sync', '--source', source, '--dest', dest, '--interval', '1h', '--settle', '10ms', '--status-addr', 'off']);
  try {
    await waitFor('first round', () => run.stderr().includes('first round done'));
    await writeFile(join(source, 'x.txt'), 'x');
    run.child.kill('SIGHUP');
    await waitFor('copied after HUP', () => existsSync(join(dest, 'x.txt')), 10_000);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  } finally {
    run.child.kill('SIGKILL');
  }
});
