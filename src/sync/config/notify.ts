// How the app learns that its config changed: a signal (by pid file, or by name when the pod shares
// one process namespace: `shareProcessNamespace: true`), a POST to a reload URL, or nothing when
// the app watches the file itself. pillion's own proxy reloads on SIGHUP.
import { readFile, readdir } from 'node:fs/promises';
import { basename } from 'node:path';

export interface Notifier {
  readonly description: string;
  /** Throws with a loggable message when the app could not be told. */
  notify(): Promise<void>;
}

export class NoNotifier implements Notifier {
  readonly description = 'none (the app watches the file)';
  async notify(): Promise<void> {}
}

export class PidFileSignalNotifier implements Notifier {
  readonly description: string;
  constructor(private readonly pidFile: string, private readonly signal: NodeJS.Signals) {
    this.description = `signal ${signal} to the pid in ${pidFile}`;
  }

  async notify(): Promise<void> {
    // Read on every change: the app may have restarted with a new pid since the last one.
    const text = (await readFile(this.pidFile, 'utf8')).trim();
    const pid = Number(text);
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${this.pidFile} does not hold a pid: '${text.slice(0, 20)}'`);
    process.kill(pid, this.signal);
  }
}

/** Linux truncates /proc/<pid>/comm to 15 bytes. */
const COMM_LEN = 15;

/**
 * Finds processes by name in /proc: the kernel's `comm`, or the base name of argv[0] or argv[1]
 * (a script run by an interpreter, such as `node /usr/local/bin/pillion proxy`, is `node` in comm).
 * `withArg` narrows the match to processes with that exact argument (`proxy`, so that a HUP for
 * `pillion proxy` never reaches another pillion mode). Our own pid is never a match.
 */
export async function findProcessesByName(name: string, withArg?: string, procRoot = '/proc'): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let comm: string;
    let argv: string[];
    try {
      comm = (await readFile(`${procRoot}/${entry}/comm`, 'utf8')).trim();
      argv = (await readFile(`${procRoot}/${entry}/cmdline`, 'utf8')).split('\0');
    } catch {
      continue; // the process exited between readdir and read: not a match, not an error
    }
    const a0 = argv[0] ? basename(argv[0]) : '';
    const a1 = argv[1] ? basename(argv[1]) : '';
    if (withArg !== undefined && !argv.includes(withArg)) continue;
    if (comm === name.slice(0, COMM_LEN) || a0 === name || a1 === name) pids.push(pid);
  }
  return pids;
}

export class ProcessNameSignalNotifier implements Notifier {
  readonly description: string;
  constructor(
    private readonly name: string, private readonly signal: NodeJS.Signals, private readonly withArg?: string, private readonly procRoot = '/proc',
  ) {
    this.description = `signal ${signal} to processes named ${name}${withArg === undefined ? '' : ` with argument ${withArg}`}`;
  }

  async notify(): Promise<void> {
    const pids = await findProcessesByName(this.name, this.withArg, this.procRoot);
    if (pids.length === 0) throw new Error(`no process matches: ${this.description} (is shareProcessNamespace on?)`);
    let signalled = 0;
    for (const pid of pids) {
      try {
        process.kill(pid, this.signal);
        signalled++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // exited meanwhile: skip it
      }
    }
    if (signalled === 0) throw new Error(`every process named ${this.name} exited before the signal`);
  }
}

export class HttpPostNotifier implements Notifier {
  readonly description: string;
  constructor(private readonly url: string, private readonly timeoutMs: number, redactedUrl: string) {
    this.description = `POST ${redactedUrl}`;
  }

  async notify(): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      throw new Error(`reload POST failed: ${cause?.code ?? (err as Error).message}`);
    }
    await res.body?.cancel();
    if (res.status < 200 || res.status > 299) throw new Error(`reload POST answered ${res.status}`);
  }
}
