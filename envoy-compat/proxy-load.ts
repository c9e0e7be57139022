// `pillion proxy --envoy-config envoy.yaml`: what src/config/load.ts calls instead of reading a pillion
// config. Translates, applies the CLI's overrides, validates; logs each field not carried over as a
// warning; refuses a config whose dropped fields weaken access control or TLS unless
// --allow-unsupported. Filesystem xDS files (LDS/CDS/RDS path_config_source) are watched, and a change
// asks the supervisor to reload by the same route as `kill -HUP`, so the reload path (validate first,
// keep the old config on a refusal, keep ports picked at start) is the proxy's own.
import { watchFile, type Stats } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import type { Config } from '../src/config/types.js';
import { log } from '../src/util/log.js';
import { EnvoyCompatError, formatFinding, loadEnvoyConfig } from './index.js';

export interface EnvoyProxyOptions {
  /** Start even when an auth filter, RBAC or TLS was dropped (each is logged). */
  allowUnsupported: boolean;
}

export function loadEnvoyForProxy(file: string, opts: EnvoyProxyOptions, applyOverrides: (raw: unknown) => void): { config: Config; source: string } {
  const t = loadEnvoyConfig(file, {}, applyOverrides);
  const unsafe = t.report.dropped.filter((d) => d.unsafe === true);
  if (unsafe.length > 0 && !opts.allowUnsupported) {
    throw new EnvoyCompatError(
      '--envoy-config',
      `${unsafe.length} Envoy field${unsafe.length > 1 ? 's' : ''} not carried over would weaken access control or TLS (--allow-unsupported starts anyway):\n  ${unsafe.map(formatFinding).join('\n  ')}`,
    );
  }
  for (const d of t.report.dropped) log.warn(`envoy-config: not carried over: ${formatFinding(d)}`);
  if (t.report.dropped.length > 0) log.warn(`envoy-config: ${t.report.dropped.length} Envoy field(s) not carried over; pillion envoy-compat check ${file} lists them`);
  if (isMainThread) for (const f of t.files) watchXdsFile(f);
  return { config: t.validated, source: file };
}

const watched = new Set<string>();
let pending: NodeJS.Timeout | null = null;

/**
 * Polls an xDS file (stat every 500 ms: it survives the rename-into-place that Envoy's docs and
 * ConfigMaps use, where an inotify watch on the old inode goes quiet). A change sends SIGHUP to this
 * process once the supervisor listens for it; the reload re-reads every file.
 */
function watchXdsFile(file: string): void {
  if (watched.has(file)) return;
  watched.add(file);
  watchFile(file, { interval: 500, persistent: false }, (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
    if (pending !== null) clearTimeout(pending);
    pending = setTimeout(() => {
      pending = null;
      if (process.listenerCount('SIGHUP') === 0) {
        log.warn('envoy-config: an xDS file changed before the proxy was ready to reload; restart to apply it', { file });
        return;
      }
      log.info('envoy-config: xDS file changed; reloading', { file });
      process.kill(process.pid, 'SIGHUP');
    }, 100);
  });
}
