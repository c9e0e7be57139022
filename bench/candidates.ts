// The candidates the bench compares, each a fresh process per measured case (except "direct",
// which is the origin itself): pillion (default uWS front, and the node:http front when this
// build knows `front: node`), nginx and HAProxy as reverse proxies with one worker each, run in
// the foreground from configs generated into a temp dir, never as system services.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Child, freePort, waitHttp200, which } from './procs.js';
import { processTree } from './procstat.js';

export interface Running {
  /** Base URL the load generator targets, e.g. http://127.0.0.1:40001 */
  url: string;
  /** The proxy's processes (empty for "direct": no proxy). Resolved once the proxy is ready. */
  pids: number[];
  /** The process whose death means the proxy crashed (null for "direct"). */
  child: Child | null;
  stop(): Promise<void>;
}

export interface StartContext {
  originPort: number;
  /**
   * The log collector that HTTP access-log sinks post to: an origin of its own (its POST /upload reads
   * and discards), on the load generator's core. A collector is another service (Loki, Vector, an agent
   * on the node), so its CPU is not the proxy's; on the proxy's core it added about 0.55 ms per
   * 4096-record batch to the pauses the proxy's requests see.
   */
  collectorPort: number;
  /** Core the proxy is pinned to, or null. */
  core: number | null;
  /** A private scratch directory for this candidate's configs and logs. */
  tmp: string;
  /** Repository root (where dist/src/cli.js lives). */
  root: string;
  /** Extra node flags for pillion (e.g. --cpu-prof). */
  nodeArgs: string[];
}

export interface Candidate {
  id: string;
  label: string;
  /** One line about how it is configured, for the report. */
  setup: string;
  start(ctx: StartContext): Promise<Running>;
}

export interface Availability {
  candidates: Candidate[];
  /** Candidates left out, with the reason. */
  skipped: { id: string; reason: string }[];
}

function direct(): Candidate {
  return {
    id: 'direct',
    label: 'direct (no proxy)',
    setup: 'the load generator talks to the origin itself',
    start: (ctx) =>
      Promise.resolve({
        url: `http://127.0.0.1:${ctx.originPort}`,
        pids: [],
        child: null,
        stop: () => Promise.resolve(),
      }),
  };
}

/** What a pillion variant adds to the plain config. */
interface PillionExtras {
  /** Lines under the listener (indented 4), e.g. filters or access_log. */
  listener?: string[];
  /** TLS certificate and key files: the listener terminates TLS. */
  tls?: { cert: string; key: string };
}

function pillionConfigYaml(port: number, adminPort: number, originPort: number, front: 'node' | null, extras: PillionExtras = {}): string {
  return [
    'admin:',
    '  address: 127.0.0.1',
    `  port: ${adminPort}`,
    'drain_time: 0',
    'drain_timeout: 2s',
    'listeners:',
    '  - name: bench',
    '    address: 127.0.0.1',
    `    port: ${port}`,
    ...(front !== null ? [`    front: ${front}`] : []),
    ...(extras.tls !== undefined ? ['    tls:', `      cert: ${extras.tls.cert}`, `      key: ${extras.tls.key}`] : []),
    ...(extras.listener ?? []),
    '    routes:',
    '      - name: all',
    '        match: { prefix: / }',
    '        cluster: origin',
    'clusters:',
    '  - name: origin',
    `    endpoints: [ "http://127.0.0.1:${originPort}" ]`,
    '',
  ].join('\n');
}

function pillion(id: string, label: string, front: 'node' | null, variant?: { setup: string; extras: (ctx: StartContext) => PillionExtras }): Candidate {
  return {
    id,
    label,
    setup:
      variant !== undefined ? variant.setup
      : front === null
        ? 'node dist/src/cli.js proxy --listen ... --upstream ... --drain-time 0 (defaults: uWS front, 1 worker, 64 upstream connections)'
        : `node dist/src/cli.js proxy --config (listener front: ${front}; otherwise defaults)`,
    async start(ctx) {
      const port = await freePort();
      const adminPort = await freePort();
      const cli = path.join(ctx.root, 'dist/src/cli.js');
      let args: string[];
      const extras = variant?.extras(ctx);
      if (front === null && extras === undefined) {
        args = [cli, 'proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${ctx.originPort}`, '--admin', `127.0.0.1:${adminPort}`, '--drain-time', '0'];
      } else {
        const file = path.join(ctx.tmp, `${id}.yaml`);
        writeFileSync(file, pillionConfigYaml(port, adminPort, ctx.originPort, front, extras));
        args = [cli, 'proxy', '--config', file];
      }
      const scheme = extras?.tls !== undefined ? 'https' : 'http';
      const child = new Child(id, process.execPath, [...ctx.nodeArgs, ...args], ctx.core, { cwd: ctx.root });
      try {
        await waitHttp200(`http://127.0.0.1:${adminPort}/ready`, child);
        await waitHttp200(`${scheme}://127.0.0.1:${port}/small`, child);
      } catch (e) {
        await child.stop('SIGKILL');
        throw e;
      }
      return { url: `${scheme}://127.0.0.1:${port}`, pids: [child.pid], child, stop: () => child.stop('SIGTERM', 3000) };
    },
  };
}

/** Whether this build of pillion accepts `front: node` on a listener (checked with --check). */
function pillionKnowsNodeFront(root: string, tmp: string): boolean {
  const file = path.join(tmp, 'front-check.yaml');
  writeFileSync(file, pillionConfigYaml(15001, 15000, 8080, 'node'));
  try {
    execFileSync(process.execPath, [path.join(root, 'dist/src/cli.js'), 'proxy', '--config', file, '--check'], { stdio: 'pipe', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** A P-256 certificate for 127.0.0.1, made once per run and used by both TLS candidates. */
function benchCert(tmp: string): { cert: string; key: string } {
  const cert = path.join(tmp, 'bench-tls.crt');
  const key = path.join(tmp, 'bench-tls.key');
  if (!existsSync(cert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  }
  return { cert, key };
}

function nginx(bin: string, tls = false): Candidate {
  return {
    id: tls ? 'nginx-tls' : 'nginx',
    label: tls ? 'nginx (TLS)' : 'nginx',
    setup: `worker_processes 1, upstream keepalive 64, proxy_request_buffering off, proxy_max_temp_file_size 0, X-Forwarded-For/-Proto set, access log off${tls ? '; TLS termination with the same P-256 certificate as pillion (TLS)' : ''}`,
    async start(ctx) {
      const port = await freePort();
      const c = tls ? benchCert(ctx.tmp) : null;
      const dir = path.join(ctx.tmp, `nginx-${port}`);
      mkdirSync(path.join(dir, 'logs'), { recursive: true });
      const conf = `
worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_max_body_size 0;
  upstream origin {
    server 127.0.0.1:${ctx.originPort};
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port}${c !== null ? ` ssl;\n    ssl_certificate ${c.cert};\n    ssl_certificate_key ${c.key};\n    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_session_cache shared:SSL:1m` : ''};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
      proxy_max_temp_file_size 0;
    }
  }
}
`;
      writeFileSync(path.join(dir, 'nginx.conf'), conf);
      const child = new Child('nginx', bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'logs/error.log')], ctx.core);
      const scheme = c !== null ? 'https' : 'http';
      try {
        await waitHttp200(`${scheme}://127.0.0.1:${port}/small`, child);
      } catch (e) {
        await child.stop('SIGKILL');
        throw e;
      }
      // Master and worker: the worker is forked once at start, so one look is enough.
      return { url: `${scheme}://127.0.0.1:${port}`, pids: processTree(child.pid), child, stop: () => child.stop('SIGTERM', 3000) };
    },
  };
}

function haproxy(bin: string): Candidate {
  return {
    id: 'haproxy',
    label: 'HAProxy',
    setup: 'nbthread 1, http-reuse always, option forwardfor, X-Forwarded-Proto set, no logging',
    async start(ctx) {
      const port = await freePort();
      const file = path.join(ctx.tmp, `haproxy-${port}.cfg`);
      writeFileSync(
        file,
        `
global
  nbthread 1
  maxconn 4000

defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 120s

frontend fe
  bind 127.0.0.1:${port}
  http-request set-header X-Forwarded-Proto http
  default_backend be

backend be
  server origin 127.0.0.1:${ctx.originPort}
`,
      );
      // -db: foreground, no daemon, no master-worker.
      const child = new Child('haproxy', bin, ['-db', '-f', file], ctx.core);
      try {
        await waitHttp200(`http://127.0.0.1:${port}/small`, child);
      } catch (e) {
        await child.stop('SIGKILL');
        throw e;
      }
      return { url: `http://127.0.0.1:${port}`, pids: processTree(child.pid), child, stop: () => child.stop('SIGTERM', 3000) };
    },
  };
}

/** `root`: where the pillion build to run lives, or null when there is none that starts. */
export function availableCandidates(root: string | null, tmp: string): Availability {
  const candidates: Candidate[] = [direct()];
  const skipped: { id: string; reason: string }[] = [];
  if (root !== null) {
    candidates.push(pillion('pillion', 'pillion', null));
    if (pillionKnowsNodeFront(root, tmp)) candidates.push(pillion('pillion-node', 'pillion (front: node)', 'node'));
    else skipped.push({ id: 'pillion-node', reason: "this build of pillion does not accept 'front: node' on a listener (--check refused it)" });
    // Issue 3: the policy a sidecar runs on every request, never tripping.
    candidates.push(pillion('pillion-policy', 'pillion (API key + rate limit + breaker)', null, {
      setup: 'api_key_auth (the key every bench request carries), local_ratelimit (10^9 tokens per second), circuit breakers (Envoy defaults, always on)',
      extras: () => ({ listener: [
        '    filters:',
        '      - name: api_key_auth',
        '        keys: [{ client: bench, key: bench-api-key-0001 }]',
        '      - name: local_ratelimit',
        '        token_bucket: { max_tokens: 1000000000, tokens_per_fill: 1000000000, fill_interval: 1s }',
      ] }),
    }));
    // Issue 5: access log to a file and to an HTTP sink (a collector process takes the POSTs).
    candidates.push(pillion('pillion-logs', 'pillion (access log: file + HTTP)', null, {
      setup: 'access_log: Envoy default format to a file, and NDJSON to an HTTP sink, a collector process on the generator\'s core (defaults: 4096-record batches; no gzip, the sink is on loopback)',
      extras: (ctx) => ({ listener: [
        '    access_log:',
        `      - path: ${path.join(ctx.tmp, 'access.log')}`,
        `      - http: { url: "http://127.0.0.1:${ctx.collectorPort}/upload" }`,
      ] }),
    }));
    // Issue 4: TLS termination, against nginx with the same certificate.
    if (which('openssl') !== null) {
      candidates.push(pillion('pillion-tls', 'pillion (TLS)', null, {
        setup: 'TLS termination on the uWS front (SSLApp) with a P-256 certificate made for the run',
        extras: (ctx) => ({ tls: benchCert(ctx.tmp) }),
      }));
    } else skipped.push({ id: 'pillion-tls', reason: 'openssl is not installed: no certificate for the TLS candidates' });
  }
  const nginxBin = which('nginx');
  if (nginxBin !== null) {
    candidates.push(nginx(nginxBin));
    if (which('openssl') !== null) candidates.push(nginx(nginxBin, true));
  }
  else skipped.push({ id: 'nginx', reason: 'nginx is not installed (not on PATH nor in /usr/sbin)' });
  const haproxyBin = which('haproxy');
  if (haproxyBin !== null) candidates.push(haproxy(haproxyBin));
  else skipped.push({ id: 'haproxy', reason: 'haproxy is not installed (not on PATH nor in /usr/sbin)' });
  return { candidates, skipped };
}

export function versionOf(bin: string, args: string[]): string {
  // nginx -v prints on stderr, haproxy -v on stdout: take the first non-empty line of either.
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 });
  const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '');
  return line?.trim() ?? '?';
}
