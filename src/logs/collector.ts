// The log collector: finds files by glob, reads each byte once, turns lines into records, ships them in
// batches and moves checkpoints only after the sink has acknowledged a batch.
//
//   fs.watch events ─┐                      ┌─ sink.send(batch k) ── ack ── commit(k) ── checkpoint file
//   rescan timer ────┼─> dirty files ─> fill() ─> batch k+1 (prefetched while k is in flight)
//                    └─ housekeeping: new files, rename/copytruncate rotation, drains, idle closes
//
// sink.send() hands the batch to the log-ship pool (src/logs/sink.ts), whose worker formats,
// compresses and delivers it through the access logs' sinks and resolves once the sink answered.
//
// At most two batches live in memory (the one in flight and the next one), so when the sink is down
// reading stops and the files are the buffer. A restart resumes from the last acknowledged offsets, so
// at most the batch that was in flight is shipped twice. All file state is touched under one lock
// (`exclusive`), so the prefetch, the rescan timer and watch events never race on a descriptor.
import { open, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { CheckpointStore, FINGERPRINT_BYTES, type Checkpoint } from './checkpoint.js';
import type { LogsOptions } from './flags.js';
import { parseContainerLine, podLabels } from './formats.js';
import { compileGlob, matches, type Glob } from './glob.js';
import { LogsStats, type LogsGauges } from './metrics.js';
import type { Sink } from './sink.js';
import { LogBatchBuilder, type LogSource } from './wire.js';
import { backoffMs } from '../telemetry/sinks.js';
import { log } from '../util/log.js';

/** A record being joined: CRI/Docker partial pieces, or a multiline record waiting for its next start. */
interface Pending {
  /** The runtime's time, or null for the read time. */
  time: string | null;
  readMs: number;
  stream: string | null;
  message: string;
  /** Offset of the first line of the record: the checkpoint may not pass it while the record is pending. */
  start: number;
  truncated: boolean;
  lastMs: number;
}

/** One tailed file, by identity (device + inode): a rename keeps the object, a new inode gets a new one. */
class TrackedFile {
  fh: FileHandle | null = null;
  /** Next byte to parse: always the start of a line. */
  readOffset: number;
  /** Size at the last stat. */
  size: number;
  /** Acknowledged offset of the current generation. */
  committed: number;
  /** Bumped when the file is truncated: an acknowledgement for an older generation is ignored. */
  gen = 0;
  fp: Buffer = Buffer.alloc(0);
  /** Discarding the rest of an over-long line. */
  skipping = false;
  partial: Map<string, Pending> | null = null;
  multi: Map<string, Pending> | null = null;
  draining = false;
  drainDeadline = 0;
  lastGrowthMs: number;
  lastActivityMs: number;
  reading = false;
  /** The batch sequence after whose acknowledgement a released file can leave the checkpoints. */
  retireAfterSeq = 0;

  constructor(
    public path: string,
    readonly dev: number,
    readonly ino: number,
    readonly key: string,
    readonly source: LogSource,
    offset: number,
    size: number,
    now: number,
  ) {
    this.readOffset = offset;
    this.committed = offset;
    this.size = size;
    this.lastGrowthMs = now;
    this.lastActivityMs = now;
  }

  /** Where a restart must resume: before the first pending record, else after everything consumed. */
  safeOffset(): number {
    let o = this.readOffset;
    if (this.partial !== null) for (const p of this.partial.values()) o = Math.min(o, p.start);
    if (this.multi !== null) for (const p of this.multi.values()) o = Math.min(o, p.start);
    return o;
  }

  hasPending(): boolean {
    return (this.partial !== null && this.partial.size > 0) || (this.multi !== null && this.multi.size > 0);
  }
}

class Batch {
  readonly records = new LogBatchBuilder();
  /** Per file: the generation and the offset that become the checkpoint once this batch is acknowledged. */
  offsets = new Map<TrackedFile, { gen: number; offset: number }>();
  firstReadMs = 0;
  /** Read after stop() began: an empty final batch means every file was read to its end. */
  final = false;
  constructor(readonly seq: number) {}
}

/** Coalesces the burst of inotify events a rotation makes (rename, create, first write). */
const RESCAN_DEBOUNCE_MS = 5;

const keyOf = (st: { dev: number; ino: number }): string => `${st.dev}:${st.ino}`;

export class Collector {
  readonly stats = new LogsStats();
  private readonly globs: Glob[];
  private readonly excludes: Glob[];
  private readonly store: CheckpointStore;
  private readonly files = new Map<string, TrackedFile>();
  private readonly byPath = new Map<string, TrackedFile>();
  private readonly dirty = new Set<TrackedFile>();
  /** Released files whose last records are not acknowledged yet: still checkpointed. */
  private readonly retiring = new Set<TrackedFile>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly buf: Buffer;
  private readonly lineCap: number;
  /** Raw lines, no multiline joining: the bytes-only path (plainLine). */
  private readonly plain: boolean;
  /** CRI lines possible, no multiline joining: whole lines take the bytes path (criLine). */
  private readonly criBytes: boolean;
  private openCount = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private wakeResolve: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private rescanDue = true;
  private stopping = false;
  private shipping = false;
  private seq = 0;
  private ackedSeq = 0;
  private inFlightFirstMs = 0;
  private pendingRecords = 0;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: LogsOptions, private readonly sink: Sink) {
    this.globs = o.paths.map(compileGlob);
    this.excludes = o.excludes.map(compileGlob);
    this.store = new CheckpointStore(o.stateDir);
    // Container lines carry a prefix (CRI) or JSON escapes (Docker) around the message, so their raw
    // bound is looser; the message itself is cut to maxLineBytes after parsing.
    this.lineCap = o.format === 'raw' ? o.maxLineBytes : 2 * o.maxLineBytes + 256;
    this.plain = o.format === 'raw' && o.multilineStart === null;
    this.criBytes = (o.format === 'cri' || o.format === 'auto') && o.multilineStart === null;
    // A chunk twice the raw bound always holds a whole line or a cut one.
    this.buf = Buffer.allocUnsafe(Math.max(256 * 1024, 2 * this.lineCap + 2));
  }

  /** Loads checkpoints, finds the files and starts the read-ship loop. Throws on an unreadable state dir. */
  async start(): Promise<void> {
    const saved = await this.store.load();
    await this.exclusive(() => this.rescan(null, saved));
    this.timer = setInterval(() => this.tick(), Math.min(this.o.pollIntervalMs, this.o.rescanIntervalMs));
    this.timer.unref();
    this.loop = this.run();
  }

  /**
   * Reads what the files hold now and delivers it (bounded by `deadlineMs`: a writer that never stops
   * does not hold the exit up), then writes the final checkpoint. A sidecar is stopped after its app:
   * the app's last lines are in a volume that goes with the pod, so they are read before the exit.
   */
  async stop(deadlineMs = 5000): Promise<void> {
    this.stopping = true;
    this.stopDeadline = Date.now() + deadlineMs;
    // A last look at every file: growth that no watch event has reported yet.
    this.pollDue = true;
    this.wake();
    if (this.timer !== null) clearInterval(this.timer);
    // A delivery still waiting on the sink at the deadline is aborted: its batch stays behind the
    // checkpoint (shipped again after the restart), and the exit is not held up by a hanging sink.
    const abort = setTimeout(() => this.sink.abort(), deadlineMs);
    await this.loop;
    clearTimeout(abort);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.exclusive(async () => {
      for (const f of [...this.files.values(), ...this.retiring]) await this.closeFile(f);
    });
    await this.sink.close();
  }

  private stopDeadline = 0;

  gauges(): LogsGauges {
    let lag = 0;
    for (const f of this.files.values()) lag += Math.max(0, f.size - f.committed);
    for (const f of this.retiring) lag += Math.max(0, f.size - f.committed);
    return {
      filesTracked: this.files.size + this.retiring.size,
      filesOpen: this.openCount,
      lagBytes: lag,
      lagSeconds: this.inFlightFirstMs === 0 ? 0 : Math.max(0, (Date.now() - this.inFlightFirstMs) / 1000),
      pendingRecords: this.pendingRecords,
    };
  }

  // ---- loop -------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    let next = this.exclusive(() => this.fill());
    for (;;) {
      let batch: Batch;
      try {
        batch = await next;
      } catch (err) {
        // A bug or an unexpected fs error in a fill. Every earlier batch is delivered and committed by
        // now, so rewinding each file to its committed offset loses and repeats nothing. Pause a little
        // so a persistent failure does not spin.
        this.stats.readErrors++;
        log.error('reading a batch failed; rewinding to the checkpoints and retrying', { err });
        if (this.stopping) break;
        await new Promise((r) => setTimeout(r, 1000));
        await this.exclusive(async () => {
          for (const f of this.files.values()) {
            f.readOffset = f.committed;
            f.partial = null;
            f.multi = null;
            f.skipping = false;
            this.dirty.add(f);
          }
        });
        next = this.exclusive(() => this.fill());
        continue;
      }
      if (batch.records.records === 0) {
        // Offsets may still move (empty lines, cut tails): commit them without a round trip.
        if (batch.offsets.size > 0) await this.commit(batch);
        // Stopping: done once a read that began after the stop (with its last look at every file) found
        // nothing more.
        if (batch.final || (this.stopping && Date.now() >= this.stopDeadline)) break;
        if (!this.stopping) await this.waitForWork();
        next = this.exclusive(() => this.fill());
        continue;
      }
      // Prefetch the next batch while this one is in flight; reading stops there until the ack.
      next = this.exclusive(() => this.fill());
      const delivered = await this.deliver(batch);
      if (!delivered) break; // stopping and the sink never answered: the checkpoint stays behind it
      await this.commit(batch);
      if (this.stopping && Date.now() >= this.stopDeadline) break;
    }
    await this.saveCheckpoint();
  }

  /** Sends until acknowledged (or rejected for good); false only when stopping ran out of time. */
  private async deliver(batch: Batch): Promise<boolean> {
    this.shipping = true;
    this.inFlightFirstMs = batch.firstReadMs;
    this.pendingRecords = batch.records.records;
    const wire = batch.records.build();
    let attempt = 0;
    try {
      for (;;) {
        const r = await this.sink.send(wire);
        if (r.outcome === 'ok') {
          this.stats.batchesShipped++;
          this.stats.recordsShipped += batch.records.records;
          return true;
        }
        if (r.outcome === 'reject') {
          // Retrying a batch the sink refuses would stop every file behind it forever.
          this.stats.batchesRejected++;
          this.stats.recordsRejected += batch.records.records;
          log.error('sink rejected a batch; its records are dropped', { records: batch.records.records, error: r.error });
          return true;
        }
        this.stats.batchesFailed++;
        if (this.stats.batchesFailed === 1 || this.stats.batchesFailed % 20 === 0) {
          log.warn('sink failed; retrying (reading is paused)', { error: r.error, failures: this.stats.batchesFailed });
        }
        if (this.stopping && Date.now() >= this.stopDeadline) return false;
        // The sinks' jittered backoff (full jitter, up to 5 s), cut short by a stop (SIGTERM must not
        // sit out a 5 s pause).
        const until = Date.now() + Math.max(50, backoffMs(++attempt));
        while (Date.now() < until) {
          if (this.stopping && Date.now() + 100 >= this.stopDeadline) return false;
          await new Promise((res) => setTimeout(res, Math.min(100, until - Date.now())));
        }
      }
    } finally {
      this.shipping = false;
      this.inFlightFirstMs = 0;
      this.pendingRecords = 0;
    }
  }

  private async commit(batch: Batch): Promise<void> {
    for (const [f, c] of batch.offsets) if (f.gen === c.gen && c.offset > f.committed) f.committed = c.offset;
    this.ackedSeq = batch.seq;
    for (const f of this.retiring) if (f.retireAfterSeq <= this.ackedSeq) this.retiring.delete(f);
    await this.saveCheckpoint();
  }

  private lastSaved = '';
  private saveChain: Promise<void> = Promise.resolve();

  /** Serialised: a commit and a discovery may both want to write, and they share the temp file. */
  private saveCheckpoint(): Promise<void> {
    const p = this.saveChain.then(() => this.writeCheckpoint());
    this.saveChain = p;
    return p;
  }

  private async writeCheckpoint(): Promise<void> {
    const list: Checkpoint[] = [];
    for (const f of [...this.files.values(), ...this.retiring]) {
      list.push({ path: f.path, dev: f.dev, ino: f.ino, fp: f.fp.toString('hex'), offset: f.committed });
    }
    const text = JSON.stringify(list);
    if (text === this.lastSaved) return;
    try {
      await this.store.save(list);
      this.lastSaved = text;
      this.stats.checkpointWrites++;
    } catch (err) {
      this.stats.checkpointErrors++;
      log.error('cannot write checkpoints; a restart will ship again what was acknowledged since the last write', { dir: this.o.stateDir, err });
    }
  }

  private waitForWork(): Promise<void> {
    if (this.dirty.size > 0 || this.rescanDue) return Promise.resolve();
    let pendingAny = false;
    for (const f of this.files.values()) if (f.hasPending()) { pendingAny = true; break; }
    const ms = pendingAny ? Math.max(10, this.o.multilineTimeoutMs / 2) : Math.min(this.o.pollIntervalMs, this.o.rescanIntervalMs);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wakeResolve = null; resolve(); }, ms);
      this.wakeResolve = () => { clearTimeout(t); this.wakeResolve = null; resolve(); };
    });
  }

  private wake(): void {
    this.wakeResolve?.();
  }

  private pollDue = false;
  private lastWalkMs = 0;

  /**
   * Every poll interval: a stat per tracked file (writes through a symlink or on a filesystem without
   * inotify); every rescan interval: the full glob walk (files and rotations inotify missed). The walk
   * of 1,000 pods costs ~3,000 calls, hence the two periods.
   */
  private tick(): void {
    this.pollDue = true;
    if (Date.now() - this.lastWalkMs >= this.o.rescanIntervalMs - 5) this.rescanDue = true;
    this.wake();
    // The loop is blocked on a sink that is down: rotations and drain deadlines still need a look.
    if (this.shipping) void this.exclusive(() => this.housekeeping(null));
  }

  /** Stats every tracked file: growth marks it dirty, a vanished or replaced path asks for a walk. */
  private async poll(): Promise<void> {
    this.pollDue = false;
    const checks: Promise<void>[] = [];
    for (const f of this.files.values()) {
      if (f.draining || f.reading) continue;
      // By path, not by descriptor: a path that now names another inode is a rotation to handle.
      checks.push(stat(f.path).then(
        (st) => {
          if (keyOf(st) !== f.key) this.rescanDue = true;
          else if (st.size !== f.readOffset) this.dirty.add(f);
        },
        () => { this.rescanDue = true; }, // gone from its path: the walk decides rename or delete
      ));
    }
    await Promise.all(checks);
    if (this.rescanDue) await this.rescan(null, null);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn);
    this.lock = p.catch((err: unknown) => log.error('collector step failed', { err }));
    return p;
  }

  // ---- reading ----------------------------------------------------------------------------------

  private async fill(): Promise<Batch> {
    const batch = new Batch(++this.seq);
    batch.final = this.stopping;
    const touched = new Set<TrackedFile>();
    await this.housekeeping(batch, touched);
    const full = (): boolean => batch.records.records >= this.o.batchMaxRecords || batch.records.bytes >= this.o.batchMaxBytes;
    while (!full() && this.dirty.size > 0 && !(this.stopping && Date.now() >= this.stopDeadline)) {
      // Round-robin: a file that still has data goes to the back, so one busy file cannot starve the rest.
      for (const f of [...this.dirty]) {
        const more = await this.readStep(f, batch, touched);
        this.dirty.delete(f);
        if (more) this.dirty.add(f);
        if (full()) break;
      }
    }
    for (const f of touched) batch.offsets.set(f, { gen: f.gen, offset: f.safeOffset() });
    return batch;
  }

  /** Reads one chunk of `f` into the batch; true when more may follow right away. */
  private async readStep(f: TrackedFile, batch: Batch, touched: Set<TrackedFile>): Promise<boolean> {
    if (f.fh === null && !(await this.openFile(f))) return false;
    f.reading = true;
    try {
      const fh = f.fh!;
      const st = await fh.stat();
      const now = Date.now();
      if (st.size !== f.size) f.lastGrowthMs = now;
      f.size = st.size;
      if (st.size < f.readOffset || (await this.headChanged(f, st.size))) {
        this.truncated(f, touched);
        if (st.size === 0) return false;
      }
      if (st.size <= f.readOffset) return false;
      const { bytesRead: n } = await fh.read(this.buf, 0, Math.min(this.buf.length, st.size - f.readOffset), f.readOffset);
      if (n === 0) return false;
      f.lastActivityMs = now;
      touched.add(f);
      const consumed = this.parse(f, n, batch, now);
      f.readOffset += consumed;
      this.stats.bytesRead += consumed;
      return consumed > 0 && f.readOffset < f.size;
    } catch (err) {
      this.stats.readErrors++;
      log.warn('cannot read a tailed file', { path: f.path, err });
      await this.closeFile(f);
      return false;
    } finally {
      f.reading = false;
    }
  }

  /** Splits the first `n` bytes of the buffer into lines; returns the bytes consumed (whole lines). */
  private parse(f: TrackedFile, n: number, batch: Batch, now: number): number {
    const buf = this.buf;
    const max = this.lineCap;
    const base = f.readOffset;
    const maxRecords = this.o.batchMaxRecords;
    const maxBytes = this.o.batchMaxBytes;
    let pos = 0;
    while (pos < n) {
      // A full batch ends the chunk here: the rest is read again for the next batch.
      if (batch.records.records >= maxRecords || batch.records.bytes >= maxBytes) return pos;
      let nl = buf.indexOf(10, pos);
      if (nl >= n) nl = -1;
      if (nl === -1) {
        const rest = n - pos;
        if (f.skipping) {
          this.stats.truncatedBytes += rest;
          return n;
        }
        // No newline within the bound: ship the first max bytes, discard up to the next newline.
        if (rest >= max) {
          this.stats.linesTruncated++;
          this.stats.truncatedBytes += rest - max;
          if (this.plain) this.plainLine(f, pos, pos + max, batch, now);
          else if (!this.criLine(f, pos, pos + max, batch, now)) this.line(f, buf.toString('utf8', pos, pos + max), base + pos, batch, now);
          f.skipping = true;
          return n;
        }
        return pos; // a line still being written: read again from its start next time
      }
      if (f.skipping) {
        this.stats.truncatedBytes += nl - pos;
        f.skipping = false;
        pos = nl + 1;
        continue;
      }
      let end = nl;
      if (end > pos && buf[end - 1] === 13) end--;
      if (end - pos > max) {
        this.stats.linesTruncated++;
        this.stats.truncatedBytes += end - pos - max;
        end = pos + max;
      }
      if (this.plain) this.plainLine(f, pos, end, batch, now);
      else if (!this.criLine(f, pos, end, batch, now)) this.line(f, buf.toString('utf8', pos, end), base + pos, batch, now);
      pos = nl + 1;
    }
    return pos;
  }

  /** A raw line without multiline joining: its bytes go from the read buffer into the batch, no string. */
  private plainLine(f: TrackedFile, start: number, end: number, batch: Batch, now: number): void {
    this.stats.linesRead++;
    if (end === start) return;
    if (batch.records.records === 0) batch.firstReadMs = now;
    batch.records.addBytes(f.source, now, this.buf, start, end);
  }

  /**
   * A whole CRI line (`F`) that joins nothing, parsed in the read buffer: its time and message go into
   * the batch as bytes, no string (the kubelet's logs at full rate stay off the main thread's heap).
   * False: anything else (a partial piece, a join in progress, Docker JSON, not CRI, multiline on) for
   * line(), which parses it as a string.
   */
  private criLine(f: TrackedFile, start: number, end: number, batch: Batch, now: number): boolean {
    if (!this.criBytes) return false;
    const b = this.buf;
    const a = b.indexOf(32, start);
    // Shorter than any RFC 3339 time, or Docker's `{`: the string path decides.
    if (a === -1 || a >= end - 8 || a - start < 20 || b[start] === 123) return false;
    const s = a + 1;
    let stream: string;
    if (b[s] !== 115 || b[s + 1] !== 116 || b[s + 2] !== 100 || b[s + 6] !== 32 || b[s + 7] !== 70) return false; // "std… F"
    if (b[s + 3] === 111 && b[s + 4] === 117 && b[s + 5] === 116) stream = 'stdout';
    else if (b[s + 3] === 101 && b[s + 4] === 114 && b[s + 5] === 114) stream = 'stderr';
    else return false;
    if (f.partial !== null && f.partial.has(stream)) return false;
    // Tags: `F`, possibly followed by `:more`; the message follows the next space (it may be empty).
    let m = b.indexOf(32, s + 7);
    m = m === -1 || m >= end ? end : m + 1;
    let e = end;
    const max = this.o.maxLineBytes;
    if (e - m > max) {
      this.stats.linesTruncated++;
      this.stats.truncatedBytes += e - m - max;
      e = m + max;
    }
    this.stats.linesRead++;
    if (batch.records.records === 0) batch.firstReadMs = now;
    batch.records.addContainerBytes(f.source, now, stream, b, start, a, m, e);
    return true;
  }

  private line(f: TrackedFile, text: string, start: number, batch: Batch, now: number): void {
    this.stats.linesRead++;
    if (this.o.format === 'raw') {
      if (text.length === 0) return;
      this.joinMultiline(f, null, now, null, text, start, batch);
      return;
    }
    const c = parseContainerLine(this.o.format, text);
    if (c === null) {
      this.stats.parseErrors++;
      if (text.length > 0) this.joinMultiline(f, null, now, null, this.cut(text), start, batch);
      return;
    }
    c.message = this.cut(c.message);
    const p = f.partial?.get(c.stream);
    if (c.partial) {
      if (p === undefined) {
        (f.partial ??= new Map()).set(c.stream, { time: c.time || null, readMs: now, stream: c.stream, message: c.message, start, truncated: false, lastMs: now });
      } else {
        this.append(p, c.message, '');
        p.lastMs = now;
      }
      return;
    }
    if (p !== undefined) {
      f.partial!.delete(c.stream);
      this.append(p, c.message, '');
      this.joinMultiline(f, p.time, p.readMs, c.stream, p.message, p.start, batch);
      return;
    }
    this.joinMultiline(f, c.time || null, now, c.stream, c.message, start, batch);
  }

  /** A message over the bound (a container line's raw bound is looser) is cut here and counted. */
  private cut(message: string): string {
    const max = this.o.maxLineBytes;
    if (message.length <= max) return message;
    this.stats.linesTruncated++;
    this.stats.truncatedBytes += message.length - max;
    return message.slice(0, max);
  }

  /** Appends within the line bound; the cut is counted once per record. */
  private append(p: Pending, text: string, sep: string): void {
    const room = this.o.maxLineBytes - p.message.length;
    const add = sep.length + text.length;
    if (add <= room) {
      p.message += sep + text;
      return;
    }
    if (!p.truncated) {
      this.stats.linesTruncated++;
      p.truncated = true;
    }
    this.stats.truncatedBytes += add - Math.max(0, room);
    if (room > 0) p.message += (sep + text).slice(0, room);
  }

  private joinMultiline(f: TrackedFile, time: string | null, readMs: number, stream: string | null, message: string, start: number, batch: Batch): void {
    const re = this.o.multilineStart;
    if (re === null) {
      this.emit(f, time, readMs, stream, message, batch);
      return;
    }
    const key = stream ?? '';
    const m = f.multi?.get(key);
    if (re.test(message)) {
      if (m !== undefined) this.emit(f, m.time, m.readMs, m.stream, m.message, batch);
      (f.multi ??= new Map()).set(key, { time, readMs, stream, message: '', start, truncated: false, lastMs: readMs });
      this.append(f.multi.get(key)!, message, '');
    } else if (m !== undefined) {
      this.append(m, message, '\n');
      m.lastMs = readMs;
    } else {
      this.emit(f, time, readMs, stream, message, batch); // a continuation with nothing to continue
    }
  }

  private emit(f: TrackedFile, time: string | null, readMs: number, stream: string | null, message: string, batch: Batch): void {
    if (batch.records.records === 0) batch.firstReadMs = readMs;
    batch.records.add(f.source, time, readMs, stream, message);
  }

  /** Emits joins that waited too long (multiline timeout; CRI partials also after it, or at release). */
  private flushPending(f: TrackedFile, batch: Batch, now: number, all: boolean): void {
    const t = this.o.multilineTimeoutMs;
    if (f.partial !== null) {
      for (const [k, p] of f.partial) {
        if (!all && now - p.lastMs < t) continue;
        f.partial.delete(k);
        this.joinMultiline(f, p.time, p.readMs, p.stream, p.message, p.start, batch);
      }
    }
    if (f.multi !== null) {
      for (const [k, p] of f.multi) {
        if (!all && now - p.lastMs < t) continue;
        f.multi.delete(k);
        this.emit(f, p.time, p.readMs, p.stream, p.message, batch);
      }
    }
  }

  /**
   * Reads the file's first bytes: a different start than the fingerprint means the file was truncated
   * and written again (copytruncate that we saw only after the file grew back). A fingerprint shorter
   * than FINGERPRINT_BYTES grows with the file.
   */
  private async headChanged(f: TrackedFile, size: number): Promise<boolean> {
    const want = Math.min(size, FINGERPRINT_BYTES);
    if (want === 0 || (f.fp.length === want && f.readOffset === 0)) return false;
    const head = Buffer.allocUnsafe(want);
    const { bytesRead } = await f.fh!.read(head, 0, want, 0);
    if (bytesRead < f.fp.length || !head.subarray(0, f.fp.length).equals(f.fp)) return true;
    if (bytesRead > f.fp.length) f.fp = Buffer.from(head.subarray(0, bytesRead));
    return false;
  }

  /** copytruncate (or truncate and rewrite): read again from the start; what was never read is counted. */
  private truncated(f: TrackedFile, touched: Set<TrackedFile>): void {
    this.stats.rotationsTruncate++;
    const unread = Math.max(0, f.size - f.readOffset);
    if (unread > 0) this.stats.skippedBytesTruncated += unread;
    log.info('file truncated; reading it again from the start', { path: f.path });
    f.gen++;
    f.readOffset = 0;
    f.committed = 0;
    f.fp = Buffer.alloc(0);
    f.skipping = false;
    f.partial = null;
    f.multi = null;
    touched.add(f);
  }

  // ---- descriptors ------------------------------------------------------------------------------

  private async openFile(f: TrackedFile): Promise<boolean> {
    if (this.openCount >= this.o.maxOpenFiles && !(await this.closeOneIdle())) return false;
    let fh: FileHandle;
    try {
      fh = await open(f.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.stats.readErrors++;
        log.warn('cannot open a tailed file', { path: f.path, err });
      }
      this.rescanDue = true;
      return false;
    }
    const st = await fh.stat();
    if (keyOf(st) !== f.key) {
      // The path is another file now (rotated while closed): the rescan sorts out which is which.
      await fh.close();
      this.rescanDue = true;
      return false;
    }
    f.fh = fh;
    this.openCount++;
    return true;
  }

  private async closeFile(f: TrackedFile): Promise<void> {
    if (f.fh === null) return;
    const fh = f.fh;
    f.fh = null;
    this.openCount--;
    try {
      await fh.close();
    } catch (err) {
      log.warn('close failed', { path: f.path, err });
    }
  }

  /** Frees a descriptor: the least recently active file that is read to its end. */
  private async closeOneIdle(): Promise<boolean> {
    let victim: TrackedFile | null = null;
    for (const f of this.files.values()) {
      if (f.fh === null || f.draining || f.reading || this.dirty.has(f)) continue;
      if (victim === null || f.lastActivityMs < victim.lastActivityMs) victim = f;
    }
    if (victim === null) return false;
    await this.closeFile(victim);
    return true;
  }

  // ---- discovery and rotation -------------------------------------------------------------------

  private async housekeeping(batch: Batch | null, touched?: Set<TrackedFile>): Promise<void> {
    const now = Date.now();
    if (this.rescanDue) await this.rescan(batch, null);
    else if (this.pollDue) await this.poll();
    for (const f of [...this.files.values()]) {
      if (f.draining) {
        await this.checkDrain(f, batch, touched, now);
        continue;
      }
      if (batch !== null && f.hasPending()) {
        this.flushPending(f, batch, now, false);
        touched!.add(f);
      }
      if (f.fh !== null && !f.reading && !this.dirty.has(f) && now - f.lastActivityMs >= this.o.idleCloseMs) await this.closeFile(f);
    }
  }

  /** Walks the globs: new files, renamed ones, and the ones gone from their path (drained, then let go). */
  private async rescan(batch: Batch | null, saved: Checkpoint[] | null): Promise<void> {
    this.rescanDue = false;
    this.pollDue = false;
    this.lastWalkMs = Date.now();
    const found = new Map<string, Stats>();
    const dirs = new Set<string>();
    for (const g of this.globs) await this.walk(g.base, g, 0, found, dirs);
    this.updateWatches(dirs);
    const savedByKey = new Map<string, Checkpoint>();
    if (saved !== null) for (const c of saved) savedByKey.set(keyOf(c), c);
    const seen = new Set<string>();
    const now = Date.now();
    let added = 0;
    for (const [path, st] of found) {
      if (matches(this.excludes, path)) continue;
      const key = keyOf(st);
      if (seen.has(key)) continue; // two globs, or a hard link: one file
      seen.add(key);
      let f = this.files.get(key);
      if (f !== undefined) {
        if (f.path !== path) {
          if (this.byPath.get(f.path) === f) this.byPath.delete(f.path);
          f.path = path;
        }
        f.draining = false;
        this.byPath.set(path, f);
        if (st.size !== f.readOffset) this.dirty.add(f);
        continue;
      }
      let offset = 0;
      let fp = '';
      if (saved !== null) {
        const c = savedByKey.get(key);
        if (c !== undefined && (await this.sameHead(path, c.fp))) {
          savedByKey.delete(key);
          offset = c.offset <= st.size ? c.offset : 0;
          fp = c.fp;
        } else if (this.o.readFrom === 'tail') {
          offset = await this.lastLineStart(path, st.size);
        }
      }
      f = this.track(path, st, offset, now);
      f.fp = Buffer.from(fp, 'hex');
      added++;
      if (st.size !== offset) this.dirty.add(f);
    }
    // Gone from every matching path: renamed away (logrotate, kubelet) or deleted.
    for (const f of [...this.files.values()]) {
      if (!seen.has(f.key) && !f.draining) await this.startDrain(f, now);
    }
    // Checkpointed files rotated while we were not running: look for them beside their old path.
    if (saved !== null) {
      for (const c of savedByKey.values()) {
        if (seen.has(keyOf(c))) continue;
        const p = await this.findInode(dirname(c.path), c.dev, c.ino);
        if (p === null || !(await this.sameHead(p, c.fp))) continue;
        const st = await stat(p);
        const f = this.track(p, st, Math.min(c.offset, st.size), now);
        f.fp = Buffer.from(c.fp, 'hex');
        this.byPath.delete(p);
        this.stats.rotationsRename++;
        if (await this.openFile(f)) {
          f.draining = true;
          f.drainDeadline = now + this.o.rotateWaitMs;
          this.dirty.add(f);
        } else {
          this.files.delete(f.key);
        }
      }
    }
    // A new file goes into the checkpoints at once (at its start offset, nothing acknowledged is
    // claimed): if it is rotated away while we are down, the restart still finds it by inode.
    if (added > 0) void this.saveCheckpoint();
    void batch;
  }

  private track(path: string, st: Stats, offset: number, now: number): TrackedFile {
    const key = keyOf(st);
    let fields = `"file":${JSON.stringify(path)}`;
    let labels: Record<string, string> = { filename: path };
    if (this.o.kubernetes) {
      const l = podLabels(path);
      if (l !== null) {
        fields += `,"namespace":${JSON.stringify(l.namespace)},"pod":${JSON.stringify(l.pod)},"pod_uid":${JSON.stringify(l.pod_uid)},"container":${JSON.stringify(l.container)}`;
        labels = { namespace: l.namespace, pod: l.pod, container: l.container };
      }
    }
    const f = new TrackedFile(path, st.dev, st.ino, key, { fields, labels }, offset, st.size, now);
    this.files.set(key, f);
    this.byPath.set(path, f);
    return f;
  }

  private async startDrain(f: TrackedFile, now: number): Promise<void> {
    if (this.byPath.get(f.path) === f) this.byPath.delete(f.path);
    this.stats.rotationsRename++;
    if (f.fh === null && !(await this.reopenMoved(f))) {
      // Closed while idle and gone before we looked again: nothing left to read it from.
      const unread = Math.max(0, f.size - f.safeOffset());
      if (unread > 0) {
        this.stats.skippedBytesVanished += unread;
        log.warn('a rotated file vanished before it was read to its end', { path: f.path, bytes: unread });
      }
      this.release(f);
      return;
    }
    f.draining = true;
    f.drainDeadline = now + this.o.rotateWaitMs;
    this.dirty.add(f);
  }

  /** A closed file renamed within its directory (rotation) is found again by inode. */
  private async reopenMoved(f: TrackedFile): Promise<boolean> {
    let p = await this.findInode(dirname(f.path), f.dev, f.ino);
    if (p === null) {
      // A symlinked log (Docker's pods-dir links): the rotated file sits beside the link's target.
      let real: string | null = null;
      try {
        real = await realpath(f.path);
      } catch (err) {
        log.debug('no link target to look beside', { path: f.path, err });
      }
      if (real !== null && dirname(real) !== dirname(f.path)) p = await this.findInode(dirname(real), f.dev, f.ino);
    }
    if (p === null) return false;
    f.path = p;
    return this.openFile(f);
  }

  private async checkDrain(f: TrackedFile, batch: Batch | null, touched: Set<TrackedFile> | undefined, now: number): Promise<void> {
    if (f.reading) return;
    let size = f.size;
    if (f.fh !== null) {
      try {
        size = (await f.fh.stat()).size;
      } catch (err) {
        log.warn('stat of a rotated file failed', { path: f.path, err });
      }
    }
    if (size !== f.size) {
      f.size = size;
      f.lastGrowthMs = now;
      this.dirty.add(f);
    }
    // Read to its end and quiet for a moment (a writer may still hold the renamed file): let it go.
    const quiet = now - f.lastGrowthMs >= Math.min(1000, this.o.rotateWaitMs);
    if (batch !== null && size - f.readOffset < this.o.maxLineBytes && !this.dirty.has(f) && quiet) {
      // The last line may lack its newline: nothing more will come, so ship it as it is.
      if (size > f.readOffset && f.fh !== null && !f.skipping) {
        const b = Buffer.allocUnsafe(size - f.readOffset);
        const { bytesRead } = await f.fh.read(b, 0, b.length, f.readOffset);
        this.line(f, b.toString('utf8', 0, bytesRead), f.readOffset, batch, now);
        f.readOffset += bytesRead;
      }
      this.flushPending(f, batch, now, true);
      touched!.add(f);
      this.release(f, batch.seq);
      return;
    }
    if (now >= f.drainDeadline) {
      const unread = Math.max(0, size - f.safeOffset());
      if (unread > 0) {
        this.stats.skippedBytesRotateWait += unread;
        log.warn('rotate wait ran out before a rotated file was read to its end', { path: f.path, bytes: unread });
      }
      // Pending joins are dropped with it; the checkpoint keeps no promise about this file any more.
      f.partial = null;
      f.multi = null;
      f.committed = f.readOffset = size;
      this.release(f);
    }
  }

  /** Closes a file for good; its checkpoint stays until the batch holding its last records is acked. */
  private release(f: TrackedFile, lastSeq = this.seq): void {
    this.files.delete(f.key);
    this.dirty.delete(f);
    if (this.byPath.get(f.path) === f) this.byPath.delete(f.path);
    void this.closeFile(f);
    f.draining = false;
    f.retireAfterSeq = lastSeq;
    if (lastSeq > this.ackedSeq) this.retiring.add(f);
  }

  private async walk(dir: string, g: Glob, i: number, found: Map<string, Stats>, dirs: Set<string>): Promise<void> {
    if (i >= g.segments.length) return;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') log.warn('cannot list a directory', { dir, err });
      return;
    }
    dirs.add(dir);
    const seg = g.segments[i]!;
    const last = i === g.segments.length - 1;
    // `**` matches no directory (the next segment applies here) or one more (recurse with it again).
    const work: Promise<void>[] = [];
    if (seg === null) work.push(this.walk(dir, g, i + 1, found, dirs));
    // Entries are stat'ed and subdirectories walked concurrently: 1,000 pods are 3,000 calls a rescan,
    // which in sequence would hold the read loop up for a noticeable time every --rescan-interval.
    for (const name of names) {
      if (seg !== null && !seg.test(name)) continue;
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
      work.push(stat(p).then(
        (st) => {
          if (st.isDirectory()) {
            if (seg === null) return this.walk(p, g, i, found, dirs);
            if (!last) return this.walk(p, g, i + 1, found, dirs);
          } else if (st.isFile() && last) {
            found.set(p, st);
          }
          return undefined;
        },
        // Removed between readdir and stat: the next rescan will not list it.
        () => undefined,
      ));
    }
    await Promise.all(work);
  }

  private updateWatches(dirs: Set<string>): void {
    for (const [d, w] of this.watchers) {
      if (!dirs.has(d)) {
        w.close();
        this.watchers.delete(d);
      }
    }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, { persistent: false }, (event, name) => this.onWatch(d, event, name));
        w.on('error', (err) => {
          this.stats.watchErrors++;
          log.warn('directory watch failed; the rescan still covers it', { dir: d, err });
          w.close();
          this.watchers.delete(d);
        });
        this.watchers.set(d, w);
      } catch (err) {
        this.stats.watchErrors++;
        log.warn('cannot watch a directory; the rescan still covers it', { dir: d, err });
      }
    }
  }

  private onWatch(dir: string, event: string, name: string | Buffer | null): void {
    if (name === null) {
      this.rescanSoon();
    } else {
      const f = this.byPath.get(`${dir}/${String(name)}`);
      if (f !== undefined) this.dirty.add(f);
      if (f === undefined || event === 'rename') this.rescanSoon();
    }
    this.wake();
  }

  private rescanScheduled = false;

  /**
   * A created or renamed entry: rescan within RESCAN_DEBOUNCE_MS even while the loop waits on the sink,
   * so that a file is tracked (and its descriptor held) before its writer can rotate it away.
   */
  private rescanSoon(): void {
    this.rescanDue = true;
    if (this.rescanScheduled || this.stopping) return;
    this.rescanScheduled = true;
    setTimeout(() => {
      this.rescanScheduled = false;
      void this.exclusive(async () => {
        if (this.rescanDue && !this.stopping) await this.rescan(null, null);
      });
    }, RESCAN_DEBOUNCE_MS).unref();
  }

  private async findInode(dir: string, dev: number, ino: number): Promise<string | null> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return null; // the directory went with the file (a deleted pod)
    }
    for (const n of names) {
      try {
        const st = await stat(`${dir}/${n}`);
        if (st.ino === ino && st.dev === dev && st.isFile()) return `${dir}/${n}`;
      } catch {
        continue; // removed meanwhile
      }
    }
    return null;
  }

  /** True when the file starts with the fingerprint (an empty fingerprint matches any file). */
  private async sameHead(path: string, fpHex: string): Promise<boolean> {
    const fp = Buffer.from(fpHex, 'hex');
    if (fp.length === 0) return true;
    let fh: FileHandle | null = null;
    try {
      fh = await open(path, 'r');
      const b = Buffer.alloc(fp.length);
      const { bytesRead } = await fh.read(b, 0, b.length, 0);
      return bytesRead === fp.length && b.equals(fp);
    } catch {
      return false; // unreadable now: treated as a new file
    } finally {
      await fh?.close();
    }
  }

  /** `--read-from tail`: start after the last complete line. */
  private async lastLineStart(path: string, size: number): Promise<number> {
    if (size === 0) return 0;
    const fh = await open(path, 'r');
    try {
      const n = Math.min(size, this.o.maxLineBytes + 1);
      const b = Buffer.alloc(n);
      await fh.read(b, 0, n, size - n);
      const nl = b.lastIndexOf(10);
      return nl === -1 ? size : size - n + nl + 1;
    } finally {
      await fh.close();
    }
  }
}
