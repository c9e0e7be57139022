// SIGTERM/SIGINT end a long-running sync mode after its final work; SIGHUP asks for a sync now.
// Handling SIGHUP matters: config-sync can signal processes *by name*, and if the app and the
// sidecars share a binary name, a HUP meant for the app must not kill a sidecar (HUP's default action).

export interface ProcessSignals {
  /** Resolves on the first SIGTERM or SIGINT. */
  readonly stopped: Promise<NodeJS.Signals>;
  /** Removes the handlers (call once the mode has finished). */
  dispose(): void;
}

export function watchProcessSignals(onHup: () => void): ProcessSignals {
  let resolveStop!: (s: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((r) => { resolveStop = r; });
  const onStop = (sig: NodeJS.Signals): void => resolveStop(sig);
  const hup = (): void => onHup();
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', hup);
  return {
    stopped,
    dispose: () => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', hup);
    },
  };
}

/** A sleep that a wake-up (new change, stop request) can cut short. */
export class Waker {
  private wake: ((poked: boolean) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending = false;

  /** Resolves true when poke() cut it short, false when the time ran out. */
  sleep(ms: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => this.fire(false), ms);
    });
  }

  /** Ends the current sleep now, or makes the next one return at once. */
  poke(): void {
    if (this.wake === null) this.pending = true;
    else this.fire(true);
  }

  private fire(poked: boolean): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const w = this.wake;
    this.wake = null;
    w?.(poked);
  }
}
