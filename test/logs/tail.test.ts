// Tailing real files: appends at a high rate while files rotate by rename and by copytruncate, deletes,
// truncate-and-rewrite, long lines, multiline, --read-from and a restart from the checkpoint.
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, mkdirSync, copyFileSync, ftruncateSync, openSync, readdirSync, readlinkSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CaptureSink, checkSequences, startCollector, tempDir, waitFor } from './helpers.js';

const PAD = 'x'.repeat(40);

interface WriterOpts {
  n: number;
  rotateEvery: number;
  mode: 'rename' | 'copytruncate' | 'none';
  /** copytruncate: resolves once the collector has read everything written so far. */
  catchUp?: (written: number) => Promise<void>;
}

/**
 * Writes `<name>.<file> <seq> <pad>` lines 200 at a time, rotating as told; each file generation has its
 * own sequence, because the order promised is per file (files are read round-robin). Returns the line
 * count per generation.
 */
async function writer(path: string, name: string, o: WriterOpts): Promise<Map<string, number>> {
  let fd = openSync(path, 'a');
  const counts = new Map<string, number>();
  let gen = 0;
  let seqInGen = 0;
  let since = 0;
  const line = (): string => {
    counts.set(`${name}.${gen}`, seqInGen + 1);
    return `${name}.${gen} ${seqInGen++} ${PAD}\n`;
  };
  for (let i = 0; i < o.n; ) {
    let s = '';
    for (let k = 0; k < 200 && i < o.n; k++, i++, since++) s += line();
    writeSync(fd, s);
    if (o.mode !== 'none' && since >= o.rotateEvery && i < o.n) {
      since = 0;
      if (o.mode === 'rename') {
        renameSync(path, `${path}.${gen + 1}`);
        // Like a real app, keep writing to the renamed file for a moment before reopening.
        let t = '';
        for (let k = 0; k < 50 && i < o.n; k++, i++) t += line();
        writeSync(fd, t);
        closeSync(fd);
        fd = openSync(path, 'a');
      } else {
        await o.catchUp!(i);
        copyFileSync(path, `${path}.${gen + 1}`);
        ftruncateSync(fd, 0); // O_APPEND: the next write lands at offset 0
      }
      gen++;
      seqInGen = 0;
    }
    // ~100k lines/s per writer; a file lives at least ~30 ms, long enough to be noticed (a file created
    // and renamed away before the collector ever saw it cannot be followed by anyone).
    await new Promise((r) => setTimeout(r, 2));
  }
  closeSync(fd);
  return counts;
}

const tmp = tempDir('tail');
after(tmp.cleanup);
let seq = 0;
const fresh = (): { dir: string; state: string } => {
  const dir = join(tmp.dir, `case${++seq}`);
  return { dir, state: join(dir, 'state') };
};
const mk = (d: string): void => { writeFileSync(join(d, '.keep'), ''); };

describe('tailing files', { timeout: 60_000 }, () => {
  it('two writers at a high rate, rotating by rename six times each: every line once, in order', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    mk(dir);
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--path', join(dir, '*.log'), '--batch-max-records', '2000'], sink);
    try {
      const N = 20_000;
      const gens = await Promise.all([
        writer(join(dir, 'a.log'), 'a', { n: N, rotateEvery: 3000, mode: 'rename' }),
        writer(join(dir, 'b.log'), 'b', { n: N, rotateEvery: 3000, mode: 'rename' }),
      ]);
      const counts = new Map([...gens[0]!, ...gens[1]!]);
      assert.equal(counts.size, 14); // six rotations each
      await waitFor('40000 lines', () => sink.records.length >= 2 * N, 20_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${sink.records.length} lines; ${checkSequences(sink.messages(), [...counts.keys()], counts)}; ${JSON.stringify(c.stats)}`);
      });
      await new Promise((r) => setTimeout(r, 300)); // no late duplicates either
      assert.equal(checkSequences(sink.messages(), [...counts.keys()], counts), null);
      assert.equal(c.stats.rotationsRename, 12);
      assert.equal(c.stats.skippedBytesRotateWait + c.stats.skippedBytesVanished, 0);
      // Rotated files are let go once read to their end and quiet.
      await waitFor('rotated files released', () => c.gauges().filesTracked === 2, 10_000);
      assert.equal(c.gauges().lagBytes, 0);
    } finally {
      await c.stop();
    }
  });

  it('copytruncate five times, and a truncated file rewritten past its old size before we look', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--path', join(dir, '*.log')], sink);
    try {
      const N = 12_000;
      // copytruncate loses what is written between the copy and the truncate unless the reader is
      // caught up (logrotate documents this); the writer here waits for that, as the test's premise.
      const counts = await writer(join(dir, 'c.log'), 'c', {
        n: N, rotateEvery: 2000, mode: 'copytruncate',
        catchUp: (written) => waitFor(`${written} lines`, () => sink.records.length >= written),
      });
      assert.equal(counts.size, 6); // five truncations
      await waitFor(`${N} lines`, () => sink.records.length >= N);
      assert.equal(checkSequences(sink.messages(), [...counts.keys()], counts), null);
      assert.equal(c.stats.rotationsTruncate, 5);

      // Truncated and written again, longer than before, between two looks: the fingerprint tells.
      const p = join(dir, 'd.log');
      writeFileSync(p, Array.from({ length: 10 }, (_, i) => `old ${i}\n`).join(''));
      await waitFor('10 old lines', () => sink.records.length >= N + 10);
      writeFileSync(p, Array.from({ length: 50 }, (_, i) => `new ${i}\n`).join(''));
      await waitFor('50 new lines', () => sink.records.length >= N + 60);
      assert.deepEqual(sink.messages().slice(N + 10), Array.from({ length: 50 }, (_, i) => `new ${i}`));
      assert.equal(c.stats.rotationsTruncate, 6);
    } finally {
      await c.stop();
    }
  });

  it('a deleted file is read to its end while its writer finishes, then let go (no descriptor left)', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--path', join(dir, '*.log'), '--rotate-wait', '5s'], sink);
    try {
      const p = join(dir, 'gone.log');
      const fd = openSync(p, 'a');
      writeSync(fd, 'g 0\ng 1\n');
      await waitFor('2 lines', () => sink.records.length >= 2);
      unlinkSync(p);
      writeSync(fd, 'g 2\ng 3\n');
      closeSync(fd);
      await waitFor('4 lines', () => sink.records.length >= 4);
      assert.deepEqual(sink.messages(), ['g 0', 'g 1', 'g 2', 'g 3']);
      await waitFor('released', () => c.gauges().filesTracked === 0 && c.gauges().filesOpen === 0, 5000);
      // The close itself is asynchronous: the descriptor goes a moment after the gauge drops.
      const held = (): string[] => readdirSync('/proc/self/fd')
        .map((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } }) // closed meanwhile
        .filter((l) => l.startsWith(p));
      await waitFor('no descriptor on the deleted file', () => held().length === 0, 2000).catch((err: Error) => {
        throw new Error(`${err.message}: ${held().join(' ')}`);
      });
    } finally {
      await c.stop();
    }
  });

  it('a rotated file that cannot be read in time (sink down) is let go after --rotate-wait, bytes counted', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    const sink = new CaptureSink();
    sink.down = true;
    const p = join(dir, 'w.log');
    writeFileSync(p, Array.from({ length: 5000 }, (_, i) => `w ${i} ${PAD}\n`).join(''));
    const c = await startCollector(state, ['--path', join(dir, '*.log'), '--batch-max-records', '100', '--rotate-wait', '500ms'], sink);
    try {
      await waitFor('a failed attempt', () => c.stats.batchesFailed > 0);
      // Reading paused: two batches at most (in flight + prefetched).
      assert.ok(c.stats.linesRead <= 200, `read ${c.stats.linesRead} lines while the sink was down`);
      renameSync(p, `${p}.1`);
      unlinkSync(`${p}.1`);
      await waitFor('rotate wait ran out', () => c.stats.skippedBytesRotateWait > 0, 5000);
      assert.equal(c.gauges().filesOpen, 0);
      sink.down = false;
      await waitFor('the two read batches delivered', () => sink.records.length === 200, 5000);
    } finally {
      await c.stop();
    }
  });

  it('long lines are cut to --max-line-bytes and counted, across read chunks too', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    const p = join(dir, 'long.log');
    writeFileSync(p, `${'a'.repeat(50)}\n${'b'.repeat(250)}\n${'c'.repeat(600_000)}\n${'d'.repeat(30)}\n`);
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--path', p, '--max-line-bytes', '100'], sink);
    try {
      await waitFor('4 records', () => sink.records.length >= 4);
      assert.deepEqual(sink.messages(), ['a'.repeat(50), 'b'.repeat(100), 'c'.repeat(100), 'd'.repeat(30)]);
      assert.equal(c.stats.linesTruncated, 2);
      assert.equal(c.stats.truncatedBytes, 150 + 599_900);
      // A line still being written past the bound is cut too, and its tail skipped when it ends.
      appendFileSync(p, 'e'.repeat(300_000));
      await waitFor('5 records', () => sink.records.length >= 5);
      appendFileSync(p, 'e'.repeat(1000) + '\nf\n');
      await waitFor('6 records', () => sink.records.length >= 6);
      assert.deepEqual(sink.messages().slice(4), ['e'.repeat(100), 'f']);
    } finally {
      await c.stop();
    }
  });

  it('globs with ** and an exclude; a file created later in a new subdirectory is found', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'top.log'), 'top\n');
    writeFileSync(join(dir, 'a', 'b', 'deep.log'), 'deep\n');
    writeFileSync(join(dir, 'a', 'skip.log'), 'skip\n');
    writeFileSync(join(dir, 'a', 'b', 'other.txt'), 'other\n');
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--path', join(dir, '**', '*.log'), '--exclude', join(dir, '**', 'skip.log')], sink);
    try {
      await waitFor('2 lines', () => sink.records.length >= 2);
      mkdirSync(join(dir, 'a', 'c'));
      writeFileSync(join(dir, 'a', 'c', 'new.log'), 'new\n');
      await waitFor('3 lines', () => sink.records.length >= 3);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(sink.messages().sort(), ['deep', 'new', 'top']);
    } finally {
      await c.stop();
    }
  });

  it('multiline: a start regex joins stack traces; the last record is flushed after the timeout', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    const p = join(dir, 'ml.log');
    writeFileSync(p, 'Error: boom\n    at f (a.js:1)\n    at g (b.js:2)\ninfo: next\n  continued\n');
    const sink = new CaptureSink();
    const c = await startCollector(state, ['--path', p, '--multiline-start', '^\\S', '--multiline-timeout', '200ms'], sink);
    try {
      await waitFor('2 records', () => sink.records.length >= 2);
      assert.deepEqual(sink.messages(), ['Error: boom\n    at f (a.js:1)\n    at g (b.js:2)', 'info: next\n  continued']);
    } finally {
      await c.stop();
    }
  });

  it('restart from the checkpoint ships only what is new, a file rotated meanwhile included; --read-from tail', { timeout: 40_000 }, async () => {
    const { dir, state } = fresh();
    await import('node:fs').then((fs) => fs.mkdirSync(dir, { recursive: true }));
    const p = join(dir, 'r.log');
    writeFileSync(p, 'r 0\nr 1\n');
    let sink = new CaptureSink();
    let c = await startCollector(state, ['--path', join(dir, '*.log')], sink);
    await waitFor('2 lines', () => sink.records.length >= 2);
    await c.stop();
    appendFileSync(p, 'r 2\n');
    // Rotated while the collector was down: found again beside its old path by inode.
    renameSync(p, `${p}.1`);
    writeFileSync(p, 'r 3\n');
    writeFileSync(join(dir, 'old.log'), 'o 0\n');
    sink = new CaptureSink();
    c = await startCollector(state, ['--path', join(dir, '*.log')], sink);
    try {
      await waitFor('3 lines', () => sink.records.length >= 3);
      await new Promise((r) => setTimeout(r, 300)); // and nothing more
      assert.deepEqual(sink.messages().sort(), ['o 0', 'r 2', 'r 3']);
    } finally {
      await c.stop();
    }
    // --read-from tail: a file without a checkpoint is read from its end; later files from their start.
    const state2 = join(dir, 'state2');
    sink = new CaptureSink();
    c = await startCollector(state2, ['--path', join(dir, '*.log'), '--read-from', 'tail'], sink);
    try {
      appendFileSync(join(dir, 'old.log'), 'o 1\n');
      writeFileSync(join(dir, 'later.log'), 'l 0\n');
      await waitFor('2 lines', () => sink.records.length >= 2);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(sink.messages().sort(), ['l 0', 'o 1']);
    } finally {
      await c.stop();
    }
  });
});
