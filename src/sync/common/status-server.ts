// The small HTTP endpoint a kubelet probes: /ready answers 200 only after the first good sync, so a
// native sidecar (an init container with restartPolicy: Always) holds the app's start until the
// config exists; /healthz is liveness; /metrics is the Prometheus text. node:http on purpose: this is
// a few requests a minute and must not pull the proxy's uWS build into the sync modes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from './metrics.js';

export interface StatusServer {
  /** The bound port (useful when listening on port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startStatusServer(
  host: string,
  port: number,
  isReady: () => boolean,
  registry: Registry,
): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/ready') {
      const ok = isReady();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready: no good sync yet\n');
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(registry.render());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /ready, /healthz or /metrics\n');
    }
  });
  // Probes are short; do not let an idle keep-alive connection hold shutdown for 5 s.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
