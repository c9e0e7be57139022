// The admin port, in Envoy's style. node:http is plenty here: the admin port is scraped, not loaded,
// and it lives in the main thread, away from the request path. It binds 127.0.0.1 unless the config
// says otherwise, because /quitquitquit and /config_dump are not for the network.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StatRegistry } from '../stats/registry.js';
import { renderHistogramsPrometheus, renderHistogramsText, renderPrometheus, renderStatsText, type ExtraSample, type HistogramView, type PromNaming } from '../stats/render.js';
import { PERCENTILES } from '../telemetry/metrics-pool.js';
import { log } from '../util/log.js';

export interface AdminControl {
  readonly registry: StatRegistry;
  /** Live and not failed by /healthcheck/fail: /ready answers 200. */
  ready(): { ok: boolean; state: string };
  setHealthcheckFailed(failed: boolean): void;
  statValues(): Float64Array;
  /** Values computed at scrape time (uptime, memory, open connections). */
  extraSamples(): ExtraSample[];
  configDump(): unknown;
  /** Latency histograms of every data plane, merged (asynchronous: the metrics pool does it), with
   *  bucket counts for these bounds (default: the config's). */
  histograms(bucketsMs?: readonly number[]): Promise<HistogramView[]>;
  /** The config's histogram bucket bounds (ms). */
  histogramBucketsMs(): readonly number[];
  /** The config's `stats.prometheus_names`. */
  prometheusNames(): PromNaming;
  clustersText(): string;
  clustersJson(): unknown;
  /** POST /quitquitquit: drain, then exit 0. */
  quit(): void;
  /** POST /drain_listeners: stop accepting (after drain_time with ?graceful), keep running. */
  drainListeners(graceful: boolean): void;
  /** GET /server_info: Envoy's shape (version, state, uptime, command line). */
  serverInfo(): unknown;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export class AdminServer {
  private server: Server | null = null;
  private readonly routes: Record<string, { method: 'GET' | 'POST'; help: string; handler: Handler }>;

  constructor(private readonly control: AdminControl) {
    const c = control;
    this.routes = {
      '/ready': { method: 'GET', help: 'LIVE (200) while serving; 503 while draining or after /healthcheck/fail', handler: (_q, res) => {
        const r = c.ready();
        send(res, r.ok ? 200 : 503, `${r.state}\n`);
      } },
      '/stats': { method: 'GET', help: 'all stats as "name: value" (?filter=REGEX, ?format=json|prometheus)', handler: async (_q, res, url) => {
        const format = url.searchParams.get('format');
        if (format === 'prometheus') return this.prometheus(res);
        let filter: RegExp | undefined;
        const f = url.searchParams.get('filter');
        if (f !== null) {
          try { filter = new RegExp(f); } catch (err) { return send(res, 400, `bad filter: ${(err as Error).message}\n`); }
        }
        const values = c.statValues();
        if (format === 'json') {
          const stats = c.registry.stats.flatMap((s, i) => (filter === undefined || filter.test(s.name) ? [{ name: s.name, value: values[i] }] : []));
          return send(res, 200, JSON.stringify({ stats }, null, 2) + '\n', 'application/json');
        }
        const hs = await c.histograms();
        send(res, 200, renderStatsText(c.registry, values, filter) + extraText(c.extraSamples(), filter) + renderHistogramsText(hs, PERCENTILES, filter));
      } },
      '/stats/prometheus': { method: 'GET', help: 'all stats in Prometheus text format', handler: (_q, res) => this.prometheus(res) },
      '/config_dump': { method: 'GET', help: 'the effective config as JSON, secrets redacted', handler: (_q, res) => {
        send(res, 200, JSON.stringify(c.configDump(), null, 2) + '\n', 'application/json');
      } },
      '/clusters': { method: 'GET', help: 'clusters and endpoints (?format=json)', handler: (_q, res, url) => {
        if (url.searchParams.get('format') === 'json') send(res, 200, JSON.stringify(c.clustersJson(), null, 2) + '\n', 'application/json');
        else send(res, 200, c.clustersText());
      } },
      '/healthcheck/fail': { method: 'POST', help: 'make /ready answer 503 (for a load balancer to drain us)', handler: (_q, res) => {
        c.setHealthcheckFailed(true);
        send(res, 200, 'OK\n');
      } },
      '/healthcheck/ok': { method: 'POST', help: 'undo /healthcheck/fail', handler: (_q, res) => {
        c.setHealthcheckFailed(false);
        send(res, 200, 'OK\n');
      } },
      '/server_info': { method: 'GET', help: 'version, state, uptime and command line as JSON', handler: (_q, res) => {
        send(res, 200, JSON.stringify(c.serverInfo(), null, 2) + '\n', 'application/json');
      } },
      '/drain_listeners': { method: 'POST', help: 'stop accepting connections and keep running (?graceful: Connection: close for drain_time first)', handler: (_q, res, url) => {
        send(res, 200, 'OK\n');
        c.drainListeners(url.searchParams.has('graceful'));
      } },
      '/quitquitquit': { method: 'POST', help: 'drain, then exit 0', handler: (_q, res) => {
        send(res, 200, 'OK\n');
        c.quit();
      } },
    };
  }

  private async prometheus(res: ServerResponse): Promise<void> {
    const c = this.control;
    // The bounds are read once, so a reload during the merge cannot pair counts with other bounds.
    const buckets = c.histogramBucketsMs();
    const hs = await c.histograms(buckets);
    const naming = c.prometheusNames();
    const text = renderPrometheus(c.registry, c.statValues(), c.extraSamples(), naming) + renderHistogramsPrometheus(hs, buckets, PERCENTILES, naming);
    send(res, 200, text, 'text/plain; version=0.0.4; charset=utf-8');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/' || url.pathname === '/help') {
      const lines = Object.entries(this.routes).map(([p, r]) => `  ${r.method.padEnd(4)} ${p.padEnd(20)} ${r.help}`);
      return send(res, 200, `admin commands are:\n${lines.join('\n')}\n`);
    }
    const route = this.routes[url.pathname];
    if (route === undefined) return send(res, 404, 'invalid path; see / for the list\n');
    // Mutating commands need POST, as in Envoy, so that a stray GET (a crawler, a browser) cannot stop the proxy.
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', route.method);
      return send(res, 405, `${url.pathname} needs ${route.method}\n`);
    }
    const fail = (err: unknown) => {
      log.error('admin handler failed', { path: url.pathname, err });
      if (!res.headersSent) send(res, 500, 'internal error\n');
    };
    try {
      const p = route.handler(req, res, url);
      if (p instanceof Promise) p.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer((req, res) => this.handle(req, res));
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => log.error('admin server error', { err }));
        this.server = server;
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, max-age=0' });
  res.end(body);
}

function extraText(samples: readonly ExtraSample[], filter?: RegExp): string {
  let out = '';
  for (const s of samples) {
    const name = s.statName ?? s.family;
    if (filter === undefined || filter.test(name)) out += `${name}: ${s.value}\n`;
  }
  return out;
}
