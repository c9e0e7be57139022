// Wires parsed options into collectors and an HTTP server. Kept apart from main.ts so tests can
// start an agent in-process on port 0 and stop it.
import type { AddressInfo } from 'node:net';
import type { Collector } from './collector.js';
import { FACTORIES } from './collectors/index.js';
import type { AgentOptions } from './flags.js';
import { createAgentServer } from './http-server.js';
import { parseListenAddress } from './listen-address.js';
import type { Logger } from './logger.js';

export interface RunningAgent {
  /** The bound address, e.g. "127.0.0.1:9100" (the real port when started on port 0). */
  address: string;
  close(): Promise<void>;
}

/**
 * Builds the enabled collectors. Throws UsageError for a bad collector flag (e.g. an invalid
 * regexp), which main.ts turns into exit code 2.
 */
export function buildCollectors(opts: AgentOptions, logger: Logger): Collector[] {
  return FACTORIES.filter((f) => opts.collectors.has(f.name)).map((f) => f.create({ paths: opts.paths, opts, logger }));
}

/**
 * `gc`: a full GC for the idle-time collection (heap-keeper.ts); main.ts passes the one lean-v8.ts
 * provides. Without it, node's own gc() when run with --expose-gc, else none.
 */
export async function startAgent(opts: AgentOptions, logger: Logger, extra: { gc?: () => void } = {}): Promise<RunningAgent> {
  const { host, port } = parseListenAddress(opts.listenAddress);
  const collectors = buildCollectors(opts, logger);
  logger.info('Enabled collectors', { collectors: collectors.map((c) => c.name).join(',') });
  const server = createAgentServer({ collectors, telemetryPath: opts.telemetryPath, maxRequests: opts.maxRequests, logger, gc: extra.gc });
  // Scrapers keep connections alive for the next scrape; idle ones are closed after a minute.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, an accept error (EMFILE under a connection flood) must not kill the agent:
  // node retries accept by itself; we only make it visible.
  server.on('error', (err) => logger.error('HTTP server error', { err }));
  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  logger.info('Listening on', { address });
  return {
    address,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}
