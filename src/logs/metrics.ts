// The collector's counters and its /metrics endpoint (Prometheus text 0.0.4, `promtool check metrics`
// clean). Counters are plain fields bumped in place; the gauges are read when scraped.
import { createServer, type Server } from 'node:http';

/** Counters, one field each; names and help below. */
export class LogsStats {
  linesRead = 0;
  bytesRead = 0;
  recordsShipped = 0;
  batchesShipped = 0;
  batchesFailed = 0;
  batchesRejected = 0;
  recordsRejected = 0;
  linesTruncated = 0;
  truncatedBytes = 0;
  parseErrors = 0;
  skippedBytesRotateWait = 0;
  skippedBytesTruncated = 0;
  skippedBytesVanished = 0;
  rotationsRename = 0;
  rotationsTruncate = 0;
  checkpointWrites = 0;
  checkpointErrors = 0;
  watchErrors = 0;
  readErrors = 0;
}

/** Gauges computed at scrape time by the collector. */
export interface LogsGauges {
  filesTracked: number;
  filesOpen: number;
  lagBytes: number;
  /** Seconds since the oldest record still waiting for an acknowledgement was read; 0 when none. */
  lagSeconds: number;
  pendingRecords: number;
}

const COUNTERS: [keyof LogsStats, string, string, string?][] = [
  ['linesRead', 'pillion_logs_lines_read_total', 'Lines read from files (before multiline and partial joining).'],
  ['bytesRead', 'pillion_logs_read_bytes_total', 'Bytes consumed from files.'],
  ['recordsShipped', 'pillion_logs_records_shipped_total', 'Records acknowledged by the sink.'],
  ['batchesShipped', 'pillion_logs_batches_shipped_total', 'Batches acknowledged by the sink.'],
  ['batchesFailed', 'pillion_logs_batches_failed_total', 'Failed delivery attempts (each is retried).'],
  ['batchesRejected', 'pillion_logs_batches_rejected_total', 'Batches the sink refused with a 4xx that retrying cannot fix (dropped).'],
  ['recordsRejected', 'pillion_logs_lines_dropped_total', 'Records dropped because their batch was rejected by the sink.'],
  ['linesTruncated', 'pillion_logs_lines_truncated_total', 'Lines or joined records cut to --max-line-bytes.'],
  ['truncatedBytes', 'pillion_logs_truncated_bytes_total', 'Bytes cut off long lines.'],
  ['parseErrors', 'pillion_logs_parse_errors_total', 'Lines that were neither CRI nor Docker json-file (shipped as they are).'],
  ['skippedBytesRotateWait', 'pillion_logs_skipped_bytes_total', 'Bytes never read.', 'reason="rotate_wait"'],
  ['skippedBytesTruncated', 'pillion_logs_skipped_bytes_total', '', 'reason="truncated"'],
  ['skippedBytesVanished', 'pillion_logs_skipped_bytes_total', '', 'reason="vanished"'],
  ['rotationsRename', 'pillion_logs_rotations_total', 'Rotations seen.', 'kind="rename"'],
  ['rotationsTruncate', 'pillion_logs_rotations_total', '', 'kind="truncate"'],
  ['checkpointWrites', 'pillion_logs_checkpoint_writes_total', 'Checkpoint files written.'],
  ['checkpointErrors', 'pillion_logs_checkpoint_errors_total', 'Checkpoint writes that failed.'],
  ['watchErrors', 'pillion_logs_watch_errors_total', 'Directories inotify could not watch (the rescan still finds their files).'],
  ['readErrors', 'pillion_logs_read_errors_total', 'Failed open or read calls.'],
];

export function renderMetrics(s: LogsStats, g: LogsGauges): string {
  let out = '';
  let last = '';
  for (const [field, name, help, labels] of COUNTERS) {
    if (name !== last) out += `# HELP ${name} ${help}\n# TYPE ${name} counter\n`;
    last = name;
    out += `${name}${labels === undefined ? '' : `{${labels}}`} ${s[field]}\n`;
  }
  const gauge = (name: string, help: string, v: number): void => {
    out += `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${v}\n`;
  };
  gauge('pillion_logs_files_tracked', 'Files being tailed, rotated ones still draining included.', g.filesTracked);
  gauge('pillion_logs_files_open', 'Open file descriptors on tailed files.', g.filesOpen);
  gauge('pillion_logs_lag_bytes', 'Bytes in tailed files not yet acknowledged by the sink.', g.lagBytes);
  gauge('pillion_logs_lag_seconds', 'Age of the oldest read record not yet acknowledged.', g.lagSeconds);
  gauge('pillion_logs_pending_records', 'Records read and waiting for an acknowledgement.', g.pendingRecords);
  return out;
}

export function startMetricsServer(host: string, port: number, render: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : render());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
