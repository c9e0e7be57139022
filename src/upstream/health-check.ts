// Active HTTP health checks, run by the main thread: one timer per endpoint, a GET of the configured
// path, and the verdict (after healthy_threshold / unhealthy_threshold in a row) written to the
// endpoint's health slot in shared memory, where every data plane's load balancer reads it.
import { request } from 'node:http';
import type { HealthCheck } from '../config/types.js';
import type { ClusterStats } from '../stats/names.js';
import { log } from '../util/log.js';
import { HEALTH_EPOCH } from './shared-policy.js';

class EndpointCheck {
  private timer: NodeJS.Timeout | null = null;
  private successes = 0;
  private failures = 0;
  private inFlight = false;

  constructor(
    private readonly cluster: string,
    private readonly origin: string,
    private readonly hc: HealthCheck,
    private readonly slot: number,
    private readonly shared: Int32Array,
    private readonly stats: Float64Array,
    private readonly cs: ClusterStats,
  ) {}

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.hc.interval_ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    if (this.inFlight) return;
    this.inFlight = true;
    this.stats[this.cs.hcAttempt]++;
    const u = new URL(this.hc.path, this.origin);
    let settled = false;
    const done = (ok: boolean, why: string) => {
      if (settled) return;
      settled = true;
      this.inFlight = false;
      this.verdict(ok, why);
    };
    const req = request(u, { method: 'GET', timeout: this.hc.timeout_ms, headers: { 'user-agent': 'pillion-health-check' } }, (res) => {
      res.resume();
      const s = res.statusCode ?? 0;
      done(this.hc.expected_statuses.some(([a, b]) => s >= a && s < b), `status ${s}`);
    });
    req.on('timeout', () => { req.destroy(); done(false, 'timeout'); });
    req.on('error', (err) => done(false, err.message));
    req.end();
  }

  private verdict(ok: boolean, why: string): void {
    const healthy = Atomics.load(this.shared, this.slot) === 1;
    if (ok) {
      this.stats[this.cs.hcSuccess]++;
      this.failures = 0;
      if (!healthy && ++this.successes >= this.hc.healthy_threshold) this.set(1, 'healthy', why);
    } else {
      this.stats[this.cs.hcFailure]++;
      this.successes = 0;
      if (healthy && ++this.failures >= this.hc.unhealthy_threshold) this.set(0, 'unhealthy', why);
    }
  }

  private set(v: number, word: string, why: string): void {
    Atomics.store(this.shared, this.slot, v);
    Atomics.add(this.shared, HEALTH_EPOCH, 1);
    log.info(`health check: endpoint is ${word}`, { cluster: this.cluster, endpoint: this.origin, last: why });
  }
}

export class HealthChecker {
  private readonly checks: EndpointCheck[] = [];

  add(cluster: string, origin: string, hc: HealthCheck, slot: number, shared: Int32Array, stats: Float64Array, cs: ClusterStats): void {
    this.checks.push(new EndpointCheck(cluster, origin, hc, slot, shared, stats, cs));
  }

  start(): void { for (const c of this.checks) c.start(); }
  stop(): void { for (const c of this.checks) c.stop(); }
}
