// The loop around FileSync rounds: interval or on-change pacing, backoff after failed rounds, a
// quick retry for files that were still being written, and the final round on stop.
import { backoffDelay, jitteredInterval } from '../common/backoff.js';
import { errorText, type Logger } from '../common/log.js';
import type { Counter, Registry } from '../common/metrics.js';
import { Waker } from '../common/stop-signal.js';
import type { FileSync, RoundReport } from './file-sync.js';

export interface LoopOptions {
  mode: 'interval' | 'on-change';
  intervalMs: number;
  jitter: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** on-change: how long to wait after the first event before the round. */
  debounceMs: number;
}

/**
 * Runs rounds until stop(), then one final round so that what the app wrote before SIGTERM is in
 * the backup. In on-change mode a change wakes the loop early; the interval is the rescan period.
 */
export class FileSyncLoop {
  private readonly waker = new Waker();
  private stopping = false;
  private failures = 0;
  /** Consecutive rounds that left files to retry (unstable or failed). */
  private retryStreak = 0;
  private readonly roundFailures: Counter;

  constructor(private readonly sync: FileSync, private readonly opts: LoopOptions, private readonly log: Logger, registry: Registry) {
    this.roundFailures = registry.counter('pillion_file_sync_round_failures_total', 'Rounds that failed as a whole (source unreadable, manifest not written).');
  }

  private async guardedRound(): Promise<RoundReport | null> {
    try {
      const report = await this.sync.syncOnce();
      this.failures = 0;
      return report;
    } catch (err) {
      this.failures++;
      this.roundFailures.inc();
      this.log.warn('sync round failed', { error: errorText(err), consecutive: this.failures });
      return null;
    }
  }

  async run(): Promise<void> {
    const o = this.opts;
    while (!this.stopping) {
      const report = await this.guardedRound();
      if (this.stopping) break;
      let delay: number;
      if (report === null) delay = backoffDelay(this.failures, o.backoffBaseMs, o.backoffMaxMs);
      else if (report.unstable.length > 0 || report.failed.length > 0) {
        // Files skipped as still-being-written are retried soon, not a whole interval later; but a
        // file that is *always* being written (an active log) must not turn this into a full rescan
        // every few seconds, so the retries back off, up to the interval.
        this.retryStreak++;
        delay = Math.min(o.intervalMs, backoffDelay(this.retryStreak, o.backoffBaseMs, o.backoffMaxMs));
      } else {
        this.retryStreak = 0;
        delay = jitteredInterval(o.intervalMs, o.jitter);
      }
      const woken = await this.waker.sleep(delay);
      // A save usually fires a burst of events: wait one debounce so the burst becomes one round.
      if (woken && !this.stopping && o.mode === 'on-change') await this.waker.sleep(o.debounceMs);
    }
    this.log.info('final sync before exit');
    const final = await this.guardedRound();
    if (final === null) this.log.warn('final sync failed; the destination has the previous round');
  }

  /** A change in the source (on-change mode) or SIGHUP. */
  poke(): void {
    this.waker.poke();
  }

  stop(): void {
    this.stopping = true;
    this.waker.poke();
  }
}
