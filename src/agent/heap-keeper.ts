// Keeps the agent's heap near its live size between scrapes.
//
// Measured (docs/agent.md, Footprint): at one scrape a second V8 ran 600 scrapes without a single
// major GC. Each scrape promotes some kB of garbage to the old generation, and V8 sizes the first
// old-generation limit from the machine's RAM, so RSS climbed by 4 MB in six minutes with a constant
// live heap of about 4 MB. With a gc() (lean-v8.ts provides one; or node --expose-gc), a full GC
// runs once the agent has been idle for IDLE_MS after a scrape and the heap has grown SLACK_BYTES
// past what the previous GC left: with Prometheus' intervals, a few ms every few dozen scrapes, in
// the gap between two of them. A burst of back-to-back scrapes keeps pushing the timer back, so it
// never pauses a scrape; V8's own incremental GC handles bursts. Without a gc() this does nothing
// and V8's heuristics apply.
import { getHeapStatistics } from 'node:v8';

const SLACK_BYTES = 1024 * 1024;
const IDLE_MS = 500;

export class HeapKeeper {
  private readonly gc: (() => void) | undefined;
  private baseline: number;
  private timer: NodeJS.Timeout | undefined;
  /** Full GCs run, for tests. */
  collections = 0;

  constructor(gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc, private readonly slackBytes = SLACK_BYTES, private readonly idleMs = IDLE_MS) {
    this.gc = gc;
    this.baseline = getHeapStatistics().used_heap_size;
  }

  /** Called when a scrape's response is complete. */
  afterScrape(): void {
    if (this.gc === undefined) return;
    if (this.timer !== undefined) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => this.onIdle(), this.idleMs);
    this.timer.unref();
  }

  private onIdle(): void {
    this.timer = undefined;
    if (getHeapStatistics().used_heap_size - this.baseline < this.slackBytes) return;
    this.gc!();
    this.collections++;
    this.baseline = getHeapStatistics().used_heap_size;
  }
}
