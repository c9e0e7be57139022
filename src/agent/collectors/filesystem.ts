// filesystem: size, free and available bytes, inodes and read-only state of every mounted
// filesystem in /proc/1/mountinfo, via statfs(2) (node_exporter 1.5 collector/filesystem_linux.go:
// same names, help texts, labels device/fstype/mountpoint and default excludes).
//
// statfs on a dead NFS server blocks in the kernel, possibly forever. Node runs fs.statfs on a
// libuv thread-pool thread, so the scrape can give up after --collector.filesystem.mount-timeout
// (the mount gets node_filesystem_device_error 1), but the thread stays blocked. Like
// node_exporter's stuckMounts, a mount whose statfs has not returned is not asked again until it
// does; that bounds the blocked threads to the number of hung mounts instead of one per scrape.
//
// Only filesystems that could hang take that path. statfs on a local disk or tmpfs answers from
// counters the kernel keeps in memory, in microseconds; sending it through the thread pool cost
// each scrape a thread wake-up per mount and an event-loop turn per answer, and on a busy node that
// scheduling was the agent's latency tail (docs/agent.md, Footprint). So local types are asked
// synchronously, unless the path to them crosses a mount that could hang.
import { statfs, statfsSync, type StatsFs } from 'node:fs';
import { join } from 'node:path';
import { isNotFound, procPath, readText, type Collector } from '../collector.js';
import { filterFromFlags, type DeviceFilter } from '../device-filter.js';
import { DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE } from '../flags.js';
import { MetricDesc, type MetricSet } from '../exposition.js';
import type { CollectorContext, CollectorFactory } from './context.js';

const labels = ['device', 'mountpoint', 'fstype'];
const sizeDesc = new MetricDesc('node_filesystem_size_bytes', 'Filesystem size in bytes.', 'gauge', labels);
const freeDesc = new MetricDesc('node_filesystem_free_bytes', 'Filesystem free space in bytes.', 'gauge', labels);
const availDesc = new MetricDesc('node_filesystem_avail_bytes', 'Filesystem space available to non-root users in bytes.', 'gauge', labels);
const filesDesc = new MetricDesc('node_filesystem_files', 'Filesystem total file nodes.', 'gauge', labels);
const filesFreeDesc = new MetricDesc('node_filesystem_files_free', 'Filesystem total free file nodes.', 'gauge', labels);
const readonlyDesc = new MetricDesc('node_filesystem_readonly', 'Filesystem read-only status.', 'gauge', labels);
const deviceErrorDesc = new MetricDesc('node_filesystem_device_error', 'Whether an error occurred while getting statistics for the given device.', 'gauge', labels);

export interface Mount {
  device: string;
  mountPoint: string;
  fsType: string;
  /**
   * Read-only as node_exporter 1.5 saw it in /proc/mounts, whose "ro" means the mount *or* its
   * superblock is read-only; mountinfo splits the two (per-mount field 6, super options last).
   */
  readOnly: boolean;
}

/** Undoes the octal escapes the kernel applies to mountinfo paths (\040 space, \011 tab, \134 backslash...). */
function unescapeOctal(s: string): string {
  if (s.indexOf('\\') === -1) return s; // almost every path: no escape, no RegExp
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/<pid>/mountinfo (proc(5)): the optional fields end at the " - " separator. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const f = line.trim().split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep === -1 || sep + 2 >= f.length) throw new Error(`malformed mount point information: ${JSON.stringify(line)}`);
    mounts.push({
      device: unescapeOctal(f[sep + 2]!),
      mountPoint: unescapeOctal(f[4]!),
      fsType: f[sep + 1]!,
      readOnly: f[5]!.split(',').includes('ro') || (f[sep + 3] ?? '').split(',').includes('ro'),
    });
  }
  return mounts;
}

/**
 * Filesystems whose statfs(2) cannot wait on a server, a daemon (FUSE) or a device: the kernel
 * answers from in-memory superblock counters. Anything else (nfs, cifs, fuse.*, ceph, 9p, autofs,
 * a type we do not know) goes through the thread pool with the timeout.
 */
export const LOCAL_FS_TYPES: ReadonlySet<string> = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'f2fs', 'vfat', 'exfat', 'tmpfs', 'ramfs']);
/** Kernel pseudo filesystems: path lookup through them never blocks, so they do not make a mount below them unsafe. */
const PSEUDO_FS_TYPES: ReadonlySet<string> = new Set(['overlay', 'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'nsfs',
  'mqueue', 'securityfs', 'debugfs', 'tracefs', 'configfs', 'bpf', 'pstore', 'hugetlbfs', 'fusectl', 'binfmt_misc', 'efivarfs', 'rpc_pipefs']);

type StatfsResult = { ok: true; st: StatsFs } | { ok: false; err: Error };
/** fs.statfs's callback form; injectable so tests can simulate a hung NFS mount. */
export type StatfsFn = (path: string, cb: (err: NodeJS.ErrnoException | null, st: StatsFs) => void) => void;
/** fs.statfsSync; injectable for tests. */
export type StatfsSyncFn = (path: string) => StatsFs;

export class FilesystemCollector implements Collector {
  readonly name = 'filesystem';
  private readonly mountPoints: DeviceFilter;
  private readonly fsTypes: DeviceFilter;
  /** Mount points whose statfs timed out and has not returned yet. */
  private readonly stuck = new Set<string>();

  constructor(private readonly ctx: CollectorContext, private readonly statfsFn: StatfsFn = statfs, private readonly statfsSyncFn: StatfsSyncFn = statfsSync) {
    const o = ctx.opts;
    this.mountPoints = filterFromFlags('collector.filesystem.mount-points-exclude', 'collector.filesystem.mount-points-include',
      o.filesystemMountPointsExclude, o.filesystemMountPointsInclude, DEFAULT_MOUNT_POINTS_EXCLUDE);
    this.fsTypes = filterFromFlags('collector.filesystem.fs-types-exclude', 'collector.filesystem.fs-types-include',
      o.filesystemFsTypesExclude, o.filesystemFsTypesInclude, DEFAULT_FS_TYPES_EXCLUDE);
  }

  /** A promise only while some statfs runs in the thread pool, so that a scrape of local mounts stays synchronous. */
  update(out: MetricSet): Promise<void> | void {
    const { rootfs } = this.ctx.paths;
    const seen = new Set<string>();
    const pending: Promise<void>[] = [];
    const mounts = this.mounts();
    const mayBlock = mountPointsThatMayBlock(mounts);
    for (let i = 0; i < mounts.length; i++) {
      const m = mounts[i]!;
      const mountPoint = stripRootfs(rootfs, m.mountPoint);
      if (this.mountPoints.ignored(mountPoint) || this.fsTypes.ignored(m.fsType)) continue;
      const key = `${m.device}\u0000${mountPoint}\u0000${m.fsType}`;
      if (seen.has(key)) continue; // bind mounts and over-mounts repeat the same triple
      seen.add(key);
      const lv = [m.device, mountPoint, m.fsType];
      const path = rootfs === '/' ? mountPoint : join(rootfs, mountPoint);
      if (LOCAL_FS_TYPES.has(m.fsType) && !isBelowAny(m.mountPoint, mayBlock)) {
        let r: StatfsResult;
        try {
          r = { ok: true, st: this.statfsSyncFn(path) };
        } catch (err) {
          r = { ok: false, err: err as Error };
        }
        this.report(out, r, m, lv, path);
        continue;
      }
      if (this.stuck.has(mountPoint)) {
        this.ctx.logger.debug('Mount point is in an unresponsive state', { mountpoint: mountPoint });
        out.add(deviceErrorDesc, 1, ...lv);
        continue;
      }
      pending.push(this.statfsWithTimeout(path, mountPoint).then((r) => this.report(out, r, m, lv, path)));
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  }

  private report(out: MetricSet, r: StatfsResult, m: Mount, lv: string[], path: string): void {
    if (!r.ok) {
      this.ctx.logger.debug('Error on statfs() system call', { rootfs: path, err: r.err });
      out.add(deviceErrorDesc, 1, ...lv);
      return;
    }
    const { st } = r;
    out.add(deviceErrorDesc, 0, ...lv);
    out.add(sizeDesc, st.blocks * st.bsize, ...lv);
    out.add(freeDesc, st.bfree * st.bsize, ...lv);
    out.add(availDesc, st.bavail * st.bsize, ...lv);
    out.add(filesDesc, st.files, ...lv);
    out.add(filesFreeDesc, st.ffree, ...lv);
    out.add(readonlyDesc, m.readOnly ? 1 : 0, ...lv);
  }

  /** The host's mounts: PID 1's view, or our own when hidepid hides PID 1. */
  private mounts(): Mount[] {
    try {
      return parseMountinfo(readText(procPath(this.ctx.paths, '1/mountinfo')));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.ctx.logger.debug('Reading /proc/1/mountinfo failed, falling back to /proc/self/mountinfo', { err });
      return parseMountinfo(readText(procPath(this.ctx.paths, 'self/mountinfo')));
    }
  }

  private statfsWithTimeout(path: string, mountPoint: string): Promise<StatfsResult> {
    return new Promise((resolve) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.stuck.add(mountPoint);
        this.ctx.logger.warn('Mount point timed out, it is being labeled as stale and will not be monitored until it responds', {
          mountpoint: mountPoint, timeout_ms: this.ctx.opts.filesystemMountTimeoutMs,
        });
        resolve({ ok: false, err: new Error(`statfs timed out after ${this.ctx.opts.filesystemMountTimeoutMs}ms`) });
      }, this.ctx.opts.filesystemMountTimeoutMs);
      try {
        this.statfsFn(path, (err, st) => {
          if (timedOut) {
            // The late answer is dropped: that scrape is long gone. The mount is usable again.
            this.stuck.delete(mountPoint);
            this.ctx.logger.info('Mount point has recovered, monitoring will resume', { mountpoint: mountPoint });
            return;
          }
          clearTimeout(timer);
          resolve(err ? { ok: false, err } : { ok: true, st });
        });
      } catch (err) {
        // A path node refuses before any syscall (e.g. a NUL from a mangled mountinfo line).
        clearTimeout(timer);
        resolve({ ok: false, err: err as Error });
      }
    });
  }
}

/**
 * Mount points (host paths, as in mountinfo) of filesystems that are neither local nor kernel
 * pseudo filesystems: looking up a path below one of them can wait on its server, so a local mount
 * under an NFS mount still goes through the thread pool. Usually empty or a handful.
 */
export function mountPointsThatMayBlock(mounts: readonly Mount[]): string[] {
  const out: string[] = [];
  for (const m of mounts) if (!LOCAL_FS_TYPES.has(m.fsType) && !PSEUDO_FS_TYPES.has(m.fsType)) out.push(m.mountPoint);
  return out;
}

/** True when `mountPoint` is one of `roots` or below one. */
export function isBelowAny(mountPoint: string, roots: readonly string[]): boolean {
  for (const r of roots) {
    if (mountPoint === r || r === '/' || mountPoint.startsWith(r.endsWith('/') ? r : `${r}/`)) return true;
  }
  return false;
}

/** Mount points as the host sees them: with --path.rootfs=/host, "/host/boot" is reported as "/boot". */
export function stripRootfs(rootfs: string, mountPoint: string): string {
  if (rootfs === '/' || rootfs === '') return mountPoint;
  const prefix = rootfs.replace(/\/+$/, '');
  if (mountPoint !== prefix && !mountPoint.startsWith(`${prefix}/`)) return mountPoint;
  return mountPoint.slice(prefix.length) || '/';
}

export const filesystemFactory: CollectorFactory = { name: 'filesystem', defaultEnabled: true, create: (ctx) => new FilesystemCollector(ctx) };
