// At-least-once across a crash: the collector runs as a real `pillion logs` process shipping to an HTTP
// sink that acknowledges three batches, keeps the fourth without answering (a lost ack) and then is
// killed with SIGKILL while a writer keeps appending and rotating. After the restart every line is there,
// and only the unacknowledged batch arrived twice. Then: the sink down for a while, nothing lost.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CaptureSink, checkSequences, startCollector, startHttpSink, tempDir, waitFor } from './helpers.js';
import { createSink } from '../../src/logs/sink.js';
import type { Collector } from '../../src/logs/collector.js';
import { parseFlags } from '../../src/logs/flags.js';

const CLI = new URL('../../src/cli.js', import.meta.url).pathname;
const tmp = tempDir('restart');
after(tmp.cleanup);

function collector(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'logs', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => { if (process.env.PILLION_TEST_VERBOSE) process.stderr.write(d); });
  return child;
}

/** Distinct messages: a replayed line has another read time, so whole NDJSON lines would all differ. */
const distinct = (lines: string[]): number => new Set(lines.map((l) => (JSON.parse(l) as { message: string }).message)).size;

/** Resolves with the exit code, also when the process has already exited (a startup failure). */
const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

/**
 * Appends `g<file> <seq> ...` lines (one sequence per file: the order is per file, as a collector that
 * reads files round-robin promises); `rotate()` renames the file away and reopens, as logrotate + HUP.
 */
/** A directory with one file of `lines` lines, and a collector tailing it into `sink`. */
async function stopCase(name: string, lines: number, sink: CaptureSink, extra: string[]): Promise<{ dir: string; w: Writer; c: Collector }> {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const w = new Writer(join(dir, 's.log'));
  w.write(lines);
  const c = await startCollector(join(dir, 'state'), ['--path', join(dir, '*.log'), ...extra], sink);
  return { dir, w, c };
}

/** The one file's checkpoint is right after the last line the sink acknowledged. */
function assertCheckpointAtEnd(dir: string, sink: CaptureSink): void {
  const saved = JSON.parse(readFileSync(join(dir, 'state', 'checkpoints.json'), 'utf8')) as { files: { offset: number }[] };
  assert.equal(saved.files[0]!.offset, sink.messages().reduce((a, m) => a + m.length + 1, 0));
}

/** Holds the first batch until open(): reading stops at two batches meanwhile. */
class GatedSink extends CaptureSink {
  waiting = false;
  private release: (() => void) | null = null;
  private readonly gate = new Promise<void>((r) => { this.release = r; });
  override async send(batch: Parameters<CaptureSink['send']>[0]): ReturnType<CaptureSink['send']> {
    this.waiting = true;
    await this.gate;
    return super.send(batch);
  }
  open(): void {
    this.release!();
  }
}

class Writer {
  private fd: number;
  seq = 0;
  rotations = 0;
  /** Lines per file generation, `g0`, `g1`, … */
  readonly counts = new Map<string, number>([['g0', 0]]);
  total = 0;
  constructor(private readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(n: number): void {
    let s = '';
    for (let i = 0; i < n; i++) s += `g${this.rotations} ${this.seq++} ${'p'.repeat(30)}\n`;
    writeSync(this.fd, s);
    this.counts.set(`g${this.rotations}`, this.seq);
    this.total += n;
  }
  rotate(): void {
    renameSync(this.path, `${this.path}.${++this.rotations}`);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
    this.seq = 0;
    this.counts.set(`g${this.rotations}`, 0);
  }
  check(msgs: string[]): string | null {
    return checkSequences(msgs, [...this.counts.keys()], this.counts);
  }
  close(): void {
    closeSync(this.fd);
  }
}

describe('restart and sink outages', { timeout: 60_000 }, () => {
  it('SIGKILL with an unacknowledged batch, rotations before and during the outage: nothing lost, one batch twice', { timeout: 40_000 }, async () => {
    const dir = join(tmp.dir, 'kill');
    mkdirSync(dir, { recursive: true });
    const state = join(dir, 'state');
    const http = await startHttpSink();
    http.behave = (n) => (n <= 3 ? 'ok' : 'keep-and-hang');
    const args = ['--path', join(dir, '*.log'), '--sink', `http:${http.url}`, '--no-gzip', '--state-dir', state,
      '--batch-max-records', '500', '--rescan-interval', '100ms', '--metrics-address', 'off'];
    const w = new Writer(join(dir, 'a.log'));
    w.write(2400);
    let child = collector(args);
    try {
      // Rotated once the collector follows it (a file rotated away before it was ever seen is not ours).
      await waitFor('1 request', () => http.requests >= 1);
      w.rotate();
      w.write(1600);
      await waitFor('4 requests', () => http.requests >= 4);
      // The writer keeps going while the sink hangs: the files are the buffer.
      w.write(300);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(http.lines.length, 2000, JSON.stringify(http.perRequest.map((r) => [r.length, r[0]?.slice(-60), r.at(-1)?.slice(-60)])));
      const code = exited(child);
      child.kill('SIGKILL');
      await code;
      const saved = JSON.parse(readFileSync(join(state, 'checkpoints.json'), 'utf8')) as { files: { offset: number }[] };
      // Three batches acknowledged, no more: their bytes are the sum of the offsets of the two files.
      const acked = http.perRequest.slice(0, 3).flat().map((l) => (JSON.parse(l) as { message: string }).message);
      assert.equal(acked.length, 1500);
      assert.equal(saved.files.reduce((a, f) => a + f.offset, 0), acked.reduce((a, m) => a + m.length + 1, 0));
      assert.equal(saved.files.length, 2);
      // While it is down: more lines, and the file it was reading is rotated away once more.
      w.write(1000);
      w.rotate();
      w.write(500);
      http.behave = () => 'ok';
      child = collector(args);
      const total = w.total;
      await waitFor(`${total} distinct lines`, () => distinct(http.lines) >= total, 20_000);
      w.write(100);
      await waitFor('100 more', () => distinct(http.lines) >= total + 100);
      const code2 = exited(child);
      child.kill('SIGTERM');
      assert.equal(await code2, 0);
      const msgs = http.lines.map((l) => (JSON.parse(l) as { message: string }).message);
      const counts = new Map<string, number>();
      for (const m of msgs) counts.set(m, (counts.get(m) ?? 0) + 1);
      const twice = [...counts.values()].filter((n) => n > 1).length;
      // Exactly the batch the sink kept without acknowledging: nothing else was replayed.
      assert.equal(twice, 500, `${twice} lines arrived twice; the unacknowledged batch is 500`);
      assert.ok(Math.max(...counts.values()) <= 2);
      // Every line, and in order once the replayed batch is taken out.
      const firsts: string[] = [];
      const seen = new Set<string>();
      for (const m of msgs) if (!seen.has(m)) { seen.add(m); firsts.push(m); }
      assert.equal(w.check(firsts), null);
    } finally {
      w.close();
      child.kill('SIGKILL');
      await http.close();
    }
  });

  it('a writer that never stops, rotating by rename; the collector SIGKILLed and restarted in the middle', { timeout: 40_000 }, async () => {
    const dir = join(tmp.dir, 'live');
    mkdirSync(dir, { recursive: true });
    const http = await startHttpSink();
    const args = ['--path', join(dir, '*.log'), '--sink', `http:${http.url}`, '--no-gzip', '--state-dir', join(dir, 'state'),
      '--batch-max-records', '500', '--rescan-interval', '100ms', '--metrics-address', 'off'];
    const w = new Writer(join(dir, 'a.log'));
    let child = collector(args);
    let writing = true;
    // 20k lines/s; a rotation every 1.5 s, so the file it renames away was always seen by a running
    // collector (a file created and rotated away while no collector runs is nobody's to read).
    const writerDone = (async () => {
      let ticks = 0;
      while (writing) {
        w.write(200);
        if (++ticks % 150 === 0) w.rotate();
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const code = exited(child);
      child.kill('SIGKILL');
      await code;
      const before = http.lines.length;
      await new Promise((r) => setTimeout(r, 300));
      child = collector(args);
      await new Promise((r) => setTimeout(r, 2500));
      writing = false;
      await writerDone;
      await waitFor(`${w.total} distinct lines`, () => distinct(http.lines) >= w.total, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      const msgs = http.lines.map((l) => (JSON.parse(l) as { message: string }).message);
      const counts = new Map<string, number>();
      for (const m of msgs) counts.set(m, (counts.get(m) ?? 0) + 1);
      const twice = [...counts.values()].filter((n) => n > 1).length;
      assert.ok(before > 0 && w.rotations >= 2, `shipped ${before} before the kill, ${w.rotations} rotations`);
      assert.ok(twice <= 500, `${twice} lines twice; the batch in flight at the kill is at most 500`);
      assert.ok(Math.max(...counts.values()) <= 2);
      const firsts: string[] = [];
      const seen = new Set<string>();
      for (const m of msgs) if (!seen.has(m)) { seen.add(m); firsts.push(m); }
      assert.equal(w.check(firsts), null);
    } finally {
      writing = false;
      await writerDone;
      w.close();
      if (child.exitCode === null && child.signalCode === null) {
        const code = exited(child);
        child.kill('SIGTERM');
        await code;
      }
      await http.close();
    }
  });

  it('HTTP sink down for a while under a writer that rotates: reading pauses, then every line exactly once', { timeout: 40_000 }, async () => {
    const dir = join(tmp.dir, 'down');
    mkdirSync(dir, { recursive: true });
    const http = await startHttpSink();
    let down = true;
    http.behave = () => (down ? 'fail' : 'ok');
    const state = join(dir, 'state');
    const args = ['--path', join(dir, '*.log'), '--sink', `http:${http.url}`, '--batch-max-records', '500', '--rotate-wait', '20s'];
    const c = await startCollector(state, args, createSink(parseFlags([...args, '--state-dir', state]).sink));
    const w = new Writer(join(dir, 'a.log'));
    try {
      for (let i = 0; i < 20; i++) {
        w.write(500);
        if (i % 5 === 4) w.rotate();
        await new Promise((r) => setTimeout(r, 40));
      }
      assert.ok(c.stats.batchesFailed > 0);
      assert.ok(c.stats.linesRead <= 1000, `read ${c.stats.linesRead} lines with the sink down (two batches at most)`);
      assert.equal(http.lines.length, 0);
      down = false;
      await waitFor('10000 lines', () => http.lines.length >= 10_000, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      const msgs = http.lines.map((l) => (JSON.parse(l) as { message: string }).message);
      assert.equal(w.check(msgs), null);
      assert.equal(c.stats.skippedBytesRotateWait + c.stats.skippedBytesVanished, 0);
    } finally {
      w.close();
      await c.stop();
      await http.close();
    }
  });

  it('CLI: bad usage exits 2 naming the flag; --help exits 0', { timeout: 40_000 }, async () => {
    const bad = spawnSync(process.execPath, [CLI, 'logs', '--path', '/tmp/x/*.log', '--sink', 'ftp://x', '--state-dir', '/tmp/x'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--sink: expected stdout, file:PATH or http:URL/);
    const help = spawnSync(process.execPath, [CLI, 'logs', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--kubernetes/);
  });

  it('stop() reads what the files hold at the stop, even while the sink holds reading back, and ships it', { timeout: 40_000 }, async () => {
    const sink = new GatedSink();
    const { dir, w, c } = await stopCase('final-read', 25, sink, ['--batch-max-records', '10']);
    // The first batch waits at the sink, the second is read meanwhile, and reading stops there.
    await waitFor('the first batch at the sink', () => sink.waiting);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.stats.linesRead, 20, 'two batches read, the rest waits in the file');
    w.write(20);
    const stopped = c.stop();
    sink.open();
    await stopped;
    assert.equal(w.check(sink.messages()), null, 'every line, once, in order');
    assert.equal(sink.records.length, 45);
    assertCheckpointAtEnd(dir, sink);
    w.close();
  });

  it('capture sink sanity: stop() delivers what was read and writes the last checkpoint', { timeout: 40_000 }, async () => {
    const sink = new CaptureSink();
    const { dir, w, c } = await stopCase('stop', 50, sink, []);
    await waitFor('50 lines', () => sink.records.length >= 50);
    await c.stop();
    assertCheckpointAtEnd(dir, sink);
    w.close();
  });
});
