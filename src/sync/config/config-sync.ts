// The config-sync loop: fetch (conditionally), validate, write atomically only when the bytes
// differ from what is on disk, then tell the app. A failure at any step leaves the destination as
// it was, logs at warn, counts in pillion_config_sync_failures_total{reason}, and backs off.
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { sweepStaleTemps, writeFileAtomic } from '../common/atomic-write.js';
import { backoffDelay, jitteredInterval, type Random } from '../common/backoff.js';
import { errorText, type Logger } from '../common/log.js';
import type { Counter, Gauge, Registry } from '../common/metrics.js';
import { Waker } from '../common/stop-signal.js';
import { NoNotifier, type Notifier } from './notify.js';
import type { ConfigSource } from './source.js';
import type { Validator } from './validate.js';

export type FailureReason = 'source' | 'invalid' | 'write' | 'notify';

/** What one round did (the oracle for tests, and the log line). */
export type Outcome = 'updated' | 'unchanged' | 'not_modified' | 'restored';

export class SyncFailure extends Error {
  readonly code = 'PILLION_SYNC_FAILED';
  constructor(readonly reason: FailureReason, message: string) {
    super(message);
  }
}

export interface ConfigSyncOptions {
  source: ConfigSource;
  dest: string;
  validate: Validator;
  notifier: Notifier;
  log: Logger;
  registry: Registry;
  intervalMs: number;
  jitter: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  random?: Random;
  now?: () => number;
}

interface Stats {
  polls: Counter;
  downloads: Counter;
  notModified: Counter;
  updates: Counter;
  notifications: Counter;
  failures: Record<FailureReason, Counter>;
  lastSuccess: Gauge;
  lastUpdate: Gauge;
  consecutiveFailures: Gauge;
  ready: Gauge;
  configBytes: Gauge;
  tempsSwept: Counter;
  sweepErrors: Counter;
}

function createStats(r: Registry): Stats {
  const p = 'pillion_config_sync_';
  const failure = (reason: FailureReason): Counter =>
    r.counter(`${p}failures_total`, 'Failures by step: source, invalid and write fail the round; notify does not undo the write and is retried.', { reason });
  return {
    polls: r.counter(`${p}polls_total`, 'Sync rounds started.'),
    downloads: r.counter(`${p}downloads_total`, 'Full config bodies read from the source (HTTP 200 or a new file version).'),
    notModified: r.counter(`${p}not_modified_total`, 'Rounds where the source said nothing changed (HTTP 304, same ..data target, same file version).'),
    updates: r.counter(`${p}updates_total`, 'Atomic writes of the destination file.'),
    notifications: r.counter(`${p}notifications_total`, 'Successful reload notifications to the app.'),
    failures: { source: failure('source'), invalid: failure('invalid'), write: failure('write'), notify: failure('notify') },
    lastSuccess: r.gauge(`${p}last_success_timestamp_seconds`, 'Unix time of the last successful sync round (0 before the first).'),
    lastUpdate: r.gauge(`${p}last_update_timestamp_seconds`, 'Unix time the destination was last written (0 if never).'),
    consecutiveFailures: r.gauge(`${p}consecutive_failures`, 'Failed rounds since the last good one.'),
    ready: r.gauge(`${p}ready`, '1 once a good config is on disk, as /ready reports.'),
    configBytes: r.gauge(`${p}config_bytes`, 'Size of the last good config.'),
    tempsSwept: r.counter(`${p}temp_files_swept_total`, 'Temp files of a writer that died mid-write, removed at startup.'),
    sweepErrors: r.counter(`${p}temp_sweep_errors_total`, 'Startup sweeps of stale temp files that failed (the temps stay).'),
  };
}

export class ConfigSync {
  private readonly stats: Stats;
  private readonly waker = new Waker();
  private readonly now: () => number;
  /** The last config we accepted, kept to restore the destination if someone deletes it. */
  private lastGood: Buffer | null = null;
  private notifyPending = false;
  private failures = 0;
  private stopping = false;
  private readyFlag = false;
  private swept = false;

  constructor(private readonly opts: ConfigSyncOptions) {
    this.stats = createStats(opts.registry);
    this.now = opts.now ?? Date.now;
  }

  /** True after the first good round; /ready follows this. */
  get ready(): boolean {
    return this.readyFlag;
  }

  /** One round. Resolves with what happened; rejects with a SyncFailure. */
  async syncOnce(): Promise<Outcome> {
    const { source, log } = this.opts;
    if (!this.swept) await this.sweep();
    this.stats.polls.inc();
    let outcome: Outcome;
    let replaced = false;
    let result;
    try {
      result = await source.fetch();
    } catch (err) {
      throw new SyncFailure('source', `${source.description}: ${errorText(err)}`);
    }
    if (result.kind === 'not_modified') {
      this.stats.notModified.inc();
      const wrote = this.lastGood === null ? 'same' : await this.writeIfChanged(this.lastGood);
      outcome = wrote === 'same' ? 'not_modified' : 'restored';
      replaced = wrote === 'replaced';
    } else {
      this.stats.downloads.inc();
      const verdict = this.opts.validate(result.body);
      if (!verdict.ok) throw new SyncFailure('invalid', `refused config from ${source.description}, keeping the last good one: ${verdict.reason}`);
      const wrote = await this.writeIfChanged(result.body);
      outcome = wrote === 'same' ? 'unchanged' : 'updated';
      replaced = wrote === 'replaced';
      source.accept();
      this.lastGood = result.body;
      this.stats.configBytes.set(result.body.length);
    }
    if (outcome === 'updated' || outcome === 'restored') {
      this.stats.updates.inc();
      this.stats.lastUpdate.set(this.now() / 1000);
      // Tell the app only when a file it may have loaded was replaced. A file that did not exist
      // cannot be loaded yet (the app, held by /ready, typically starts after it), and signalling a
      // process that is not there yet would only log a warning. With no notifier the app watches.
      if (replaced && !(this.opts.notifier instanceof NoNotifier)) this.notifyPending = true;
      log.info('config written', { dest: this.opts.dest, bytes: this.lastGood?.length, outcome });
    }
    this.markGood();
    if (this.notifyPending) await this.notify();
    return outcome;
  }

  /** Once: a previous instance killed mid-write leaves a temp beside the destination. */
  private async sweep(): Promise<void> {
    this.swept = true;
    try {
      const removed = await sweepStaleTemps(dirname(this.opts.dest), basename(this.opts.dest));
      if (removed.length > 0) {
        this.stats.tempsSwept.inc(removed.length);
        this.opts.log.warn('removed temp files left by a writer that died mid-write', { files: removed });
      }
    } catch (err) {
      this.stats.sweepErrors.inc();
      this.opts.log.warn('cannot sweep stale temp files', { dir: dirname(this.opts.dest), error: errorText(err) });
    }
  }

  private markGood(): void {
    this.failures = 0;
    this.stats.consecutiveFailures.set(0);
    this.stats.lastSuccess.set(this.now() / 1000);
    if (!this.readyFlag) {
      this.readyFlag = true;
      this.stats.ready.set(1);
      this.opts.log.info('first good sync: ready', { dest: this.opts.dest });
    }
  }

  /** Notification failures do not undo the write; the notification is retried next round. */
  private async notify(): Promise<void> {
    try {
      await this.opts.notifier.notify();
      this.notifyPending = false;
      this.stats.notifications.inc();
      this.opts.log.info('app notified', { how: this.opts.notifier.description });
    } catch (err) {
      this.stats.failures.notify.inc();
      this.opts.log.warn('could not notify the app, will retry next round', { how: this.opts.notifier.description, error: errorText(err) });
    }
  }

  /** Compares with the bytes on disk (not a remembered hash) so an edited or deleted file is repaired. */
  private async writeIfChanged(body: Buffer): Promise<'same' | 'created' | 'replaced'> {
    const { dest } = this.opts;
    let existed = false;
    try {
      const current = await readFile(dest);
      if (current.equals(body)) return 'same';
      existed = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SyncFailure('write', `cannot read ${dest} to compare: ${errorText(err)}`);
      }
    }
    try {
      await mkdir(dirname(dest), { recursive: true });
      await writeFileAtomic(dest, body);
    } catch (err) {
      throw new SyncFailure('write', `cannot write ${dest}: ${errorText(err)}`);
    }
    return existed ? 'replaced' : 'created';
  }

  /** A round that never throws: failures are logged, counted and turned into the next delay. */
  async round(): Promise<{ outcome: Outcome | null; delayMs: number }> {
    const o = this.opts;
    try {
      const outcome = await this.syncOnce();
      o.log.debug('sync round', { outcome });
      return { outcome, delayMs: jitteredInterval(o.intervalMs, o.jitter, o.random) };
    } catch (err) {
      const reason: FailureReason = err instanceof SyncFailure ? err.reason : 'source';
      this.stats.failures[reason].inc();
      this.failures++;
      this.stats.consecutiveFailures.set(this.failures);
      // Backoff, not the poll interval: the first retries come quickly (so a pod becomes ready soon
      // after the centre recovers) and later ones spread out (so a down centre is not hammered).
      const delayMs = backoffDelay(this.failures, o.backoffBaseMs, o.backoffMaxMs, o.random);
      o.log.warn('sync failed', { reason, error: errorText(err), consecutive: this.failures, retry_in_ms: Math.round(delayMs) });
      return { outcome: null, delayMs };
    }
  }

  /** Polls until stop(). */
  async run(): Promise<void> {
    while (!this.stopping) {
      const { delayMs } = await this.round();
      if (this.stopping) break;
      await this.waker.sleep(delayMs);
    }
  }

  /** Ask for a round now (SIGHUP, a ConfigMap directory event). */
  syncNow(): void {
    this.waker.poke();
  }

  stop(): void {
    this.stopping = true;
    this.waker.poke();
  }
}
