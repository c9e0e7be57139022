// One file-sync round, and the loop around it.
//
// Per source file the round decides, cheapest check first:
//   destination missing or size differs      -> copy
//   size and mtime match the manifest        -> unchanged (no read at all)
//   same size, different mtime               -> hash the source; same hash -> unchanged (touch only)
//   no manifest entry, destination same size -> hash both; same -> adopt, else copy
// Files modified within the settle time are re-checked after it and skipped (until a later round)
// if they moved: never copy a file that is still being written.
import { lstat, readdir, rmdir, unlink, utimes } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fsyncDir, sweepStaleTemps } from '../common/atomic-write.js';
import { errorText, type Logger } from '../common/log.js';
import type { Counter, Gauge, Registry } from '../common/metrics.js';
import { copyFileAtomic, sha256File } from './copy-file.js';
import type { PathFilter } from './glob.js';
import { loadManifest, saveManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { scanTree, type FileStat } from './scan.js';

export interface FileSyncOptions {
  source: string;
  dest: string;
  manifestPath: string;
  filter: PathFilter;
  deletePropagation: boolean;
  settleMs: number;
  log: Logger;
  registry: Registry;
  now?: () => number;
  /** Called with the walked directories right after each scan (on-change mode watches them). */
  onScanned?: (dirs: readonly string[]) => void;
}

/** What one round did, by relative path (tests use this as the oracle, the log prints the counts). */
export interface RoundReport {
  copied: string[];
  adopted: string[];
  deleted: string[];
  unstable: string[];
  failed: string[];
  unchanged: number;
  hashed: number;
}

interface Stats {
  rounds: Counter;
  roundFailures: Counter;
  copied: Counter;
  bytes: Counter;
  deleted: Counter;
  hashed: Counter;
  unstable: Counter;
  fileErrors: Counter;
  skippedLinks: Counter;
  skippedSpecial: Counter;
  unreadableDirs: Counter;
  deletionsRefused: Counter;
  manifestProblems: Counter;
  tempsSwept: Counter;
  files: Gauge;
  lastSuccess: Gauge;
  lastDuration: Gauge;
  ready: Gauge;
}

function createStats(r: Registry): Stats {
  const p = 'pillion_file_sync_';
  return {
    rounds: r.counter(`${p}rounds_total`, 'Sync rounds started.'),
    roundFailures: r.counter(`${p}round_failures_total`, 'Rounds that failed as a whole (source unreadable, manifest not written).'),
    copied: r.counter(`${p}files_copied_total`, 'Files copied (new or changed).'),
    bytes: r.counter(`${p}copied_bytes_total`, 'Bytes copied.'),
    deleted: r.counter(`${p}files_deleted_total`, 'Destination files deleted because their source is gone (--delete).'),
    hashed: r.counter(`${p}files_hashed_total`, 'Files hashed because size and mtime could not decide.'),
    unstable: r.counter(`${p}files_unstable_total`, 'Files skipped because they changed during the settle time or the copy (still being written).'),
    fileErrors: r.counter(`${p}file_errors_total`, 'Per-file failures (copy, hash, delete); the file is retried next round.'),
    skippedLinks: r.counter(`${p}skipped_total`, 'Source entries not synced, by kind.', { kind: 'symlink' }),
    skippedSpecial: r.counter(`${p}skipped_total`, 'Source entries not synced, by kind.', { kind: 'special' }),
    unreadableDirs: r.counter(`${p}skipped_total`, 'Source entries not synced, by kind.', { kind: 'unreadable_dir' }),
    deletionsRefused: r.counter(`${p}deletions_refused_total`, 'Rounds that refused to propagate deletions because the source looked empty.'),
    manifestProblems: r.counter(`${p}manifest_problems_total`, 'Manifests found unreadable or malformed at startup (replaced).'),
    tempsSwept: r.counter(`${p}temp_files_swept_total`, 'Temp files of a copy that died mid-write (SIGKILL, OOM), removed at startup.'),
    files: r.gauge(`${p}source_files`, 'Files in the source that pass the filters, at the last round.'),
    lastSuccess: r.gauge(`${p}last_success_timestamp_seconds`, 'Unix time of the last round that finished (0 before the first).'),
    lastDuration: r.gauge(`${p}last_round_duration_seconds`, 'How long the last round took.'),
    ready: r.gauge(`${p}ready`, '1 once a round has finished, as /ready reports.'),
  };
}

type Decision =
  | { action: 'copy'; hashed: number }
  | { action: 'unchanged'; hashed: number }
  | { action: 'adopted' | 'touched'; hashed: number; entry: ManifestEntry };
const COPY: Decision = { action: 'copy', hashed: 0 };
const UNCHANGED: Decision = { action: 'unchanged', hashed: 0 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class FileSync {
  private readonly stats: Stats;
  private readonly now: () => number;
  private manifest: Manifest | null = null;
  private readyFlag = false;
  private lastSkipKey = '0/0';
  private manifestWritten = false;

  constructor(private readonly opts: FileSyncOptions) {
    this.stats = createStats(opts.registry);
    this.now = opts.now ?? Date.now;
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** The manifest's path relative to the source root when the manifest lives inside it (never synced). */
  private manifestRelInSource(): Set<string> {
    const rel = relative(this.opts.source, this.opts.manifestPath);
    return rel.startsWith('..') || rel === '' ? new Set() : new Set([rel.split(sep).join('/')]);
  }

  private async loadManifestOnce(): Promise<Manifest> {
    if (this.manifest !== null) return this.manifest;
    const { manifest, problem } = await loadManifest(this.opts.manifestPath, this.opts.source);
    if (problem !== null) {
      this.stats.manifestProblems.inc();
      this.opts.log.warn('manifest unusable, starting a new one (files will be re-hashed, not re-copied if equal)', { path: this.opts.manifestPath, problem });
    }
    this.manifest = manifest;
    await this.sweepDest();
    return manifest;
  }

  /** Once, at startup: walks the destination and removes temps of copies whose process died. */
  private async sweepDest(): Promise<void> {
    const walk = async (dir: string): Promise<void> => {
      const removed = await sweepStaleTemps(dir);
      if (removed.length > 0) {
        this.stats.tempsSwept.inc(removed.length);
        this.opts.log.warn('removed temp files left by a copy that died mid-write', { files: removed.length, dir });
      }
      for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await walk(join(dir, e.name));
    };
    try {
      await walk(this.opts.dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no destination yet: nothing to sweep
      this.stats.fileErrors.inc();
      this.opts.log.warn('cannot sweep stale temp files in the destination', { error: errorText(err) });
    }
  }

  /** One full round. Throws only when the round as a whole cannot run (source root unreadable). */
  async syncOnce(): Promise<RoundReport> {
    const { source, dest, filter, log } = this.opts;
    const started = this.now();
    this.stats.rounds.inc();
    const manifest = await this.loadManifestOnce();
    const scan = await scanTree(source, filter, log, this.manifestRelInSource());
    this.opts.onScanned?.(scan.dirs);
    this.stats.skippedLinks.inc(scan.skippedLinks);
    this.stats.skippedSpecial.inc(scan.skippedSpecial);
    this.stats.unreadableDirs.inc(scan.unreadableDirs.length);
    // Warn when the count changes, not every round: a permanent symlink would flood the log.
    const skipKey = `${scan.skippedLinks}/${scan.skippedSpecial}`;
    if (scan.skippedLinks + scan.skippedSpecial > 0 && skipKey !== this.lastSkipKey) {
      log.warn('skipped symlinks or special files in the source', { symlinks: scan.skippedLinks, special: scan.skippedSpecial });
    }
    this.lastSkipKey = skipKey;
    this.stats.files.set(scan.files.size);

    const report: RoundReport = { copied: [], adopted: [], deleted: [], unstable: [], failed: [], unchanged: 0, hashed: 0 };
    let dirty = false;
    const toCopy: Array<[string, FileStat]> = [];
    for (const [rel, st] of scan.files) {
      try {
        const d = await this.decide(rel, st, manifest.files[rel]);
        report.hashed += d.hashed;
        if (d.action === 'copy') toCopy.push([rel, st]);
        else if (d.action === 'unchanged') report.unchanged++;
        else {
          manifest.files[rel] = d.entry;
          dirty = true;
          if (d.action === 'adopted') report.adopted.push(rel);
          else report.unchanged++;
        }
      } catch (err) {
        this.fileError(report, rel, 'compare', err);
      }
    }

    const stable = await this.settle(toCopy, report);
    const renamedIn = new Set<string>();
    for (const [rel, st] of stable) {
      try {
        const r = await copyFileAtomic(join(source, rel), join(dest, rel), st, false);
        if (r.kind === 'unstable') {
          this.markUnstable(report, rel);
          continue;
        }
        renamedIn.add(dirname(join(dest, rel)));
        const destStat = await lstat(join(dest, rel));
        manifest.files[rel] = { size: r.bytes, mtimeMs: st.mtimeMs, destMtimeMs: destStat.mtimeMs, sha256: r.sha256, syncedAt: new Date(this.now()).toISOString() };
        dirty = true;
        report.copied.push(rel);
        this.stats.copied.inc();
        this.stats.bytes.inc(r.bytes);
      } catch (err) {
        this.fileError(report, rel, 'copy', err);
      }
    }

    if (this.opts.deletePropagation) dirty = (await this.propagateDeletions(scan.files, scan.unreadableDirs, manifest, report)) || dirty;

    // One fsync per directory that received renames, before the manifest claims the copies: the
    // per-file data fsync already happened, this makes the renames themselves durable.
    for (const dir of renamedIn) {
      try {
        await fsyncDir(dir);
      } catch (err) {
        this.stats.fileErrors.inc();
        log.warn('cannot fsync a destination directory', { dir, error: errorText(err) });
      }
    }
    this.stats.hashed.inc(report.hashed);
    // The first round always writes it, so an empty source still leaves a manifest saying so.
    if (dirty || !this.manifestWritten) {
      manifest.updatedAt = new Date(this.now()).toISOString();
      await saveManifest(this.opts.manifestPath, manifest);
      this.manifestWritten = true;
    }
    const seconds = (this.now() - started) / 1000;
    this.stats.lastDuration.set(seconds);
    this.stats.lastSuccess.set(this.now() / 1000);
    if (!this.readyFlag) {
      this.readyFlag = true;
      this.stats.ready.set(1);
      log.info('first round done: ready', { files: scan.files.size });
    }
    const changed = report.copied.length + report.deleted.length + report.adopted.length + report.unstable.length + report.failed.length;
    (changed > 0 ? log.info : log.debug)('round done', {
      copied: report.copied.length, adopted: report.adopted.length, deleted: report.deleted.length, unchanged: report.unchanged,
      hashed: report.hashed, unstable: report.unstable.length, failed: report.failed.length, seconds: seconds.toFixed(3),
    });
    return report;
  }

  private fileError(report: RoundReport, rel: string, step: string, err: unknown): void {
    report.failed.push(rel);
    this.stats.fileErrors.inc();
    this.opts.log.warn(`cannot ${step} a file, will retry next round`, { file: rel, error: errorText(err) });
  }

  private markUnstable(report: RoundReport, rel: string): void {
    report.unstable.push(rel);
    this.stats.unstable.inc();
    this.opts.log.warn('file is still being written, not copied this round', { file: rel });
  }

  private async decide(rel: string, st: FileStat, entry: ManifestEntry | undefined): Promise<Decision> {
    const destPath = join(this.opts.dest, rel);
    let d;
    try {
      d = await lstat(destPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return COPY;
      throw err;
    }
    if (!d.isFile()) throw new Error(`destination ${rel} exists and is not a regular file`);
    if (d.size !== st.size) return COPY;
    const destUntouched = entry !== undefined && entry.size === d.size && entry.destMtimeMs === d.mtimeMs;
    if (destUntouched) {
      if (entry.size === st.size && entry.mtimeMs === st.mtimeMs) return UNCHANGED;
      // Same size, new mtime: often a rewrite with the same bytes (a touch, a restore). Hash to be sure.
      const srcHash = await sha256File(join(this.opts.source, rel));
      if (srcHash !== entry.sha256) return { action: 'copy', hashed: 1 };
      return { action: 'touched', hashed: 1, entry: await this.alignMtime(destPath, st, srcHash, entry.syncedAt) };
    }
    // First sight of this destination file (or someone changed it): compare bytes.
    const [srcHash, destHash] = await Promise.all([sha256File(join(this.opts.source, rel)), sha256File(destPath)]);
    if (srcHash !== destHash) return { action: 'copy', hashed: 2 };
    return { action: 'adopted', hashed: 2, entry: await this.alignMtime(destPath, st, srcHash, new Date(this.now()).toISOString()) };
  }

  /** Gives an equal destination file the source's mtime, so the next round decides on size+mtime alone. */
  private async alignMtime(destPath: string, st: FileStat, sha256: string, syncedAt: string): Promise<ManifestEntry> {
    const when = st.mtimeMs / 1000; // seconds as a double: a Date would truncate to the millisecond
    await utimes(destPath, when, when);
    const after = await lstat(destPath);
    return { size: st.size, mtimeMs: st.mtimeMs, destMtimeMs: after.mtimeMs, sha256, syncedAt };
  }

  /**
   * Files modified within the settle time get one wait (shared by all of them) and a re-stat;
   * those whose size or mtime moved are left for a later round. Older files skip the wait.
   */
  private async settle(candidates: Array<[string, FileStat]>, report: RoundReport): Promise<Array<[string, FileStat]>> {
    const { settleMs, source } = this.opts;
    const now = this.now();
    const recent = candidates.filter(([, st]) => now - st.mtimeMs < settleMs);
    if (recent.length === 0) return candidates;
    await sleep(settleMs);
    const moved = new Set<string>();
    for (const [rel, st] of recent) {
      try {
        const again = await lstat(join(source, rel));
        if (again.size !== st.size || again.mtimeMs !== st.mtimeMs) moved.add(rel);
      } catch (err) {
        // Gone during the wait: not an error, the next round sees it missing.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fileError(report, rel, 'stat', err);
        moved.add(rel);
        continue;
      }
    }
    for (const rel of moved) if (!report.failed.includes(rel)) this.markUnstable(report, rel);
    return candidates.filter(([rel]) => !moved.has(rel));
  }

  /**
   * Deletes destination files that we copied (they are in the manifest) and whose source is gone.
   * Two guards: files under a source directory we could not read are kept, and a source with no
   * files at all while the manifest has some is treated as an unmounted or wiped volume: no deletes.
   */
  private async propagateDeletions(
    present: ReadonlyMap<string, FileStat>, unreadableDirs: readonly string[], manifest: Manifest, report: RoundReport,
  ): Promise<boolean> {
    const gone = Object.keys(manifest.files).filter((rel) =>
      !present.has(rel) && this.opts.filter.wantsFile(rel) && !unreadableDirs.some((d) => rel.startsWith(`${d}/`)));
    if (gone.length === 0) return false;
    if (present.size === 0) {
      this.stats.deletionsRefused.inc();
      this.opts.log.warn('source has no files: refusing to delete the destination copies (is the volume mounted?)', { would_delete: gone.length });
      return false;
    }
    let dirty = false;
    for (const rel of gone) {
      const destPath = join(this.opts.dest, rel);
      try {
        await unlink(destPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.fileError(report, rel, 'delete', err);
          continue;
        }
      }
      delete manifest.files[rel];
      dirty = true;
      report.deleted.push(rel);
      this.stats.deleted.inc();
      await this.removeEmptyParents(dirname(destPath));
    }
    return dirty;
  }

  /** Removes directories left empty by a delete, up to (not including) the destination root. */
  private async removeEmptyParents(dir: string): Promise<void> {
    const root = this.opts.dest;
    while (dir !== root && dir.startsWith(root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // ENOTEMPTY (the usual case) or gone: stop climbing; nothing to report
      }
      dir = dirname(dir);
    }
  }
}
