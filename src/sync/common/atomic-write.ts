// Replace a file so that a reader sees either the old bytes or the new bytes, never a mix.
// rename(2) within one directory is atomic on POSIX file systems, so the temp file must live in the
// destination's own directory (a temp in /tmp could be on another mount, turning rename into a copy).
// fsync before rename makes the data durable before the name points at it; fsync of the directory
// makes the rename itself survive a crash.
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Every temp file name contains this, so scans and sweeps can recognise and skip them. */
export const TEMP_MARKER = '.pillion-tmp-';

export function tempPathFor(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`);
}

export function isTempName(name: string): boolean {
  return name.includes(TEMP_MARKER);
}

/** fsync a directory so a rename or unlink in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface AtomicWriteOptions {
  /** File mode for a new file; an existing destination keeps its own mode. */
  mode?: number;
  /** Set the new file's mtime (file-sync keeps the source mtime so size+mtime comparisons work). */
  mtime?: Date;
}

/**
 * Writes `data` to `dest` atomically. On any failure the temp file is removed and the destination
 * is untouched.
 */
export async function writeFileAtomic(dest: string, data: Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(dest);
  let mode = opts.mode ?? 0o644;
  try {
    mode = (await stat(dest)).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const fh = await open(tmp, 'wx', mode);
  let renamed = false;
  try {
    try {
      await fh.writeFile(data);
      // open() applies the umask; chmod makes the mode exactly what the old file had.
      await fh.chmod(mode);
      if (opts.mtime !== undefined) await fh.utimes(opts.mtime, opts.mtime);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
    renamed = true;
    await fsyncDir(dirname(dest));
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined); // best effort: the write error is the one to report
  }
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive but not ours to signal; only ESRCH proves the writer is gone.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes temp files left in `dir` by a writer that died mid-write (SIGKILL, OOM kill, node
 * eviction). The writer's pid is in the name; a temp whose writer is still alive is left alone.
 * `onlyFor` limits the sweep to temps of one destination file name (config-sync shares its
 * directory with other writers). Returns the paths removed.
 */
export async function sweepStaleTemps(dir: string, onlyFor?: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return removed; // no such directory: nothing to sweep
    throw err;
  }
  for (const name of names) {
    const at = name.indexOf(TEMP_MARKER);
    if (at === -1 || (onlyFor !== undefined && name.slice(0, at) !== `.${onlyFor}`)) continue;
    const pid = Number(name.slice(at + TEMP_MARKER.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || pidIsAlive(pid)) continue;
    try {
      await unlink(join(dir, name));
      removed.push(join(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}
