// The main thread of `pillion proxy`: owns the config, the stat registry, the admin port and the data
// planes (itself, or worker threads), reloads on SIGHUP or file change, restarts dead workers, and
// runs the drain on SIGTERM or /quitquitquit.
import { mkdtempSync, readFileSync, rmSync, unwatchFile, watch, watchFile, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPair } from '../front/tls-config.js';
import { makeSelfSigned } from '../front/tls.js';
import { createServer } from 'node:net';
import { AdminServer, type AdminControl } from '../admin/server.js';
import { loadConfig, type Overrides } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../config/validate.js';
import { nativeFront } from '../front/uws.js';
import type { ServerStats } from '../stats/names.js';
import { StatRegistry, newStatBuffer, sumStats } from '../stats/registry.js';
import type { ExtraSample, PromNaming } from '../stats/render.js';
import { log } from '../util/log.js';
import { version } from '../util/version.js';
import { filterSlotKey, type Plan } from './data-plane.js';
import { FILTERS } from '../chain/registry.js';
import { BREAKER_SLOTS, ENDPOINT_SLOTS, SlotAllocator, newPolicyBuffer } from '../upstream/shared-policy.js';
import { HealthChecker } from '../upstream/health-check.js';
import { countEstablished } from './connections.js';
import { LocalPlane, WorkerPlane, type Plane } from './planes.js';
import { L4Plane } from '../l4/plane.js';
import { redact } from './redact.js';
import { Shipper } from '../telemetry/shipper.js';
import { MetricsPool } from '../telemetry/metrics-pool.js';
import type { RecordBatch } from '../telemetry/record.js';
import type { HistogramSummary } from '../workers/metrics.worker.js';

export interface SupervisorOptions {
  configFile?: string;
  overrides: Overrides;
  watch: boolean;
}

export class Supervisor implements AdminControl {
  readonly registry = new StatRegistry();
  private readonly serverStats: ServerStats;
  private readonly mainStats = new Float64Array(newStatBuffer());
  private readonly policyBuffer = newPolicyBuffer();
  private readonly slots = new SlotAllocator(new Int32Array(this.policyBuffer));
  private readonly epoch = Date.now();
  private lastPlan!: Plan;
  private healthChecker: HealthChecker | null = null;
  /** The development certificate (`tls.self_signed`), made once, in a private directory removed at exit. */
  private selfSigned: { dir: string; cert: string; key: string } | null = null;
  private readonly watchedCerts = new Set<string>();
  private readonly shipper: Shipper;
  private readonly onAccessLog = (b: RecordBatch) => this.shipper.submit(b);
  private readonly metricsPool = new MetricsPool();
  /** The worst data-plane event-loop delay p99 at the last scrape, ms. */
  private eventLoopP99Ms = 0;
  private rotationTimer: NodeJS.Timeout | null = null;
  private config!: Config;
  private planes: Plane[] = [];
  private admin: AdminServer | null = null;
  private adminPort = 0;
  private started = false;
  private listenersDrained = false;
  private draining = false;
  private healthFailed = false;
  private readonly startedAt = Date.now();
  private watcher: FSWatcher | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private stopped!: Promise<number>;
  private resolveStopped!: (code: number) => void;

  constructor(private readonly opts: SupervisorOptions) {
    this.serverStats = this.registry.server();
    const ss = this.serverStats;
    this.shipper = new Shipper({
      stats: this.mainStats, written: ss.accessLogWritten, shipped: ss.accessLogShipped, spooled: ss.accessLogSpooled,
      dropped: ss.accessLogDropped, batchesFailed: ss.accessLogBatchesFailed, retries: ss.accessLogRetries,
    });
    this.stopped = new Promise((r) => (this.resolveStopped = r));
  }

  /** Starts everything; resolves with the exit code when the proxy has stopped. */
  async run(): Promise<number> {
    this.config = loadConfig(this.opts.configFile, this.opts.overrides).config; // throws ConfigError
    await this.prepareTls(this.config);
    await this.claimPorts(this.config);
    // The admin port first: it is bound exclusively, so a second pillion fails here before it has
    // touched any listener; /ready says PRE_INITIALIZING until the listeners are up.
    this.admin = new AdminServer(this);
    const { address, port } = this.config.admin;
    this.adminPort = await this.admin.listen(address, port).catch((err: NodeJS.ErrnoException) => {
      throw new StartError(`admin: cannot bind ${address}:${port}: ${err.code === 'EADDRINUSE' ? 'already in use' : err.message}`);
    });
    const plan = this.plan(this.config);
    const n = this.config.concurrency;
    this.planes = n === 1
      ? [new LocalPlane(newStatBuffer(), this.policyBuffer, this.onAccessLog)]
      : Array.from({ length: n }, (_, i) => new WorkerPlane(newStatBuffer(), this.policyBuffer, i, (p, code) => this.onWorkerDeath(p, code), this.onAccessLog));
    this.shipper.configure(this.config);
    this.planes.push(new L4Plane(newStatBuffer(), this.registry)); // tcp_listeners, in this thread (src/l4/plane.ts)
    await Promise.all(this.planes.map((p) => p.apply(this.config, plan)));
    this.startHealthChecks(this.config, plan);
    this.watchCertificates(this.config);
    this.started = true;
    this.installSignals();
    if (this.opts.watch && this.opts.configFile !== undefined) this.watchFile(this.opts.configFile);
    log.info(this.startLine());
    return this.stopped;
  }

  private startLine(): string {
    const c = this.config;
    const ls = c.listeners.map((l) => {
      const targets = [...new Set(l.routes.map((r) => r.cluster ?? 'direct_response'))].map((name) => {
        const cl = c.clusters.find((x) => x.name === name);
        return cl ? `${name} (${cl.endpoints.join(', ')})` : name;
      });
      const why = l.tls === null ? '' : l.tls.ca_file !== null ? ': mTLS' : l.tls.min_version === 'TLSv1.3' ? ': TLSv1.3 only' : '';
      const front = l.front === 'node' ? ` (node front${why})` : '';
      return `listener ${l.name} on ${l.tls === null ? 'http' : 'https'}://${l.address}:${l.port}${front} -> ${targets.join(', ')}`;
    });
    return `pillion proxy: ${ls.join('; ')}; admin on http://${c.admin.address}:${this.adminPort}; ` +
      `${c.concurrency} worker${c.concurrency > 1 ? ' threads' : ' (main thread)'}; ` +
      `uWS ${nativeFront ? 'native binary' : 'SLOW JavaScript fallback (native binary did not load)'}; ` +
      `config ${this.opts.configFile ?? '(embedded default)'}`;
  }

  /**
   * uWS listens with SO_REUSEPORT, so a stale process on our port would silently get part of the
   * traffic. A plain exclusive bind first tells us the port is really free. Port 0 becomes a fixed free
   * port here, so that every worker thread binds the same one.
   */
  private async claimPorts(config: Config): Promise<void> {
    for (const l of config.listeners) {
      l.port = await probePort(l.address, l.port).catch((err: NodeJS.ErrnoException) => {
        throw new StartError(err.code === 'EADDRINUSE'
          ? `listener ${l.name}: ${l.address}:${l.port} is already in use (another pillion, or a stale process?)`
          : `listener ${l.name}: cannot bind ${l.address}:${l.port}: ${err.message}`);
      });
    }
  }

  /** Stat slots and shared-memory slots for a config; stable by name, so a reload keeps state. */
  private plan(config: Config): Plan {
    const mem = this.slots.memory;
    const plan: Plan = { listeners: {}, clusters: {}, filterStats: {}, filterSlots: {}, epoch: this.epoch };
    for (const c of config.clusters) {
      const endpoints: Record<string, number> = {};
      for (const origin of c.endpoints) {
        // Health starts at 1 (healthy) without active checks; with them, at 0 until the first pass,
        // as in Envoy (and panic routing covers the time before it).
        endpoints[origin] = this.slots.slot(`endpoint|${c.name}|${origin}`, ENDPOINT_SLOTS, (s) => {
          Atomics.store(mem, s, c.health_checks === null ? 1 : 0);
        });
      }
      plan.clusters[c.name] = {
        stats: this.registry.cluster(c.name),
        breaker: this.slots.slot(`breaker|${c.name}`, BREAKER_SLOTS),
        endpoints,
        connectionCapacity: Math.min(c.circuit_breakers.max_connections, c.endpoints.length * c.max_connections * config.concurrency),
      };
    }
    for (const l of config.listeners) {
      plan.listeners[l.name] = this.registry.listener(l.name);
      const fs: Plan['filterStats'][string] = (plan.filterStats[l.name] = {});
      for (const f of l.filters) {
        const mod = FILTERS.find((m) => m.name === f.name)!;
        fs[f.name] = this.registry.scoped(`http.${l.name}.${mod.statPrefix}.`, mod.stats);
        if (mod.sharedSlots === 0) continue;
        const instances: [string | null, unknown][] = [[null, f.config]];
        for (const r of l.routes) {
          const o = r.filters[f.name];
          if (o !== undefined && o !== false) instances.push([r.name, o]);
        }
        for (const [route, cfg] of instances) {
          const key = filterSlotKey(l.name, route, f.name);
          plan.filterSlots[key] = this.slots.slot(`${key}|${JSON.stringify(cfg)}`, mod.sharedSlots, (s) => mod.initShared?.(cfg, mem, s));
        }
      }
    }
    this.lastPlan = plan;
    return plan;
  }

  private startHealthChecks(config: Config, plan: Plan): void {
    this.healthChecker?.stop();
    const hc = new HealthChecker();
    for (const c of config.clusters) {
      if (c.health_checks === null) continue;
      const p = plan.clusters[c.name]!;
      for (const origin of c.endpoints) hc.add(c.name, origin, c.health_checks, p.endpoints[origin]!, this.slots.memory, this.mainStats, p.stats);
    }
    hc.start();
    this.healthChecker = hc;
  }

  // --- TLS ---------------------------------------------------------------------------------------

  /** Fills in the development certificate where a listener asks for one. */
  private async prepareTls(config: Config): Promise<void> {
    for (const l of config.listeners) {
      if (l.tls === null || !l.tls.self_signed) continue;
      if (this.selfSigned === null) {
        const { cert, key, fingerprint } = await makeSelfSigned();
        // uWS reads certificates from files only: a private directory, removed at exit.
        const dir = mkdtempSync(join(tmpdir(), 'pillion-tls-'));
        writeFileSync(join(dir, 'cert.pem'), cert, { mode: 0o600 });
        writeFileSync(join(dir, 'key.pem'), key, { mode: 0o600 });
        this.selfSigned = { dir, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
        process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
        log.warn(`TLS: self-signed development certificate for localhost, SHA-256 fingerprint ${fingerprint}`);
      }
      l.tls.cert_file = this.selfSigned.cert;
      l.tls.key_file = this.selfSigned.key;
    }
  }

  /**
   * Certificate rotation: the files of every TLS listener are polled (stat, once a second: it sees
   * renames and the symlink swap of a mounted Kubernetes Secret, where fs.watch does not). A changed
   * set is checked pair by pair first; a broken pair is refused with a log line and a stat, and the
   * old certificates keep serving.
   */
  private watchCertificates(config: Config): void {
    const files = new Set<string>();
    for (const l of config.listeners) {
      if (l.tls === null || l.tls.self_signed) continue;
      for (const p of [l.tls, ...l.tls.sni]) { files.add(p.cert_file); files.add(p.key_file); }
      if (l.tls.ca_file !== null) files.add(l.tls.ca_file);
    }
    for (const f of this.watchedCerts) if (!files.has(f)) { unwatchFile(f); this.watchedCerts.delete(f); }
    for (const f of files) {
      if (this.watchedCerts.has(f)) continue;
      this.watchedCerts.add(f);
      watchFile(f, { interval: 1000, persistent: false }, (cur, prev) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
        // A cert and its key change one after the other: wait for both.
        if (this.rotationTimer !== null) clearTimeout(this.rotationTimer);
        this.rotationTimer = setTimeout(() => { this.rotationTimer = null; void this.rotateCertificates(); }, 300);
      });
    }
  }

  private async rotateCertificates(): Promise<void> {
    if (this.draining) return;
    for (const l of this.config.listeners) {
      if (l.tls === null || l.tls.self_signed) continue;
      for (const p of [l.tls, ...l.tls.sni]) {
        const why = checkPair(p);
        if (why !== null) {
          this.mainStats[this.serverStats.tlsRotationRejected]++;
          log.error('TLS rotation refused; the previous certificates keep serving', { listener: l.name, cert: p.cert_file, reason: why });
          return;
        }
      }
      l.tls_generation++;
    }
    try {
      await Promise.all(this.planes.map((p) => p.apply(this.config, this.lastPlan)));
    } catch (err) {
      this.mainStats[this.serverStats.tlsRotationRejected]++;
      log.error('TLS rotation failed; the previous certificates keep serving', { reason: (err as Error).message });
      return;
    }
    this.mainStats[this.serverStats.tlsRotationSuccess]++;
    log.info('TLS certificates reloaded');
  }

  // --- reload ------------------------------------------------------------------------------------

  /** Validates first; a bad config is refused with the reason in the log, and the old one keeps serving. */
  async reload(reason: string): Promise<boolean> {
    if (this.draining) return false;
    let next: Config;
    try {
      next = loadConfig(this.opts.configFile, this.opts.overrides).config;
      await this.prepareTls(next);
      for (const l of next.listeners) {
        const prev = this.config.listeners.find((o) => o.name === l.name);
        if (prev !== undefined) l.tls_generation = prev.tls_generation;
        const old = this.config.listeners.find((o) => o.name === l.name && o.address === l.address);
        // Keep a port that was picked at start (port 0), and claim new ones.
        if (old !== undefined && (l.port === 0 || l.port === old.port)) l.port = old.port;
        else await this.claimPorts({ ...next, listeners: [l] });
      }
      if (next.concurrency !== this.config.concurrency) {
        log.warn('config reload: concurrency changes need a restart; keeping the old value', { old: this.config.concurrency, new: next.concurrency });
        next.concurrency = this.config.concurrency;
      }
      const plan = this.plan(next);
      await Promise.all(this.planes.map((p) => p.apply(next, plan)));
      this.startHealthChecks(next, plan);
      this.watchCertificates(next);
      this.shipper.configure(next);
    } catch (err) {
      this.mainStats[this.serverStats.reloadRejected]++;
      log.error(`config reload (${reason}) refused; the previous config keeps serving`, { reason: (err as Error).message });
      return false;
    }
    this.config = next;
    this.mainStats[this.serverStats.reloadSuccess]++;
    log.info(`config reloaded (${reason})`, { listeners: next.listeners.length, clusters: next.clusters.length });
    return true;
  }

  private watchFile(file: string): void {
    let last = safeRead(file);
    const onChange = () => {
      // Editors and config-sync replace files by rename: re-arm the watch on the new inode.
      if (this.reloadTimer !== null) clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => {
        this.reloadTimer = null;
        this.watcher?.close();
        this.watcher = tryWatch(file, onChange);
        const now = safeRead(file);
        if (now === null || now === last) return;
        last = now;
        void this.reload('file changed');
      }, 100);
    };
    this.watcher = tryWatch(file, onChange);
    // fs.watch misses changes on some filesystems (and a ConfigMap's symlink swap): poll as a safety net.
    setInterval(onChange, 2000).unref();
  }

  // --- workers -----------------------------------------------------------------------------------

  private onWorkerDeath(plane: WorkerPlane, code: number): void {
    if (this.draining) return;
    this.mainStats[this.serverStats.workerRestarts]++;
    log.error('worker thread died; starting a new one', { worker: plane.index, code });
    // Its gauges described requests that are gone now.
    this.registry.stats.forEach((s, i) => { if (s.type === 'gauge') plane.stats[i] = 0; });
    plane.respawn();
    plane.apply(this.config, this.plan(this.config)).catch((err: unknown) => log.error('restarted worker failed to start', { worker: plane.index, err }));
  }

  // --- drain -------------------------------------------------------------------------------------

  private installSignals(): void {
    process.on('SIGTERM', () => void this.drain('SIGTERM'));
    process.on('SIGINT', () => void this.drain('SIGINT'));
    process.on('SIGHUP', () => void this.reload('SIGHUP'));
    // logrotate's `kill -USR1`. Access-log files are opened per batch (src/workers/log-ship.worker.ts),
    // so the next batch lands in the new file with nothing to do here; but without a listener Node
    // answers SIGUSR1 by opening its inspector on 127.0.0.1:9229, which every container of the pod
    // could then use to run code in the proxy.
    process.on('SIGUSR1', () => log.info('SIGUSR1: access-log files reopen with the next batch'));
  }

  /**
   * /ready turns 503 at once; for drain_time responses carry `Connection: close` so clients move to
   * other instances; then the listeners close and in-flight requests get up to drain_timeout.
   */
  async drain(reason: string): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const { drain_time_ms: drainTime, drain_timeout_ms: drainTimeout } = this.config;
    log.info(`draining (${reason})`, { drain_time_ms: drainTime, drain_timeout_ms: drainTimeout });
    this.watcher?.close();
    this.healthChecker?.stop();
    for (const f of this.watchedCerts) unwatchFile(f);
    await Promise.all(this.planes.map((p) => p.startDrain()));
    await sleep(drainTime);
    await Promise.all(this.planes.map((p) => p.stopListening()));
    const idle = (await Promise.all(this.planes.map((p) => p.waitIdle(drainTimeout)))).every(Boolean);
    if (!idle) log.warn('drain timeout: closing requests still in flight');
    await Promise.all(this.planes.map((p) => p.close()));
    // The planes handed over their last access-log rows when they closed: ship them before exiting.
    await this.shipper.close(10_000);
    await this.metricsPool.close();
    await this.admin?.close();
    if (this.selfSigned !== null) rmSync(this.selfSigned.dir, { recursive: true, force: true });
    log.info('stopped');
    this.resolveStopped(0);
  }

  // --- admin -------------------------------------------------------------------------------------

  ready(): { ok: boolean; state: string } {
    if (!this.started) return { ok: false, state: 'PRE_INITIALIZING' };
    if (this.draining) return { ok: false, state: 'DRAINING' };
    if (this.healthFailed) return { ok: false, state: 'FAILED' };
    return { ok: true, state: 'LIVE' };
  }

  setHealthcheckFailed(failed: boolean): void {
    this.healthFailed = failed;
    log.info(failed ? 'health check failed by admin' : 'health check restored by admin');
  }

  statValues(): Float64Array {
    return sumStats(this.registry, [this.mainStats, ...this.planes.map((p) => p.stats)]);
  }

  extraSamples(): ExtraSample[] {
    const out: ExtraSample[] = [
      { family: 'envoy_server_live', statName: 'server.live', type: 'gauge', help: '1 while serving, 0 while draining', labels: '', value: this.draining ? 0 : 1 },
      { family: 'envoy_server_uptime', statName: 'server.uptime', type: 'gauge', help: 'Seconds since start', labels: '', value: Math.floor((Date.now() - this.startedAt) / 1000) },
      { family: 'envoy_server_concurrency', statName: 'server.concurrency', type: 'gauge', help: 'Worker threads', labels: '', value: this.config.concurrency },
      { family: 'envoy_server_memory_physical_size', statName: 'server.memory_physical_size', type: 'gauge', help: 'Resident set size of the process in bytes', labels: '', value: process.memoryUsage.rss() },
      { family: 'envoy_server_memory_heap_size', statName: 'server.memory_heap_size', type: 'gauge', help: 'V8 heap of the main thread in bytes', labels: '', value: process.memoryUsage().heapUsed },
      { family: 'pillion_server_event_loop_delay_p99_seconds', statName: 'pillion.server.event_loop_delay_p99_seconds', type: 'gauge', help: 'Worst event-loop delay p99 over the data-plane threads (as of the last histogram scrape)', labels: '', value: this.eventLoopP99Ms / 1000 },
      { family: 'pillion_pool_queue_size', statName: 'pillion.pool.log_ship.queue_size', type: 'gauge', help: 'Tasks waiting in a worker pool', labels: '{pool="log_ship"}', value: this.shipper.queueSize },
      { family: 'pillion_pool_queue_size', statName: 'pillion.pool.metrics.queue_size', type: 'gauge', help: 'Tasks waiting in a worker pool', labels: '{pool="metrics"}', value: this.metricsPool.queueSize },
    ];
    out.push(...this.clusterGauges());
    // uWS does not tell JavaScript about HTTP connections, so open connections are counted from the
    // kernel's socket table at scrape time rather than on the request path.
    const established = countEstablished(this.config.listeners.map((l) => l.port));
    for (const l of this.config.listeners) {
      const addr = `${l.address}_${l.port}`;
      out.push({ family: 'envoy_listener_downstream_cx_active', statName: `listener.${addr}.downstream_cx_active`, type: 'gauge', help: 'Open downstream connections (from /proc/net/tcp)', labels: `{envoy_listener_address="${addr}"}`, value: established.get(l.port) ?? 0 });
    }
    return out;
  }

  /** Every plane's histograms, merged in the metrics pool; plus each plane's event-loop delay. */
  async histograms(bucketsMs: readonly number[] = this.config.histogram_buckets_ms): Promise<HistogramSummary[]> {
    // A worker that is dying or restarting answers nothing: its histograms are left out of this scrape
    // rather than failing it.
    const snaps = await Promise.all(this.planes.map((p) => (p.telemetry?.() ?? Promise.resolve(null)).catch(() => null)));
    const valid = snaps.filter((x) => x !== null);
    this.eventLoopP99Ms = Math.max(0, ...valid.map((x) => x.eventLoopDelayP99Ms));
    return this.metricsPool.merge(valid.map((x) => x.histograms), [...bucketsMs]);
  }

  histogramBucketsMs(): readonly number[] {
    return this.config.histogram_buckets_ms;
  }

  prometheusNames(): PromNaming {
    return this.config.prometheus_names;
  }

  configDump(): unknown {
    return redact({ source: this.opts.configFile ?? '(embedded default)', config: this.config });
  }

  /** Circuit-breaker and membership gauges, read from shared memory at scrape time. */
  private clusterGauges(): ExtraSample[] {
    const out: ExtraSample[] = [];
    const mem = this.slots.memory;
    const values = this.statValues();
    for (const c of this.config.clusters) {
      const p = this.lastPlan.clusters[c.name];
      if (p === undefined) continue;
      const cb = c.circuit_breakers;
      const rq = Atomics.load(mem, p.breaker);
      const retries = Atomics.load(mem, p.breaker + 1);
      const cx = values[p.stats.cxTotal]! - values[p.stats.cxDestroy]!;
      const pending = Math.max(0, rq - p.connectionCapacity);
      const gauge = (stat: string, value: number, help: string): ExtraSample => ({
        // promtool refuses `_total` on a gauge (Envoy's membership_total).
        family: `envoy_cluster_${stat.replace(/\./g, '_').replace(/_total$/, '_endpoints')}`, statName: `cluster.${c.name}.${stat}`, type: 'gauge', help,
        labels: `{envoy_cluster_name="${c.name}"}`, value,
      });
      out.push(
        gauge('circuit_breakers.default.rq_open', rq >= cb.max_requests ? 1 : 0, '1 while max_requests is reached'),
        gauge('circuit_breakers.default.remaining_rq', Math.max(0, cb.max_requests - rq), 'Requests that may still start'),
        gauge('circuit_breakers.default.rq_pending_open', pending >= cb.max_pending_requests ? 1 : 0, '1 while max_pending_requests is reached'),
        gauge('circuit_breakers.default.remaining_pending', Math.max(0, cb.max_pending_requests - pending), 'Requests that may still wait for a connection'),
        gauge('circuit_breakers.default.rq_retry_open', retries >= cb.max_retries ? 1 : 0, '1 while max_retries is reached'),
        gauge('circuit_breakers.default.remaining_retries', Math.max(0, cb.max_retries - retries), 'Retries that may still start'),
        gauge('circuit_breakers.default.cx_open', cx >= cb.max_connections ? 1 : 0, '1 while max_connections is reached'),
        gauge('circuit_breakers.default.remaining_cx', Math.max(0, cb.max_connections - cx), 'Connections that may still open'),
        gauge('upstream_cx_active', Math.max(0, cx), 'Upstream connections open (all workers)'),
        gauge('membership_total', c.endpoints.length, 'Endpoints in the cluster'),
        gauge('membership_healthy', c.endpoints.filter((e) => this.endpointFlags(c.name, e) === 'healthy').length, 'Endpoints passing health checks and not ejected'),
        gauge('outlier_detection.ejections_active', c.endpoints.filter((e) => Atomics.load(mem, p.endpoints[e]! + 1) === 1).length, 'Endpoints ejected now'),
      );
    }
    return out;
  }

  /** Envoy's health_flags for an endpoint: healthy, /failed_active_hc, /failed_outlier_check. */
  private endpointFlags(cluster: string, origin: string): string {
    const slot = this.lastPlan.clusters[cluster]?.endpoints[origin];
    if (slot === undefined) return 'healthy';
    const mem = this.slots.memory;
    const flags: string[] = [];
    if (Atomics.load(mem, slot) === 0) flags.push('/failed_active_hc');
    if (Atomics.load(mem, slot + 1) === 1) flags.push('/failed_outlier_check');
    return flags.length === 0 ? 'healthy' : flags.join('');
  }

  clustersText(): string {
    let out = '';
    for (const c of this.config.clusters) {
      const cb = c.circuit_breakers;
      out += `${c.name}::default_priority::max_connections::${cb.max_connections}\n`;
      out += `${c.name}::default_priority::max_pending_requests::${cb.max_pending_requests}\n`;
      out += `${c.name}::default_priority::max_requests::${cb.max_requests}\n`;
      out += `${c.name}::default_priority::max_retries::${cb.max_retries}\n`;
      for (const e of c.endpoints) {
        const host = new URL(e).host;
        out += `${c.name}::${host}::health_flags::${this.endpointFlags(c.name, e)}\n${c.name}::${host}::weight::1\n`;
      }
    }
    return out;
  }

  clustersJson(): unknown {
    return {
      cluster_statuses: this.config.clusters.map((c) => ({
        name: c.name,
        lb_policy: c.lb_policy,
        circuit_breakers: c.circuit_breakers,
        host_statuses: c.endpoints.map((e) => {
          const flags = this.endpointFlags(c.name, e);
          return {
            address: e,
            health_status: {
              eds_health_status: flags === 'healthy' ? 'HEALTHY' : 'UNHEALTHY',
              failed_active_health_check: flags.includes('failed_active_hc'),
              failed_outlier_check: flags.includes('failed_outlier_check'),
            },
            weight: 1,
          };
        }),
      })),
    };
  }

  serverInfo(): unknown {
    return {
      version: `pillion/${version()}`,
      state: this.draining ? 'DRAINING' : this.started ? 'LIVE' : 'PRE_INITIALIZING',
      hot_restart_version: 'disabled',
      uptime_current_epoch: `${Math.floor((Date.now() - this.startedAt) / 1000)}s`,
      uptime_all_epochs: `${Math.floor((Date.now() - this.startedAt) / 1000)}s`,
      command_line_options: { concurrency: this.config.concurrency, drain_time: `${this.config.drain_time_ms / 1000}s`, config_path: this.opts.configFile ?? '' },
      node: { id: process.env.HOSTNAME ?? '', user_agent_name: 'pillion', user_agent_version: version() },
    };
  }

  drainListeners(graceful: boolean): void {
    if (this.listenersDrained) return;
    this.listenersDrained = true;
    log.info(`admin: draining listeners${graceful ? ' gracefully' : ''}; the process keeps running`);
    void (async () => {
      if (graceful) {
        await Promise.all(this.planes.map((p) => p.startDrain()));
        await sleep(this.config.drain_time_ms);
      }
      await Promise.all(this.planes.map((p) => p.stopListening()));
    })().catch((err: unknown) => log.error('drain_listeners failed', { err }));
  }

  quit(): void {
    void this.drain('/quitquitquit');
  }
}

/** A failure to start (a port taken): exit 1, not 2, because the config itself is fine. */
export class StartError extends Error {}

function probePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port, exclusive: true }, () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}

function safeRead(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    log.warn('cannot read the config file', { file, err });
    return null;
  }
}

function tryWatch(file: string, onChange: () => void): FSWatcher | null {
  try {
    return watch(file, { persistent: false }, onChange);
  } catch (err) {
    log.warn('cannot watch the config file; polling only', { file, err });
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { ConfigError };
