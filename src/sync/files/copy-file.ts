// One file's atomic copy: read the source once, hashing as we go, into a temp file beside the
// destination; fsync, carry the mode and mtime, rename, fsync the directory. If the source changed
// while we read it (a writer we did not see during the settle time), the copy is thrown away:
// a torn backup is worse than a backup one round late.
import { createHash } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, tempPathFor } from '../common/atomic-write.js';
import type { FileStat } from './scan.js';

const CHUNK = 1 << 20;

export type CopyResult = { kind: 'copied'; sha256: string; bytes: number } | { kind: 'unstable' };

function sameStat(a: { size: number; mtimeMs: number }, b: { size: number; mtimeMs: number }): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/**
 * Copies `src` to `dest` if it still matches `expected` before and after the read.
 * `syncDir: false` leaves the directory fsync to the caller, who can do it once per directory per
 * round (file-sync does, before it writes the manifest that records the copies).
 */
export async function copyFileAtomic(src: string, dest: string, expected: FileStat, syncDir = true): Promise<CopyResult> {
  await mkdir(dirname(dest), { recursive: true });
  const input = await open(src, 'r');
  const tmp = tempPathFor(dest);
  let renamed = false;
  try {
    const before = await input.stat();
    if (!sameStat(before, expected)) return { kind: 'unstable' };
    const output = await open(tmp, 'wx', expected.mode & 0o777);
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        await output.write(chunk);
        bytes += bytesRead;
      }
      await output.chmod(expected.mode & 0o7777);
      // Seconds as a number, not a Date: a Date truncates to the millisecond, a double keeps ~0.1 µs.
      const mtime = expected.mtimeMs / 1000;
      await output.utimes(mtime, mtime);
      await output.sync();
    } finally {
      await output.close();
    }
    // Both the open file (appends, truncation) and the path (replaced by rename) must be unchanged.
    const after = await input.stat();
    let pathNow;
    try {
      pathNow = await stat(src);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'unstable' };
      throw err;
    }
    if (!sameStat(after, expected) || bytes !== expected.size || pathNow.ino !== before.ino || !sameStat(pathNow, expected)) {
      return { kind: 'unstable' };
    }
    await rename(tmp, dest);
    renamed = true;
    if (syncDir) await fsyncDir(dirname(dest));
    return { kind: 'copied', sha256: hash.digest('hex'), bytes };
  } finally {
    await input.close();
    if (!renamed) await unlink(tmp).catch(() => undefined); // best effort; ENOENT when open(tmp) failed
  }
}
