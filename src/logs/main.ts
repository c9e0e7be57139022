// `pillion logs`: the log-collection sidecar (`--path`) and node DaemonSet (`--kubernetes`) mode.
// Long-running; SIGTERM/SIGINT: read the files to their current end and deliver it (5 s at most in
// all), write the final checkpoint and exit 0.
import { untilStopSignal } from '../util/signals.js';
import type { Server } from 'node:http';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../util/exit-codes.js';
import { configureLog, log } from '../util/log.js';
import { Collector } from './collector.js';
import { parseFlags, USAGE, UsageError, type LogsOptions } from './flags.js';
import { renderMetrics, startMetricsServer } from './metrics.js';
import { createSink } from './sink.js';

export async function main(argv: string[]): Promise<number> {
  let opts: LogsOptions;
  try {
    opts = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`pillion logs: error: ${err.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  configureLog({ format: opts.logFormat, component: 'pillion-logs' });
  const collector = new Collector(opts, createSink(opts.sink));
  let server: Server | null = null;
  try {
    await collector.start();
    if (opts.metrics !== null) {
      server = await startMetricsServer(opts.metrics.host, opts.metrics.port, () => renderMetrics(collector.stats, collector.gauges()));
    }
  } catch (err) {
    log.error('cannot start the log collector', { err });
    await collector.stop(0).catch((e: unknown) => log.warn('stop after a failed start failed', { err: e }));
    return EXIT_FAILURE;
  }
  const addr = server?.address();
  log.info('tailing', {
    paths: opts.paths.join(','),
    sink: opts.sink.http?.url ?? opts.sink.path ?? 'stdout',
    metrics: addr && typeof addr === 'object' ? `${addr.address}:${addr.port}` : 'off',
  });
  const signal = await untilStopSignal();
  log.info('stopping: reading the files to their end and delivering it (5 s at most), then the final checkpoint', { signal });
  await collector.stop();
  server?.close();
  return EXIT_OK;
}
