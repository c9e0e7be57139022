// Telemetry end to end (issue 5): access logs through the log-ship pool to a file and to HTTP collectors
// living in this process, counted per request (x-request-id, which the proxy generates per request);
// a collector that goes down (records spooled, then delivered, none lost, none duplicated); SIGTERM
// mid-run (drain flushes the buffers); logrotate; the memory and disk bounds; the formats, filters and
// the Loki and Elasticsearch payloads; HDR histograms against an origin with a known latency
// distribution; and `promtool check metrics` on /stats/prometheus.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import autocannon from 'autocannon';
import { Origin } from '../helpers/origin.js';
import { indent, startProxy, type Proxy } from '../helpers/proxy.js';
import { request, sleep, waitFor } from '../helpers/util.js';

interface LoadResult { requests: { total: number }; errors: number; non2xx: number; '2xx': number; resets?: number }
interface LoadRun extends PromiseLike<LoadResult> {
  stop(): void;
  on(ev: 'response', fn: (client: unknown, status: number) => void): void;
}
// autocannon ships no types.
const load = autocannon as unknown as (o: object) => LoadRun;

/** A log collector: one POST per batch, gunzipped when the sink says so; `mode` makes it fail. */
class Collector {
  mode: 'ok' | '503' | '400' = 'ok';
  posts: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  refused = 0;
  port = 0;
  private server: Server | null = null;

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.mode !== 'ok') {
          this.refused++;
          res.writeHead(Number(this.mode)).end('no\n');
          return;
        }
        let raw = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        this.posts.push({ url: req.url ?? '', headers: req.headers, body: raw.toString() });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r, j) => { server.once('error', j); server.listen(port, '127.0.0.1', () => r()); });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === null) return;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/ingest`;
  }

  /** NDJSON lines received. */
  lines(): string[] {
    return this.posts.flatMap((p) => p.body.split('\n').filter((l) => l !== ''));
  }
}

/**
 * Keep-alive load that names every request (x-request-id, which the proxy keeps): which requests got
 * a whole response and which failed, for matching against the access log.
 */
class IdClient {
  readonly answered = new Set<string>();
  readonly failed = new Set<string>();
  readonly errors: Record<string, number> = {};
  private stopped = false;
  private readonly agent: Agent;
  private readonly loops: Promise<void>[];

  constructor(private readonly port: number, connections: number, private readonly path: string) {
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
    this.loops = Array.from({ length: connections }, (_, c) => this.loop(c));
  }

  private async loop(c: number): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const id = `c${c}-${i}`;
      const code = await new Promise<string | null>((resolve) => {
        const fail = (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message);
        const rq = httpRequest({ host: '127.0.0.1', port: this.port, path: this.path, agent: this.agent, headers: { 'x-request-id': id } }, (res) => {
          res.resume();
          res.on('end', () => resolve(null));
          res.on('error', fail);
        });
        rq.on('error', fail);
        rq.end();
      });
      if (code === null) this.answered.add(id);
      else {
        this.failed.add(id);
        this.errors[code] = (this.errors[code] ?? 0) + 1;
        if (code === 'ECONNREFUSED') return; // the listener is gone
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    this.agent.destroy();
  }
}

/** The proxy's config: one listener with these access_log sinks (YAML list), one cluster. */
function config(originUrl: string, accessLog: string, extra = ''): string {
  return `admin:
  address: 127.0.0.1
  port: 0
${extra}listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    access_log:
${indent(accessLog, 6)}
    routes:
      - name: r
        match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints: [${originUrl}]
`;
}

/** Counts of each id; throws on a line that is not JSON with an `id`. */
function idCounts(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) {
    const id = (JSON.parse(l) as { id?: string }).id;
    assert.ok(typeof id === 'string' && id.length > 0, `a record without an id: ${l}`);
    m.set(id, (m.get(id) ?? 0) + 1);
  }
  return m;
}

/** Asserts `lines` are exactly `n` records with distinct ids. */
function exactlyOnce(lines: string[], n: number, what: string): void {
  const ids = idCounts(lines);
  const dup = [...ids].filter(([, c]) => c > 1);
  assert.equal(dup.length, 0, `${what}: ${dup.length} ids seen more than once (first ${dup[0]?.[0]} x${dup[0]?.[1]})`);
  assert.equal(lines.length, n, `${what}: ${lines.length} records for ${n} requests`);
}

function fileLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}

const JSON_ID = `json_format: { id: "%REQ(X-REQUEST-ID)%", status: "%RESPONSE_CODE%", flags: "%RESPONSE_FLAGS%" }`;

describe('telemetry', () => {
  const origin = new Origin();
  let dir = '';
  before(async () => {
    await origin.start();
    dir = mkdtempSync(join(tmpdir(), 'pillion-telemetry-'));
  });
  after(async () => {
    await origin.stop();
    if (process.env.KEEP_TELEMETRY_DIR === undefined) rmSync(dir, { recursive: true, force: true });
    else console.log("kept", dir);
  });

  async function withProxy<T>(cfg: string, fn: (p: Proxy) => Promise<T>): Promise<T> {
    const p = await startProxy({ config: cfg });
    try {
      return await fn(p);
    } finally {
      await p.stop();
    }
  }

  test('autocannon amount N: exactly N records in the file sink and N in the HTTP sink (NDJSON, gzip)', async () => {
    const N = 3000;
    const collector = new Collector();
    await collector.start();
    const file = join(dir, 'exact.log');
    try {
      await withProxy(config(origin.url, `
        - path: ${file}
          ${JSON_ID}
        - http: { url: ${collector.url}, gzip: true }
          ${JSON_ID}
          batch: { max_records: 200, max_delay: 100ms }
      `), async (p) => {
        const r = await load({ url: p.url + '/bytes/16', connections: 16, amount: N });
        assert.equal(r.errors, 0);
        assert.equal(r['2xx'], N);
        await p.waitStat('access_log.records_written', N, 10_000);
        await p.waitStat('access_log.records_shipped', N, 10_000);
        exactlyOnce(fileLines(file), N, 'file');
        exactlyOnce(collector.lines(), N, 'http');
        // The same requests in both.
        assert.deepEqual([...idCounts(fileLines(file)).keys()].sort(), [...idCounts(collector.lines()).keys()].sort());
        assert.ok(collector.posts.every((x) => x.headers['content-encoding'] === 'gzip' && x.headers['content-type'] === 'application/x-ndjson'));
        assert.ok(collector.posts.length >= N / 200, `batched: ${collector.posts.length} posts`);
        assert.equal(await p.stat('access_log.dropped'), 0);
        assert.equal(await p.stat('access_log.records_spooled'), 0);
      });
    } finally {
      await collector.stop();
    }
  });

  test('stdout sink: the main thread writes the formatted records to the proxy\'s stdout', async () => {
    const N = 500;
    await withProxy(config(origin.url, `
      - path: stdout
        format: "access %REQ(X-REQUEST-ID)% %RESPONSE_CODE%"
        batch: { max_records: 64, max_delay: 20ms }
    `), async (p) => {
      let out = '';
      p.child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      const r = await load({ url: p.url + '/', connections: 4, amount: N });
      assert.equal(r['2xx'], N);
      await p.waitStat('access_log.records_written', N, 10_000);
      await waitFor('the lines on stdout', () => out.split('\n').filter((l) => l.startsWith('access ')).length >= N, 5000);
      const lines = out.split('\n').filter((l) => l.startsWith('access '));
      assert.equal(lines.length, N);
      assert.equal(new Set(lines).size, N, 'distinct request ids');
      for (const l of lines) assert.match(l, /^access [0-9a-f-]{36} 200$/);
    });
  });

  test('HTTP sink down for part of the run (503, then closed): spooled, then delivered when back, none lost, none duplicated', async () => {
    const N = 3000;
    const collector = new Collector();
    await collector.start();
    const spool = join(dir, 'spool-down');
    try {
      await withProxy(config(origin.url, `
        - http: { url: ${collector.url}, gzip: true }
          ${JSON_ID}
          batch: { max_records: 100, max_delay: 50ms }
          retry: { max_attempts: 2 }
          spool: { dir: ${spool} }
      `), async (p) => {
        const run = load({ url: p.url + '/bytes/16', connections: 8, amount: N, overallRate: 1500 });
        await sleep(400);
        collector.mode = '503';
        // Wide windows: on a loaded CI machine the first batches of the outage can come late.
        await waitFor('a batch refused with 503', () => collector.refused > 0, 5000);
        await sleep(300);
        const port = collector.port;
        await collector.stop();
        await sleep(600);
        await collector.start(port);
        collector.mode = 'ok';
        const r = await run;
        assert.equal(r.errors, 0);
        assert.equal(r['2xx'], N, 'traffic unaffected');
        assert.ok(collector.refused > 0, 'the collector refused batches while down');
        const spooled = await p.stat('access_log.records_spooled');
        assert.ok(spooled > 0, 'records were spooled');
        await waitFor(`all ${N} records delivered (have ${collector.lines().length})`, () => collector.lines().length >= N, 20_000);
        await sleep(300); // a duplicate would come late
        exactlyOnce(collector.lines(), N, 'http after outage');
        await p.waitStat('access_log.records_shipped', N, 5000);
        assert.equal(await p.stat('access_log.dropped'), 0);
        assert.ok(await p.stat('access_log.batches_failed') > 0);
        assert.ok(await p.stat('access_log.retries') > 0);
        // The spool is empty once shipped.
        const left = readdirSync(spool, { recursive: true }).filter((f) => String(f).endsWith('.batch'));
        assert.deepEqual(left, []);
      });
    } finally {
      await collector.stop();
    }
  });

  test('a restart ships what the previous run spooled', async () => {
    const N = 500;
    const collector = new Collector();
    await collector.start();
    const port = collector.port;
    await collector.stop(); // down from the start
    const spool = join(dir, 'spool-restart');
    const cfg = config(origin.url, `
      - http: { url: http://127.0.0.1:${port}/ingest }
        ${JSON_ID}
        batch: { max_records: 100, max_delay: 50ms }
        retry: { max_attempts: 1 }
        spool: { dir: ${spool} }
    `);
    try {
      await withProxy(cfg, async (p) => {
        const r = await load({ url: p.url + '/', connections: 4, amount: N });
        assert.equal(r['2xx'], N);
        await p.waitStat('access_log.records_spooled', N, 10_000);
      });
      await collector.start(port);
      await withProxy(cfg, async (p) => {
        await waitFor(`${N} spooled records shipped after restart (have ${collector.lines().length})`, () => collector.lines().length >= N, 10_000);
        await p.waitStat('access_log.records_shipped', N, 5000);
      });
      exactlyOnce(collector.lines(), N, 'after restart');
    } finally {
      await collector.stop();
    }
  });

  test('a sink that refuses batches for good (400): dropped and counted, not retried, and not left to block the spool', async () => {
    const N = 300;
    const collector = new Collector();
    await collector.start();
    const spool = join(dir, 'spool-400');
    try {
      await withProxy(config(origin.url, `
        - http: { url: ${collector.url} }
          ${JSON_ID}
          batch: { max_records: 100, max_delay: 50ms }
          retry: { max_attempts: 3 }
          spool: { dir: ${spool} }
      `), async (p) => {
        // Down first (503): spooled.
        collector.mode = '503';
        const a = await load({ url: p.url + '/', connections: 4, amount: N });
        assert.equal(a['2xx'], N);
        await p.waitStat('access_log.records_spooled', N, 10_000);
        // Then up, but refusing every batch: the spool drains into drops; new batches are dropped at once.
        collector.mode = '400';
        const refusedBefore = collector.refused;
        await p.waitStat('access_log.dropped', N, 10_000);
        const b = await load({ url: p.url + '/', connections: 4, amount: N });
        assert.equal(b['2xx'], N);
        await p.waitStat('access_log.dropped', 2 * N, 10_000);
        assert.equal(await p.stat('access_log.records_spooled'), N, 'nothing more spooled');
        assert.equal(await p.stat('access_log.records_shipped'), 0);
        const left = readdirSync(spool, { recursive: true }).filter((f) => String(f).endsWith('.batch'));
        assert.deepEqual(left, [], 'the spool is not stuck behind a refused batch');
        // One attempt per batch: a 400 is not retried.
        const batches = collector.refused - refusedBefore;
        assert.ok(batches <= 2 * N / 100 + 2 * 4, `${batches} posts refused`);
      });
    } finally {
      await collector.stop();
    }
  });

  test('SIGTERM mid-run: every answered request has its record in the file and at the HTTP sink after exit (flushed on drain)', async () => {
    for (const concurrency of [1, 2]) {
      const file = join(dir, `sigterm-${concurrency}.log`);
      const collector = new Collector();
      await collector.start();
      // A long max_delay: the records are only written if the drain flushes the buffers.
      const p = await startProxy({
        config: config(origin.url, `
          - path: ${file}
            ${JSON_ID}
            batch: { max_records: 100000, max_delay: 60s }
          - http: { url: ${collector.url} }
            ${JSON_ID}
            batch: { max_records: 100000, max_delay: 60s }
        `, `concurrency: ${concurrency}\n`),
      });
      const client = new IdClient(p.port, 16, '/sleep/5');
      try {
        await waitFor('some load', () => client.answered.size > 300, 5000);
        p.signal('SIGTERM');
        const code = await Promise.race([p.exited, sleep(15_000).then(() => 'timeout')]);
        await client.stop();
        assert.equal(code, 0, `exit code (stderr: ${p.stderr().slice(-500)})`);
        for (const [what, lines] of [['file', fileLines(file)], ['http', collector.lines()]] as const) {
          const ids = idCounts(lines);
          const missing = [...client.answered].filter((id) => !ids.has(id));
          assert.deepEqual(missing, [], `${what}: answered requests without a record (concurrency ${concurrency})`);
          const dup = [...ids].filter(([, n]) => n > 1);
          assert.deepEqual(dup, [], `${what}: records written twice`);
          // Nothing the client did not send; a record beyond the answered ones is a request whose response broke.
          const phantom = [...ids.keys()].filter((id) => !client.answered.has(id) && !client.failed.has(id));
          assert.deepEqual(phantom, []);
          const broken = [...ids.keys()].filter((id) => client.failed.has(id));
          assert.deepEqual(broken, [], `${what}: requests logged by the proxy whose response the client could not read: ${JSON.stringify(client.errors)}`);
        }
      } finally {
        await client.stop();
        await p.stop();
        await collector.stop();
      }
    }
  });

  test('SIGTERM while the HTTP sink hangs: the pending batches go to the spool, and the next start delivers every answered request once', async () => {
    const held: import('node:http').ServerResponse[] = [];
    const hang = createServer((_req, res) => { held.push(res); });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const port = (hang.address() as AddressInfo).port;
    const spool = join(dir, 'spool-sigterm');
    const cfg = config(origin.url, `
      - http: { url: http://127.0.0.1:${port}/ingest, timeout: 60s }
        ${JSON_ID}
        batch: { max_records: 50, max_delay: 20ms }
        spool: { dir: ${spool} }
    `);
    const collector = new Collector();
    try {
      const p = await startProxy({ config: cfg });
      const client = new IdClient(p.port, 8, '/');
      try {
        await waitFor('some load', () => client.answered.size > 500, 10_000);
        const t0 = Date.now();
        p.signal('SIGTERM');
        const code = await Promise.race([p.exited, sleep(20_000).then(() => 'timeout')]);
        await client.stop();
        assert.equal(code, 0, `exit code (stderr: ${p.stderr().slice(-500)})`);
        // The posts would hang for 60 s: the exit did not wait for them.
        assert.ok(Date.now() - t0 < 10_000, `exit took ${Date.now() - t0} ms`);
        assert.ok(held.length > 0, 'posts were hanging at the sink');
      } finally {
        await client.stop();
        await p.stop();
      }
      for (const res of held) res.destroy();
      hang.closeAllConnections();
      await new Promise<void>((r) => hang.close(() => r()));
      // The sink is back (on the same port) and the proxy starts again: the spool is shipped.
      await collector.start(port);
      const p2 = await startProxy({ config: cfg });
      try {
        await waitFor(`${client.answered.size} records delivered (have ${collector.lines().length})`, () => collector.lines().length >= client.answered.size, 15_000);
        await sleep(300);
        const ids = idCounts(collector.lines());
        const missing = [...client.answered].filter((id) => !ids.has(id));
        assert.deepEqual(missing, [], 'answered requests whose record was lost at exit');
        assert.deepEqual([...ids].filter(([, n]) => n > 1), [], 'delivered twice');
        assert.deepEqual([...ids.keys()].filter((id) => !client.answered.has(id) && !client.failed.has(id)), []);
      } finally {
        await p2.stop();
      }
    } finally {
      for (const res of held) res.destroy();
      hang.closeAllConnections();
      hang.close();
      await collector.stop();
    }
  });

  test('histograms against a known latency distribution (origin sleeps 20 ms and 80 ms, 60/40; two workers merged); promtool check metrics', async () => {
    const N = 400;
    const file = join(dir, 'latency.log');
    // A second listener to warm up on (the first requests of a worker pay for JIT and upstream
    // connections), so that the measured listener sees only the known distribution. Both log to the
    // same file: the cluster's histogram sees both.
    const sink = `
      - path: ${file}
        json_format: { route: "%ROUTE_NAME%", ms: "%DURATION%", up: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", path: "%REQ(:PATH)%" }
        batch: { max_records: 100, max_delay: 50ms }`;
    const cfg = config(origin.url, sink, 'concurrency: 2\nstats:\n  histogram_buckets: [0.5, 1, 5, 10, 25, 30, 50, 90, 100, 250, 500, 1000]\n').replace('listeners:\n', `listeners:
  - name: warm
    address: 127.0.0.1
    port: 0
    access_log:
${indent(sink, 6)}
    routes:
      - name: w
        match: { prefix: / }
        cluster: app
`);
    await withProxy(cfg, async (p) => {
      const WARM = 400;
      const w = await load({ url: `http://127.0.0.1:${p.ports.get('warm')}/sleep/20`, connections: 10, amount: WARM });
      assert.equal(w['2xx'], WARM);
      const fast = '/sleep/20';
      const slow = '/sleep/80';
      const r = await load({
        url: `http://127.0.0.1:${p.ports.get('ingress')}`, connections: 10, amount: N,
        requests: [fast, fast, fast, slow, slow].map((path) => ({ path })),
      });
      assert.equal(r['2xx'], N);
      await p.waitStat('access_log.records_written', N + WARM, 10_000);
      // The proxy's own durations (whole ms, truncated) from the access log: what the histograms recorded.
      const recs = fileLines(file).map((l) => JSON.parse(l) as { route: string; ms: number; up: number; path: string });
      const measured = recs.filter((x) => x.route === 'r');
      assert.equal(measured.length, N);
      assert.equal(measured.filter((x) => x.path === fast).length, N * 0.6);
      const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
      const downstream = sorted(measured.map((x) => x.ms));
      const upstream = sorted(recs.map((x) => x.up));

      const prom = (await p.admin('/stats/prometheus')).body;
      const sample = (name: string, labels: string): number => {
        const line = prom.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
        assert.ok(line !== undefined, `no ${name}{${labels}} in /stats/prometheus`);
        return Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      const L = 'envoy_http_conn_manager_prefix="ingress"';
      for (const [fam, labels, values] of [
        ['envoy_http_downstream_rq_time', L, downstream],
        ['envoy_http_route_downstream_rq_time', `${L},envoy_route_name="r"`, downstream],
        ['envoy_cluster_upstream_rq_time', 'envoy_cluster_name="app"', upstream],
      ] as const) {
        const bucket = (le: string) => sample(`${fam}_bucket`, `${labels},le="${le}"`);
        assert.equal(sample(`${fam}_count`, labels), values.length, `${fam} count`);
        assert.equal(bucket('+Inf'), values.length);
        // Each bucket holds what the access log says, give or take values within the log's truncation
        // (and the HDR precision) of the bound.
        // The configured bounds (stats.histogram_buckets), 30 and 90 among them.
        const les = prom.split('\n').filter((l) => l.startsWith(`${fam}_bucket{${labels},le="`)).map((l) => /le="([^"]+)"/.exec(l)![1]);
        assert.deepEqual(les, ['0.5', '1', '5', '10', '25', '30', '50', '90', '100', '250', '500', '1000', '+Inf']);
        for (const le of [0.5, 1, 5, 10, 25, 30, 50, 90, 100, 250, 500, 1000]) {
          const lo = values.filter((v) => v <= le - 1).length;
          const hi = values.filter((v) => v <= le + 1).length;
          const b = bucket(String(le));
          assert.ok(b >= lo && b <= hi, `${fam} le=${le}: ${b}, access log says ${lo}..${hi}`);
        }
        // HDR's percentile p of n values is value number ceil(p n): the same to the HDR precision (0.1 %)
        // plus the log's truncation to whole milliseconds (the true value is in [ms, ms + 1)).
        for (const [pc, label] of [[25, '0.25'], [50, '0.5'], [90, '0.9'], [99, '0.99']] as const) {
          const v = sample(`${fam}_percentiles`, `${labels},quantile="${label}"`);
          const want = values[Math.ceil((pc / 100) * values.length) - 1]!;
          assert.ok(v >= want && v <= want + 1 + v * 0.001, `${fam} p${pc}: histogram ${v} ms, access log ${want} ms`);
        }
        const sum = sample(`${fam}_sum`, labels);
        const logSum = values.reduce((a, b) => a + b, 0);
        assert.ok(sum >= logSum - sum * 0.001 && sum <= logSum + values.length + sum * 0.001, `${fam} sum ${sum} vs access log ${logSum}`);
      }
      // And the known distribution: 60 % at 20 ms, 40 % at 80 ms, plus the proxy and the scheduler.
      const q = (x: string) => sample('envoy_http_downstream_rq_time_percentiles', `${L},quantile="${x}"`);
      const bucket = (le: string) => sample('envoy_http_downstream_rq_time_bucket', `${L},le="${le}"`);
      assert.ok(q('0.5') >= 19.9 && q('0.5') <= 35, `p50 ${q('0.5')} (20 ms + slack)`);
      assert.ok(q('0.99') >= 79.9 && q('0.99') <= 120, `p99 ${q('0.99')} (80 ms + slack)`);
      assert.equal(bucket('10'), 0, 'nothing under 10 ms');
      assert.ok(bucket('50') <= N * 0.6 && bucket('50') >= N * 0.6 * 0.95, `le=50: ${bucket('50')} of the ${N * 0.6} fast ones`);
      assert.ok(bucket('250') >= N * 0.99, `le=250: ${bucket('250')}`);
      assert.deepEqual(
        [...new Set([...prom.matchAll(/envoy_http_downstream_rq_time_percentiles\{[^}]*quantile="([^"]+)"/g)].map((m) => m[1]))],
        ['0.25', '0.5', '0.75', '0.9', '0.95', '0.99', '0.995', '0.999'],
      );

      // /stats prints the same percentiles in Envoy's style.
      const text = (await p.admin('/stats')).body;
      const line = text.split('\n').find((l) => l.startsWith('http.ingress.downstream_rq_time: '));
      assert.ok(line !== undefined, 'a P50 line in /stats');
      const p50 = Number(/ P50\(([\d.]+),/.exec(line)![1]);
      assert.ok(Math.abs(p50 - q('0.5')) < 0.001, line);

      // promtool: the exposition as a whole, histograms included.
      if (!existsSync('/usr/bin/promtool')) {
        process.stderr.write('# SKIP promtool check: /usr/bin/promtool is absent (apt-get install prometheus)\n');
        return;
      }
      assert.match(prom, /^# TYPE envoy_http_downstream_rq_time histogram$/m);
      assert.match(prom, /^# TYPE envoy_http_downstream_rq_time_percentiles summary$/m);
      const check = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: prom, timeout: 10_000 });
      assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
      assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint findings');
    });
  });

  test('formats (Envoy default, JSON with REQ/RESP/DURATION), filters (status range, sample 0/100, response_flags), Loki and Elasticsearch payloads', async () => {
    const loki = new Collector();
    const es = new Collector();
    await loki.start();
    await es.start();
    const f = (name: string) => join(dir, `formats-${name}.log`);
    const cfg = `admin:
  address: 127.0.0.1
  port: 0
listeners:
  - name: ingress
    address: 127.0.0.1
    port: 0
    access_log:
${indent(`
      - path: ${f('default')}
      - path: ${f('json')}
        json_format:
          status: "%RESPONSE_CODE%"
          flags: "%RESPONSE_FLAGS%"
          ms: "%DURATION%"
          custom: "%REQ(X-CUSTOM?X-OTHER)%"
          short: "%REQ(X-CUSTOM):4%"
          ctype: "%RESP(CONTENT-TYPE)%"
          up: "%UPSTREAM_HOST%"
          cluster: "%UPSTREAM_CLUSTER%"
          route: "%ROUTE_NAME%"
          sent: "%BYTES_SENT%"
          received: "%BYTES_RECEIVED%"
          client: "%DOWNSTREAM_REMOTE_ADDRESS%"
          line: "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%"
          id: "%REQ(X-REQUEST-ID)%"
      - path: ${f('5xx')}
        format: "%RESPONSE_CODE% %RESPONSE_FLAGS%"
        filter: { status_code: { min: 500, max: 599 } }
      - path: ${f('sample0')}
        filter: { sample: 0 }
      - path: ${f('sample100')}
        format: "%REQ(X-REQUEST-ID)%"
        filter: { sample: 100 }
      - path: ${f('uf')}
        format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER%"
        filter: { response_flags: [UF] }
      - http: { url: "${loki.url}/loki/api/v1/push", preset: loki, gzip: false, labels: { job: pillion, env: test }, headers: { x-scope-orgid: tenant-1 } }
        batch: { max_records: 1000, max_delay: 50ms }
      - http: { url: "${es.url}/_bulk", preset: elasticsearch, index: access-idx, gzip: true }
        json_format: { status: "%RESPONSE_CODE%", id: "%REQ(X-REQUEST-ID)%" }
        batch: { max_records: 1000, max_delay: 50ms }
`, 6)}
    routes:
      - name: dead
        match: { prefix: /dead }
        cluster: dead
      - name: health
        match: { prefix: /healthz }
        direct_response: { status: 200, body: "ok\\n" }
      - name: r
        match: { prefix: /status }
        cluster: app
      - name: echo
        match: { prefix: /echo }
        cluster: app
clusters:
  - name: app
    endpoints: [${origin.url}]
  - name: dead
    endpoints: [http://127.0.0.1:1]
`;
    try {
      await withProxy(cfg, async (p) => {
        const sent: { status: number; path: string }[] = [];
        for (let i = 0; i < 10; i++) {
          const r = await request(p.port, { path: `/status/200?i=${i}`, headers: { 'x-custom': 'custom-value', 'user-agent': 'telemetry-test' } });
          sent.push({ status: r.status, path: `/status/200?i=${i}` });
        }
        for (let i = 0; i < 5; i++) sent.push({ status: (await request(p.port, { path: '/status/503', headers: { 'x-other': 'other' } })).status, path: '/status/503' });
        for (let i = 0; i < 3; i++) sent.push({ status: (await request(p.port, { path: '/dead' })).status, path: '/dead' });
        for (let i = 0; i < 2; i++) sent.push({ status: (await request(p.port, { method: 'POST', path: '/echo', body: 'hello' })).status, path: '/echo' });
        // Answered by the proxy itself, before any upstream: a direct response and no route (404 NR).
        sent.push({ status: (await request(p.port, { path: '/healthz' })).status, path: '/healthz' });
        sent.push({ status: (await request(p.port, { path: '/nothing?q=1' })).status, path: '/nothing?q=1' });
        assert.deepEqual(sent.map((x) => x.status), [...Array(10).fill(200), ...Array(5).fill(503), ...Array(3).fill(503), 200, 200, 200, 404]);
        const N = sent.length;
        // File sinks: 22 + 22 + 8 (5xx) + 0 (sample 0) + 22 + 3 (UF); HTTP sinks: 22 + 22.
        await p.waitStat('access_log.records_written', N + N + 8 + 0 + N + 3, 10_000);
        await p.waitStat('access_log.records_shipped', N + N, 10_000);

        // Envoy's default format, field by field.
        const def = fileLines(f('default'));
        assert.equal(def.length, N);
        const shape = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\] "(\S+) (\S+) HTTP\/1\.1" (\d{3}) (\S+) (\d+) (\d+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$/;
        for (const line of def) assert.match(line, shape);
        const first = shape.exec(def[0]!)!;
        assert.ok(Math.abs(Date.parse(first[1]!) - Date.now()) < 60_000, 'START_TIME is now');
        assert.deepEqual(first.slice(2, 6), ['GET', '/status/200?i=0', '200', '-']);
        assert.equal(first[6], '0', 'BYTES_RECEIVED');
        assert.equal(first[7], String('status 200\n'.length), 'BYTES_SENT');
        assert.match(first[9]!, /^\d+$/, 'x-envoy-upstream-service-time');
        assert.equal(first[10], '127.0.0.1', 'x-forwarded-for');
        assert.equal(first[11], 'telemetry-test');
        assert.match(first[12]!, /^[0-9a-f-]{36}$/, 'x-request-id (generated)');
        assert.equal(first[13], `127.0.0.1:${p.port}`, ':authority');
        assert.equal(first[14], `127.0.0.1:${origin.port}`, 'UPSTREAM_HOST');
        const dead = def.filter((l) => l.includes('"GET /dead HTTP/1.1"'));
        assert.equal(dead.length, 3);
        for (const l of dead) assert.match(l, /" 503 UF 0 \d+ \d+ - "/, 'UF, and no upstream service time');
        assert.match(def.find((l) => l.includes('POST /echo'))!, /" 200 - 5 \d+ /, 'BYTES_RECEIVED of a POST');

        // JSON: lone operators keep their type; headers by name, with fallback and truncation.
        const js = fileLines(f('json')).map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(js.length, N);
        const j0 = js[0]!;
        assert.equal(j0.status, 200);
        assert.equal(j0.flags, '-');
        assert.equal(typeof j0.ms, 'number');
        assert.equal(j0.custom, 'custom-value');
        assert.equal(j0.short, 'cust');
        assert.equal(j0.ctype, 'text/plain');
        assert.equal(j0.up, `127.0.0.1:${origin.port}`);
        assert.equal(j0.cluster, 'app');
        assert.equal(j0.route, 'r');
        assert.equal(j0.sent, 'status 200\n'.length);
        assert.equal(j0.received, 0);
        assert.match(String(j0.client), /^127\.0\.0\.1/);
        assert.equal(j0.line, 'GET /status/200?i=0 HTTP/1.1');
        assert.equal(js[10]!.custom, 'other', 'REQ(X?Y) falls back to Y');
        assert.equal(js[10]!.short, null);
        assert.equal(js[15]!.flags, 'UF');
        assert.equal(js[15]!.route, 'dead');
        assert.equal(js[19]!.received, 5);
        assert.equal(js[20]!.status, 200);
        assert.equal(js[20]!.route, 'health');
        assert.equal(js[20]!.sent, 3);
        assert.equal(js[20]!.cluster, null);
        assert.deepEqual([js[21]!.status, js[21]!.flags, js[21]!.line, js[21]!.route, js[21]!.up], [404, 'NR', 'GET /nothing?q=1 HTTP/1.1', null, null]);
        assert.match(def[21]!, /"GET \/nothing\?q=1 HTTP\/1\.1" 404 NR 0 \d+ 0 - /);

        // Filters.
        assert.deepEqual(fileLines(f('5xx')), [...Array(5).fill('503 -'), ...Array(3).fill('503 UF')]);
        assert.deepEqual(fileLines(f('sample0')), []);
        // Requests answered by the proxy itself get an x-request-id in the log too (as in Envoy).
        assert.match(String(js[21]!.id), /^[0-9a-f-]{36}$/);
        assert.deepEqual(fileLines(f('sample100')), js.map((x) => x.id));
        assert.deepEqual(fileLines(f('uf')), Array(3).fill('503 UF dead'));

        // Loki's push API: {streams: [{stream: labels, values: [[ns, line]]}]}, JSON, the sink's headers.
        assert.ok(loki.posts.length >= 1);
        const values: [string, string][] = [];
        for (const post of loki.posts) {
          assert.equal(post.url, '/ingest/loki/api/v1/push');
          assert.equal(post.headers['content-type'], 'application/json');
          assert.equal(post.headers['content-encoding'], undefined, 'gzip: false');
          assert.equal(post.headers['x-scope-orgid'], 'tenant-1');
          const body = JSON.parse(post.body) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
          assert.equal(body.streams.length, 1);
          assert.deepEqual(body.streams[0]!.stream, { job: 'pillion', env: 'test' });
          values.push(...body.streams[0]!.values);
        }
        assert.equal(values.length, N);
        for (const [ns, line] of values) {
          assert.match(ns, /^\d{19}$/, 'nanoseconds as a string');
          assert.ok(Math.abs(Number(BigInt(ns) / 1_000_000n) - Date.now()) < 60_000);
          assert.match(line, shape, 'the default format');
        }
        assert.deepEqual(values.map(([, l]) => l).sort(), [...def].sort());

        // Elasticsearch's bulk API: action line, document line, NDJSON, trailing newline, gzip (asked for:
        // the default is off to a collector on loopback).
        const docs: Record<string, unknown>[] = [];
        for (const post of es.posts) {
          assert.equal(post.url, '/ingest/_bulk');
          assert.equal(post.headers['content-type'], 'application/x-ndjson');
          assert.equal(post.headers['content-encoding'], 'gzip');
          assert.ok(post.body.endsWith('\n'));
          const ls = post.body.slice(0, -1).split('\n');
          assert.equal(ls.length % 2, 0);
          for (let i = 0; i < ls.length; i += 2) {
            assert.deepEqual(JSON.parse(ls[i]!), { index: { _index: 'access-idx' } });
            docs.push(JSON.parse(ls[i + 1]!) as Record<string, unknown>);
          }
        }
        assert.deepEqual(docs.map((d) => d.id).sort(), js.map((x) => x.id).sort());
        assert.deepEqual(docs.map((d) => d.status).sort(), js.map((x) => x.status).sort());
      });
    } finally {
      await loki.stop();
      await es.stop();
    }
  });

  test('a sink that hangs: past the memory bound batches spill to the spool, past the disk bound they are dropped and counted; the file sink and the traffic are unaffected', async () => {
    const N = 2000;
    // Accepts every POST and never answers.
    const held: import('node:http').ServerResponse[] = [];
    const hang = createServer((_req, res) => { held.push(res); });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const hangUrl = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/ingest`;
    const file = join(dir, 'bounds.log');
    const spool = join(dir, 'spool-bounds');
    const MAX_DISK = 20_000;
    try {
      await withProxy(config(origin.url, `
        - path: ${file}
          ${JSON_ID}
          batch: { max_records: 50, max_delay: 20ms }
        - http: { url: ${hangUrl}, timeout: 8s }
          ${JSON_ID}
          batch: { max_records: 50, max_delay: 20ms }
          retry: { max_attempts: 1 }
          spool: { dir: ${spool}, max_memory_bytes: 50000, max_disk_bytes: ${MAX_DISK} }
        - http: { url: ${hangUrl}, timeout: 8s }
          ${JSON_ID}
          batch: { max_records: 50, max_delay: 20ms }
          retry: { max_attempts: 1 }
          spool: { max_memory_bytes: 50000 }
      `), async (p) => {
        // No post can time out before t0 + 8 s: whatever happens before that did not wait for one.
        const t0 = Date.now();
        const r = await load({ url: p.url + '/', connections: 8, amount: N });
        assert.equal(r.errors, 0);
        assert.equal(r['2xx'], N, 'traffic unaffected');
        // The file sink does not wait for the hanging one.
        await p.waitStat('access_log.records_written', N, Math.max(500, t0 + 7000 - Date.now()));
        exactlyOnce(fileLines(file), N, 'file beside a hanging sink');
        // Beyond the memory bound, at once: spooled up to the disk bound (first sink), dropped beyond
        // it, and dropped at once without a spool (second sink).
        await waitFor('records spooled and dropped while the posts still hang', async () =>
          (await p.stat('access_log.records_spooled')) > 0 && (await p.stat('access_log.dropped')) > N / 2, Math.max(500, t0 + 7500 - Date.now()));
        assert.ok(Date.now() - t0 < 8000, `${Date.now() - t0} ms: before any post timed out`);
        // Once the hanging posts time out, every record of both HTTP sinks is accounted for.
        await waitFor('every record spooled or dropped', async () =>
          (await p.stat('access_log.records_spooled')) + (await p.stat('access_log.dropped')) === 2 * N, 20_000);
        const spooled = await p.stat('access_log.records_spooled');
        const dropped = await p.stat('access_log.dropped');
        assert.ok(spooled > 0 && dropped > N, `spooled ${spooled}, dropped ${dropped}`);
        assert.equal(await p.stat('access_log.records_shipped'), 0);
        let bytes = 0;
        for (const f of readdirSync(spool, { recursive: true })) {
          const st = statSync(join(spool, String(f)));
          if (st.isFile()) bytes += st.size;
        }
        assert.ok(bytes > 0 && bytes <= MAX_DISK, `spool holds ${bytes} bytes (bound ${MAX_DISK})`);
        assert.equal((await request(p.port, { path: '/' })).status, 200);
      });
    } finally {
      for (const res of held) res.destroy();
      hang.closeAllConnections();
      await new Promise<void>((r) => hang.close(() => r()));
    }
  });

  test('logrotate: a file renamed mid-run continues in a new file, nothing lost (and SIGUSR1 does not stop the proxy)', async () => {
    const N = 3000;
    const file = join(dir, 'rotate.log');
    await withProxy(config(origin.url, `
      - path: ${file}
        ${JSON_ID}
        batch: { max_records: 50, max_delay: 20ms }
    `), async (p) => {
      let answered = 0;
      const run = load({ url: p.url + '/', connections: 8, amount: N, overallRate: 2000 });
      run.on('response', () => { answered++; });
      await waitFor('records in the file', () => existsSync(file) && statSync(file).size > 0, 5000);
      renameSync(file, `${file}.1`);
      await waitFor('more load', () => answered > N / 2, 5000);
      renameSync(file, `${file}.2`);
      p.signal('SIGUSR1');
      const r = await run;
      assert.equal(r['2xx'], N);
      await p.waitStat('access_log.records_written', N, 10_000);
      const parts = [`${file}.1`, `${file}.2`, file].map(fileLines);
      assert.ok(parts.every((x) => x.length > 0), `each file has records: ${parts.map((x) => x.length)}`);
      exactlyOnce(parts.flat(), N, 'rotated files');
      assert.equal((await request(p.port, { path: '/' })).status, 200, 'still serving after SIGUSR1');
      assert.doesNotMatch(p.stderr(), /Debugger listening/, 'SIGUSR1 must not open the Node inspector');
      assert.match(p.stderr(), /SIGUSR1/);
    });
  });
});
