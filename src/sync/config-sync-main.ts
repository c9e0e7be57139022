// `pillion config-sync`: flags -> source, validator, notifier -> the loop, plus /ready and /metrics.
// The work is in config/; this file only wires and owns the process lifecycle.
import { watch, type FSWatcher } from 'node:fs';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import {
  UsageError, durationFlag, flagBool, flagString, helpText, numberFlag, parseFlags, parseListenAddress, type FlagSpec,
} from './common/cli-args.js';
import { createLogger, errorText, parseFormat, parseLevel } from './common/log.js';
import { Registry } from './common/metrics.js';
import { parseSignal } from './common/signals.js';
import { startStatusServer, type StatusServer } from './common/status-server.js';
import { watchProcessSignals } from './common/stop-signal.js';
import { ConfigSync } from './config/config-sync.js';
import { ConfigMapSource, LocalFileSource } from './config/file-source.js';
import { HttpSource, redactUrl, type AuthValue } from './config/http-source.js';
import { HttpPostNotifier, NoNotifier, PidFileSignalNotifier, ProcessNameSignalNotifier, type Notifier } from './config/notify.js';
import type { ConfigSource } from './config/source.js';
import { createValidator, formatForPath, type ConfigFormat } from './config/validate.js';

/** Exported so the docs test can check that every example in docs/sync.md uses real flags. */
export const CONFIG_SYNC_FLAGS: Record<string, FlagSpec> = {
  url: { kind: 'string', help: 'source: an http(s) URL (conditional GET with ETag / Last-Modified)' },
  file: { kind: 'string', help: 'source: a local file' },
  'configmap-dir': { kind: 'string', help: 'source: a mounted ConfigMap directory (with --key); follows the ..data symlink swap' },
  key: { kind: 'string', help: 'the ConfigMap key (file name) to sync' },
  dest: { kind: 'string', help: 'destination file (required); written atomically, only when the content changed' },
  format: { kind: 'string', help: 'json | yaml | raw | auto (default auto: from the --dest extension); json and yaml are parsed before writing' },
  schema: { kind: 'string', help: 'JSON Schema file; a config that fails it is refused and the last good one stays' },
  'allow-empty': { kind: 'bool', help: 'accept an empty config (refused by default)' },
  'auth-header': { kind: 'string', help: 'name of the auth header for --url (default Authorization)' },
  'auth-file': { kind: 'string', help: 'file holding the auth header value (re-read every poll; never logged)' },
  'auth-env': { kind: 'string', help: 'environment variable holding the auth header value (never logged)' },
  signal: { kind: 'string', help: 'signal to send after a change (default HUP), with --pid-file or --signal-process-name' },
  'pid-file': { kind: 'string', help: 'notify: signal the pid in this file' },
  'signal-process-name': { kind: 'string', help: 'notify: signal every process with this name (shared process namespace)' },
  'signal-process-arg': { kind: 'string', help: 'with --signal-process-name: only processes that have this exact argument (e.g. proxy)' },
  'reload-url': { kind: 'string', help: 'notify: POST to this URL after a change' },
  interval: { kind: 'string', help: 'poll interval (default 30s)' },
  jitter: { kind: 'string', help: 'poll interval jitter as a fraction, 0-1 (default 0.1 = ±10%)' },
  'backoff-base': { kind: 'string', help: 'first retry delay after a failure (default 1s), doubling, with jitter' },
  'backoff-max': { kind: 'string', help: 'longest retry delay (default 2m)' },
  timeout: { kind: 'string', help: 'HTTP timeout for the source and the reload URL (default 10s)' },
  'max-bytes': { kind: 'string', help: 'largest config accepted (default 16777216)' },
  'status-addr': { kind: 'string', help: 'host:port for /ready, /healthz, /metrics, or off (default 0.0.0.0:15020)' },
  once: { kind: 'bool', help: 'sync once and exit (0 on success, 1 on failure): for an init container' },
  'log-level': { kind: 'string', help: 'debug | info | warn | error (default info)' },
  'log-format': { kind: 'string', help: 'text | json (default text), as pillion proxy' },
  help: { kind: 'bool', help: 'this text' },
};

const FOOTER = `Exactly one of --url, --file, --configmap-dir. At most one of --pid-file, --signal-process-name, --reload-url.
SIGTERM/SIGINT: finish the current round and exit 0. SIGHUP: sync now.
Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage.`;

interface Wiring {
  source: ConfigSource;
  notifier: Notifier;
  dest: string;
  format: ConfigFormat;
  schema: string | undefined;
  watchDir: string | null;
}

function wire(flags: ReturnType<typeof parseFlags>, timeoutMs: number, maxBytes: number): Wiring {
  const url = flagString(flags, 'url');
  const file = flagString(flags, 'file');
  const cmDir = flagString(flags, 'configmap-dir');
  const key = flagString(flags, 'key');
  const given = [url, file, cmDir].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one source: --url, --file or --configmap-dir');
  const dest = flagString(flags, 'dest');
  if (dest === undefined || dest === '') throw new UsageError('--dest is required');

  const authFile = flagString(flags, 'auth-file');
  const authEnv = flagString(flags, 'auth-env');
  if (authFile !== undefined && authEnv !== undefined) throw new UsageError('give one of --auth-file and --auth-env');
  const authValue: AuthValue | undefined = authFile !== undefined ? { file: authFile } : authEnv !== undefined ? { env: authEnv } : undefined;
  const authHeader = flagString(flags, 'auth-header');
  if (authHeader !== undefined && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(authHeader)) throw new UsageError(`--auth-header: '${authHeader}' is not a header name`);
  if ((authValue !== undefined || authHeader !== undefined) && url === undefined) throw new UsageError('--auth-file, --auth-env and --auth-header need --url');
  if (authHeader !== undefined && authValue === undefined) throw new UsageError('--auth-header needs --auth-file or --auth-env');

  let source: ConfigSource;
  let watchDir: string | null = null;
  if (url !== undefined) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError(`--url: '${redactUrl(url)}' is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError('--url must be http:// or https://');
    source = new HttpSource({
      url, timeoutMs, maxBytes,
      ...(authValue !== undefined ? { auth: { header: authHeader ?? 'Authorization', value: authValue } } : {}),
    });
  } else if (file !== undefined) {
    source = new LocalFileSource(file, maxBytes);
  } else {
    if (key === undefined || key === '' || key.includes('/') || key.startsWith('..')) throw new UsageError('--configmap-dir needs --key <file name in the directory>');
    source = new ConfigMapSource(cmDir as string, key, maxBytes);
    watchDir = cmDir as string;
  }
  if (key !== undefined && cmDir === undefined) throw new UsageError('--key goes with --configmap-dir');

  const pidFile = flagString(flags, 'pid-file');
  const procName = flagString(flags, 'signal-process-name');
  const procArg = flagString(flags, 'signal-process-arg');
  if (procArg !== undefined && procName === undefined) throw new UsageError('--signal-process-arg goes with --signal-process-name');
  const reloadUrl = flagString(flags, 'reload-url');
  const signalText = flagString(flags, 'signal');
  if ([pidFile, procName, reloadUrl].filter((x) => x !== undefined).length > 1) {
    throw new UsageError('give at most one of --pid-file, --signal-process-name, --reload-url');
  }
  if (signalText !== undefined && pidFile === undefined && procName === undefined) throw new UsageError('--signal needs --pid-file or --signal-process-name');
  const signal = parseSignal('signal', signalText ?? 'HUP');
  let notifier: Notifier = new NoNotifier();
  if (pidFile !== undefined) notifier = new PidFileSignalNotifier(pidFile, signal);
  else if (procName !== undefined) notifier = new ProcessNameSignalNotifier(procName, signal, procArg);
  else if (reloadUrl !== undefined) {
    try {
      new URL(reloadUrl);
    } catch {
      throw new UsageError(`--reload-url: '${redactUrl(reloadUrl)}' is not a URL`);
    }
    notifier = new HttpPostNotifier(reloadUrl, timeoutMs, redactUrl(reloadUrl));
  }

  const formatText = flagString(flags, 'format') ?? 'auto';
  if (!['auto', 'json', 'yaml', 'raw'].includes(formatText)) throw new UsageError(`--format: '${formatText}' is not json, yaml, raw or auto`);
  const format = formatText === 'auto' ? formatForPath(dest) : (formatText as ConfigFormat);
  const schema = flagString(flags, 'schema');
  if (schema !== undefined && format === 'raw') throw new UsageError('--schema needs a json or yaml config (set --format or name --dest *.json / *.yaml)');
  return { source, notifier, dest, format, schema, watchDir };
}

export async function main(argv: string[]): Promise<number> {
  let flags;
  let wiring: Wiring;
  let validate;
  let opts;
  try {
    flags = parseFlags(argv, CONFIG_SYNC_FLAGS);
    if (flagBool(flags, 'help')) {
      process.stdout.write(helpText('Usage: pillion config-sync (--url U | --file F | --configmap-dir D --key K) --dest PATH [options]', CONFIG_SYNC_FLAGS, FOOTER));
      return EXIT_OK;
    }
    const level = parseLevel(flagString(flags, 'log-level'));
    if (level === null) throw new UsageError('--log-level must be debug, info, warn or error');
    const logFormat = parseFormat(flagString(flags, 'log-format'));
    if (logFormat === null) throw new UsageError('--log-format must be text or json');
    const timeoutMs = durationFlag(flags, 'timeout', 10_000);
    const maxBytes = numberFlag(flags, 'max-bytes', 16 * 1024 * 1024, 1, 1024 * 1024 * 1024);
    opts = {
      level, logFormat,
      intervalMs: durationFlag(flags, 'interval', 30_000),
      jitter: numberFlag(flags, 'jitter', 0.1, 0, 1),
      backoffBaseMs: durationFlag(flags, 'backoff-base', 1000),
      backoffMaxMs: durationFlag(flags, 'backoff-max', 120_000),
      status: parseListenAddress('status-addr', flagString(flags, 'status-addr') ?? '0.0.0.0:15020'),
    };
    if (opts.intervalMs < 10) throw new UsageError('--interval must be at least 10ms');
    wiring = wire(flags, timeoutMs, maxBytes);
    try {
      validate = createValidator(wiring.format, wiring.schema, flagBool(flags, 'allow-empty'));
    } catch (err) {
      throw new UsageError(`--schema: cannot use ${wiring.schema}: ${errorText(err)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pillion config-sync: ${err.message}\n(pillion config-sync --help lists the options)\n`);
      return EXIT_USAGE;
    }
    throw err;
  }

  const log = createLogger('config-sync', { level: opts.level, format: opts.logFormat });
  const registry = new Registry();
  const sync = new ConfigSync({
    source: wiring.source, dest: wiring.dest, validate, notifier: wiring.notifier, log, registry,
    intervalMs: opts.intervalMs, jitter: opts.jitter, backoffBaseMs: opts.backoffBaseMs, backoffMaxMs: opts.backoffMaxMs,
  });
  log.info('starting', { source: wiring.source.description, dest: wiring.dest, format: wiring.format, notify: wiring.notifier.description });

  if (flagBool(flags, 'once')) {
    const { outcome } = await sync.round();
    return outcome === null ? EXIT_FAILURE : EXIT_OK;
  }

  // Handlers go in before anything slow, so an early SIGTERM still gets the clean stop (and a
  // SIGHUP never hits the default action, which would kill us).
  const signals = watchProcessSignals(() => sync.syncNow());
  log.info('signal handlers installed: SIGTERM/SIGINT stop, SIGHUP syncs now');
  let server: StatusServer | null = null;
  if (opts.status !== null) {
    try {
      server = await startStatusServer(opts.status.host, opts.status.port, () => sync.ready, registry);
      log.info('status server listening', { addr: `${opts.status.host}:${server.port}` });
    } catch (err) {
      log.error('cannot start the status server', { addr: `${opts.status.host}:${opts.status.port}`, error: errorText(err) });
      signals.dispose();
      return EXIT_FAILURE;
    }
  }

  // The kubelet's symlink swap shows up as a directory event: sync at once instead of waiting out
  // the poll interval. Polling stays on, because inotify on a volume can miss events.
  let watcher: FSWatcher | null = null;
  if (wiring.watchDir !== null) {
    const watchErrors = registry.counter('pillion_config_sync_watch_errors_total', 'fs.watch failures on the ConfigMap directory (polling continues).');
    const onWatchError = (err: unknown): void => {
      watchErrors.inc();
      log.warn('cannot watch the ConfigMap directory, polling only', { dir: wiring.watchDir, error: errorText(err) });
      watcher?.close();
      watcher = null;
    };
    try {
      watcher = watch(wiring.watchDir, () => sync.syncNow());
      watcher.on('error', onWatchError);
    } catch (err) {
      onWatchError(err);
    }
  }

  const running = sync.run();
  const sig = await Promise.race([signals.stopped, running.then(() => null)]);
  log.info('stopping', { signal: sig ?? 'none' });
  sync.stop();
  await running;
  (watcher as FSWatcher | null)?.close();
  await server?.close();
  signals.dispose();
  return EXIT_OK;
}
