// Walks the source tree and returns what a sync round works on: regular files that pass the
// filter, with size and mtime. Symlinks and special files are skipped (and counted): following
// links could leave the source tree or loop, and a FIFO would block the copy forever.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isTempName } from '../common/atomic-write.js';
import { errorText, type Logger } from '../common/log.js';
import type { PathFilter } from './glob.js';

export interface FileStat {
  size: number;
  mtimeMs: number;
  mode: number;
}

export interface ScanResult {
  files: Map<string, FileStat>;
  skippedLinks: number;
  skippedSpecial: number;
  /** Subdirectories that could not be read; their files are absent from `files`. */
  unreadableDirs: string[];
  /** Directories walked ('' is the root): what on-change mode watches. */
  dirs: string[];
}

/** Throws when the root itself cannot be read (an unmounted volume must not look like "empty"). */
export async function scanTree(root: string, filter: PathFilter, log: Logger, skipRel: ReadonlySet<string> = new Set()): Promise<ScanResult> {
  const out: ScanResult = { files: new Map(), skippedLinks: 0, skippedSpecial: 0, unreadableDirs: [], dirs: [] };
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) throw new Error(`${root} is not a directory`);
  const walk = async (dirRel: string): Promise<void> => {
    const abs = dirRel === '' ? root : join(root, dirRel);
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      if (dirRel === '') throw err;
      out.unreadableDirs.push(dirRel);
      log.warn('cannot read a source directory, skipping it this round', { dir: dirRel, error: errorText(err) });
      return;
    }
    out.dirs.push(dirRel);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (isTempName(e.name)) continue;
      const rel = dirRel === '' ? e.name : `${dirRel}/${e.name}`;
      if (skipRel.has(rel)) continue;
      if (e.isDirectory()) {
        if (!filter.prunesDir(rel)) await walk(rel);
      } else if (e.isFile()) {
        if (!filter.wantsFile(rel)) continue;
        try {
          const st = await lstat(join(root, rel));
          if (st.isFile()) out.files.set(rel, { size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
        } catch (err) {
          // Deleted between readdir and lstat: the file is simply not part of this round.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      } else if (e.isSymbolicLink()) {
        if (filter.wantsFile(rel)) out.skippedLinks++;
      } else if (filter.wantsFile(rel)) {
        out.skippedSpecial++;
      }
    }
  };
  await walk('');
  return out;
}
