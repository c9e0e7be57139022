// The agent's HTTP surface, on node:http (no uWS, no undici: the agent must stay small):
//   <telemetry-path>   the scrape; `collect[]=name` runs only those collectors, `exclude[]=name` skips them
//   /                  a landing page linking to the metrics (liveness probes can use it)
// Anything else is 404. Responses are gzipped when the scraper asks, as promhttp does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Collector } from './collector.js';
import { HeapKeeper } from './heap-keeper.js';
import type { Logger } from './logger.js';
import { scrape } from './scrape.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface ServerConfig {
  collectors: readonly Collector[];
  telemetryPath: string;
  maxRequests: number;
  logger: Logger;
  /** A full GC for HeapKeeper; default node's gc() under --expose-gc. */
  gc?: (() => void) | undefined;
}

export function createAgentServer(cfg: ServerConfig): Server {
  const byName = new Map(cfg.collectors.map((c) => [c.name, c]));
  const heap = new HeapKeeper(cfg.gc ?? (globalThis as { gc?: () => void }).gc);
  let inFlight = 0;
  const landing = `<html>
<head><title>pillion agent</title></head>
<body>
<h1>pillion agent</h1>
<p>node_exporter-compatible node metrics</p>
<p><a href="${escapeHtml(cfg.telemetryPath)}">Metrics</a></p>
</body>
</html>
`;

  const all = [...byName.values()];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Prometheus asks for exactly the telemetry path, without a query: no URL object for that.
    const plain = req.url === cfg.telemetryPath;
    let url: URL | undefined;
    if (!plain) {
      try {
        url = new URL(req.url ?? '/', 'http://agent');
      } catch {
        // The only failure of URL parsing here is a malformed request target: the client's error.
        reply(res, 400, 'text/plain; charset=utf-8', 'Bad Request\n');
        return;
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    if (url === undefined || url.pathname === cfg.telemetryPath) {
      const selected = url === undefined ? all : selectCollectors(byName, url.searchParams.getAll('collect[]'), url.searchParams.getAll('exclude[]'));
      if (typeof selected === 'string') {
        reply(res, 400, 'text/plain; charset=utf-8', `Couldn't create filtered metrics handler: ${selected}\n`);
        return;
      }
      if (cfg.maxRequests > 0 && inFlight >= cfg.maxRequests) {
        reply(res, 503, 'text/plain; charset=utf-8', `Limit of concurrent requests reached (${cfg.maxRequests}), try again later.\n`);
        return;
      }
      inFlight++;
      let body: string;
      try {
        const metrics = await scrape(selected, cfg.logger);
        body = metrics.render();
        if (metrics.duplicates > 0) cfg.logger.warn('dropped duplicate samples (collector bug)', { count: metrics.duplicates });
      } finally {
        inFlight--;
      }
      const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      // Level 1: a tenth more bytes than node_exporter's level 6, for about half the CPU.
      if (gzip) reply(res, 200, CONTENT_TYPE, gzipSync(body, { level: 1 }), { 'content-encoding': 'gzip' });
      else reply(res, 200, CONTENT_TYPE, body);
      heap.afterScrape();
      return;
    }
    if (url!.pathname === '/') {
      reply(res, 200, 'text/html; charset=UTF-8', landing);
      return;
    }
    reply(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // scrape() contains collector failures, so reaching here is a bug in the agent itself.
      cfg.logger.error('error serving request', { url: req.url, err });
      if (!res.headersSent) reply(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
}

/** Applies collect[] / exclude[]; a name that is not an enabled collector is an error, as in node_exporter. */
export function selectCollectors(byName: ReadonlyMap<string, Collector>, collect: string[], exclude: string[]): Collector[] | string {
  for (const name of [...collect, ...exclude]) {
    if (!byName.has(name)) return `missing collector: ${name}`;
  }
  if (collect.length > 0 && exclude.length > 0) return 'collect[] and exclude[] are mutually exclusive';
  if (collect.length > 0) return [...new Set(collect)].map((n) => byName.get(n)!);
  const skip = new Set(exclude);
  return [...byName.values()].filter((c) => !skip.has(c.name));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function reply(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-type': type, 'content-length': buf.length, ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}
