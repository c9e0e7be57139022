// `pillion proxy` flags. Parsing fails with a message that names the flag (exit 2).
import { parseArgs } from 'node:util';
import type { Overrides } from '../config/load.js';
import { parseDuration, parseHostPort } from '../util/duration.js';
import type { LogFormat } from '../util/log.js';

export const PROXY_HELP = `Usage: pillion proxy [options]

With no options: the embedded default for a drop-in sidecar: listen on 0.0.0.0:15001, forward
everything to http://127.0.0.1:8080, admin API on 127.0.0.1:15000.

  --config FILE            YAML or JSON config (docs/config.md); the flags below override it
  --envoy-config FILE      an Envoy v3 bootstrap instead (docs/envoy-compat.md); fields not carried
                           over are logged; --allow-unsupported runs it even without its auth/TLS
  --listen [HOST:]PORT     the first listener's address (host defaults to 0.0.0.0)
  --upstream URL           where the first listener's routes go (http://host:port)
  --admin [HOST:]PORT      the admin API (host defaults to 127.0.0.1)
  --concurrency N          worker threads on the same port (default 1)
  --drain-time DURATION    how long listeners stay open after SIGTERM, answering with
                           Connection: close (default 5s)
  --drain-timeout DURATION how long in-flight requests may take after that (default 30s)
  --tls-self-signed        terminate TLS on the first listener with a certificate for localhost
                           made at start (development; ignored when the config has real ones)
  --watch                  reload the config file when it changes (SIGHUP always reloads)
  --log-format text|json   stderr log format (default text)
  --check                  validate the config, print the result, and exit
  --help                   this text

Durations: 250ms, 5s, 2m, or a number of seconds.
Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or bad config.
`;

export class UsageError extends Error {}

export interface ProxyArgs {
  help: boolean;
  configFile?: string;
  overrides: Overrides;
  watch: boolean;
  check: boolean;
  logFormat: LogFormat;
}

export function parseProxyArgs(argv: string[]): ProxyArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        'envoy-config': { type: 'string' },
        'allow-unsupported': { type: 'boolean' },
        listen: { type: 'string' },
        upstream: { type: 'string' },
        admin: { type: 'string' },
        concurrency: { type: 'string' },
        'drain-time': { type: 'string' },
        'drain-timeout': { type: 'string' },
        watch: { type: 'boolean' },
        'tls-self-signed': { type: 'boolean' },
        check: { type: 'boolean' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const o: Overrides = {};
  if (typeof values.listen === 'string') {
    o.listen = parseHostPort(values.listen, '0.0.0.0') ?? bad('--listen', values.listen, '[HOST:]PORT');
  }
  if (typeof values.admin === 'string') {
    o.admin = parseHostPort(values.admin, '127.0.0.1') ?? bad('--admin', values.admin, '[HOST:]PORT');
  }
  if (typeof values.upstream === 'string') {
    let u: URL | undefined;
    try { u = new URL(values.upstream); } catch { /* reported below */ }
    if (u === undefined || u.protocol !== 'http:') bad('--upstream', values.upstream, 'an http:// URL');
    o.upstream = values.upstream;
  }
  if (typeof values.concurrency === 'string') {
    const n = Number(values.concurrency);
    if (!Number.isInteger(n) || n < 1 || n > 256) bad('--concurrency', values.concurrency, 'an integer from 1 to 256');
    o.concurrency = n;
  }
  for (const [flag, key] of [['drain-time', 'drainTimeMs'], ['drain-timeout', 'drainTimeoutMs']] as const) {
    const v = values[flag];
    if (typeof v === 'string') o[key] = parseDuration(v) ?? bad(`--${flag}`, v, 'a duration such as 5s or 250ms');
  }
  if (typeof values['envoy-config'] === 'string') {
    if (typeof values.config === 'string') throw new UsageError('--config and --envoy-config: give one or the other');
    o.envoyConfig = { allowUnsupported: values['allow-unsupported'] === true };
  }
  if (values['tls-self-signed'] === true) o.tlsSelfSigned = true;
  const lf = values['log-format'] ?? 'text';
  if (lf !== 'text' && lf !== 'json') bad('--log-format', String(lf), 'text or json');
  return {
    help: values.help === true,
    configFile: typeof values.config === 'string' ? values.config : typeof values['envoy-config'] === 'string' ? values['envoy-config'] : undefined,
    overrides: o,
    watch: values.watch === true,
    check: values.check === true,
    logFormat: lf as LogFormat,
  };
}

function bad(flag: string, value: string, expected: string): never {
  throw new UsageError(`${flag}: expected ${expected}, got '${value}'`);
}
