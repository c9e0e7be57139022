// `pillion file-sync`: flags -> FileSync + its loop, /ready and /metrics, a source watcher in
// on-change mode, and the SIGTERM contract: finish the round in flight, run a final one, exit 0.
import { join, resolve, sep } from 'node:path';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import {
  UsageError, durationFlag, flagBool, flagList, flagString, helpText, numberFlag, parseFlags, parseListenAddress, type FlagSpec,
} from './common/cli-args.js';
import { createLogger, errorText, parseFormat, parseLevel } from './common/log.js';
import { Registry } from './common/metrics.js';
import { startStatusServer, type StatusServer } from './common/status-server.js';
import { watchProcessSignals } from './common/stop-signal.js';
import { FileSync } from './files/file-sync.js';
import { FileSyncLoop } from './files/file-sync-loop.js';
import { PathFilter } from './files/glob.js';
import { TreeWatcher } from './files/tree-watcher.js';

export const MANIFEST_NAME = '.pillion-sync-manifest.json';

/** Exported so the docs test can check that every example in docs/sync.md uses real flags. */
export const FILE_SYNC_FLAGS: Record<string, FlagSpec> = {
  source: { kind: 'string', help: 'directory to back up (required)' },
  dest: { kind: 'string', help: 'destination directory, e.g. a mounted volume (required)' },
  include: { kind: 'list', help: 'only paths matching this glob (`*.db`, `data/**`); default everything' },
  exclude: { kind: 'list', help: 'skip paths matching this glob (`*.tmp`, `cache/**`)' },
  delete: { kind: 'bool', help: 'delete destination files whose source is gone (only files this sync copied)' },
  manifest: { kind: 'string', help: `manifest path (default <dest>/${MANIFEST_NAME})` },
  mode: { kind: 'string', help: 'interval | on-change (default interval)' },
  interval: { kind: 'string', help: 'interval mode: time between rounds (default 60s)' },
  rescan: { kind: 'string', help: 'on-change mode: full rescan period, in case a watch event is missed (default 5m)' },
  settle: { kind: 'string', help: 'a file modified this recently must keep its size and mtime this long before it is copied (default 2s)' },
  jitter: { kind: 'string', help: 'interval jitter as a fraction, 0-1 (default 0.1)' },
  'backoff-base': { kind: 'string', help: 'first retry delay after a failed round (default 1s)' },
  'backoff-max': { kind: 'string', help: 'longest retry delay (default 2m)' },
  'status-addr': { kind: 'string', help: 'host:port for /ready, /healthz, /metrics, or off (default 0.0.0.0:15021)' },
  once: { kind: 'bool', help: 'one round, then exit (0 if it ran, 1 if it failed)' },
  'log-level': { kind: 'string', help: 'debug | info | warn | error (default info)' },
  'log-format': { kind: 'string', help: 'text | json (default text), as pillion proxy' },
  help: { kind: 'bool', help: 'this text' },
};

const FOOTER = `Files are compared by size and mtime, then by SHA-256 when those cannot decide; copies are atomic.
SIGTERM/SIGINT: finish the current round, run a final one, exit 0. SIGHUP: sync now.
Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage.`;

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

export async function main(argv: string[]): Promise<number> {
  let cfg;
  try {
    const flags = parseFlags(argv, FILE_SYNC_FLAGS);
    if (flagBool(flags, 'help')) {
      process.stdout.write(helpText('Usage: pillion file-sync --source DIR --dest DIR [options]', FILE_SYNC_FLAGS, FOOTER));
      return EXIT_OK;
    }
    const level = parseLevel(flagString(flags, 'log-level'));
    if (level === null) throw new UsageError('--log-level must be debug, info, warn or error');
    const logFormat = parseFormat(flagString(flags, 'log-format'));
    if (logFormat === null) throw new UsageError('--log-format must be text or json');
    const srcFlag = flagString(flags, 'source');
    const destFlag = flagString(flags, 'dest');
    if (srcFlag === undefined || srcFlag === '') throw new UsageError('--source is required');
    if (destFlag === undefined || destFlag === '') throw new UsageError('--dest is required');
    const source = resolve(srcFlag);
    const dest = resolve(destFlag);
    // Nested trees would copy the backup into itself (or back up the backup) every round.
    if (inside(dest, source) || inside(source, dest)) throw new UsageError('--source and --dest must not be the same or inside each other');
    const mode = flagString(flags, 'mode') ?? 'interval';
    if (mode !== 'interval' && mode !== 'on-change') throw new UsageError(`--mode: '${mode}' is not interval or on-change`);
    if (mode === 'interval' && flags.has('rescan')) throw new UsageError('--rescan goes with --mode on-change (use --interval)');
    if (mode === 'on-change' && flags.has('interval')) throw new UsageError('--interval goes with --mode interval (use --rescan)');
    const periodMs = mode === 'interval' ? durationFlag(flags, 'interval', 60_000) : durationFlag(flags, 'rescan', 300_000);
    if (periodMs < 10) throw new UsageError(`--${mode === 'interval' ? 'interval' : 'rescan'} must be at least 10ms`);
    const includes = flagList(flags, 'include');
    const excludes = flagList(flags, 'exclude');
    for (const g of [...includes, ...excludes]) if (g === '') throw new UsageError('--include/--exclude: empty glob');
    cfg = {
      level, logFormat, source, dest, mode: mode as 'interval' | 'on-change', periodMs, includes, excludes,
      manifestPath: resolve(flagString(flags, 'manifest') ?? join(dest, MANIFEST_NAME)),
      deletePropagation: flagBool(flags, 'delete'),
      settleMs: durationFlag(flags, 'settle', 2000),
      jitter: numberFlag(flags, 'jitter', 0.1, 0, 1),
      backoffBaseMs: durationFlag(flags, 'backoff-base', 1000),
      backoffMaxMs: durationFlag(flags, 'backoff-max', 120_000),
      status: parseListenAddress('status-addr', flagString(flags, 'status-addr') ?? '0.0.0.0:15021'),
      once: flagBool(flags, 'once'),
    };
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pillion file-sync: ${err.message}\n(pillion file-sync --help lists the options)\n`);
      return EXIT_USAGE;
    }
    throw err;
  }

  const log = createLogger('file-sync', { level: cfg.level, format: cfg.logFormat });
  const registry = new Registry();
  // Set in on-change mode; every scan hands it the directories to watch.
  let treeWatcher: TreeWatcher | null = null;
  const sync = new FileSync({
    source: cfg.source, dest: cfg.dest, manifestPath: cfg.manifestPath, filter: new PathFilter(cfg.includes, cfg.excludes),
    deletePropagation: cfg.deletePropagation, settleMs: cfg.settleMs, log, registry,
    onScanned: (dirs) => treeWatcher?.reconcile(dirs),
  });
  log.info('starting', { source: cfg.source, dest: cfg.dest, mode: cfg.mode, delete: cfg.deletePropagation, manifest: cfg.manifestPath });

  if (cfg.once) {
    try {
      await sync.syncOnce();
      return EXIT_OK;
    } catch (err) {
      log.error('sync failed', { error: errorText(err) });
      return EXIT_FAILURE;
    }
  }

  // Handlers go in before anything slow, so an early SIGTERM still gets the clean stop (and a
  // SIGHUP never hits the default action, which would kill us).
  const loop = new FileSyncLoop(sync, {
    mode: cfg.mode, intervalMs: cfg.periodMs, jitter: cfg.jitter, backoffBaseMs: cfg.backoffBaseMs, backoffMaxMs: cfg.backoffMaxMs,
    debounceMs: Math.min(cfg.settleMs, 1000),
  }, log, registry);
  const signals = watchProcessSignals(() => loop.poke());
  log.info('signal handlers installed: SIGTERM/SIGINT stop after a final sync, SIGHUP syncs now');
  let server: StatusServer | null = null;
  if (cfg.status !== null) {
    try {
      server = await startStatusServer(cfg.status.host, cfg.status.port, () => sync.ready, registry);
      log.info('status server listening', { addr: `${cfg.status.host}:${server.port}` });
    } catch (err) {
      log.error('cannot start the status server', { addr: `${cfg.status.host}:${cfg.status.port}`, error: errorText(err) });
      signals.dispose();
      return EXIT_FAILURE;
    }
  }

  if (cfg.mode === 'on-change') {
    const watchErrors = registry.counter('pillion_file_sync_watch_errors_total', 'fs.watch failures on source directories (the periodic rescan covers them).');
    treeWatcher = new TreeWatcher(cfg.source, () => loop.poke(), (dir, err) => {
      watchErrors.inc();
      log.warn('cannot watch a source directory, relying on the periodic rescan for it', { dir: dir === '' ? '.' : dir, error: errorText(err) });
    });
  }

  const running = loop.run();
  const sig = await signals.stopped;
  log.info('stopping', { signal: sig });
  (treeWatcher as TreeWatcher | null)?.close();
  loop.stop();
  await running;
  await server?.close();
  signals.dispose();
  log.info('stopped');
  return EXIT_OK;
}
