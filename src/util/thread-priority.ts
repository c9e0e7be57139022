// A thread's own scheduling priority. On Linux, nice is per thread: setpriority(PRIO_PROCESS, tid)
// (what os.setPriority calls) changes only the thread with that id, and /proc/thread-self names the
// calling thread. Raising one's own nice needs no privilege.
import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The calling thread's kernel id (its tid), or null where /proc/thread-self is not there. */
export function threadTid(): number | null {
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** The nice value of a thread of this process, from /proc (field 19 of stat), or null. */
export function threadNice(tid: number): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    return Number.isInteger(nice) ? nice : null;
  } catch {
    return null;
  }
}

/**
 * Sets the calling thread's nice value (Linux; elsewhere a no-op). Returns whether it was set: false
 * where threads cannot be told apart or the call is refused (a seccomp profile, say), and the thread
 * then runs at the process's priority, as it would without this.
 */
export function setThisThreadNice(nice: number): boolean {
  if (process.platform !== 'linux') return false;
  const tid = threadTid();
  if (tid === null) return false;
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
