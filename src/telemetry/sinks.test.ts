import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { HttpSink } from './config.js';
import { appendToFile, linesOf, payload, post, requestHead, type Lines, type SinkTarget } from './sinks.js';

const textLines: Lines = linesOf(['GET /a 200', 'GET /b 503'], false, (labels) => [{ stream: labels, values: [['1000000', 'GET /a 200']] }]);

function target(url: string, preset: HttpSink['preset'] = 'ndjson', attempts = 1): SinkTarget {
  return { kind: 'http', path: null, retry_max_attempts: attempts, http: { url, preset, headers: { 'x-k': 'v' }, gzip: false, labels: { job: 'j' }, index: 'i', timeout_ms: 2000 } };
}

describe('sinks (shared by access logs and pillion logs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-sinks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('Elasticsearch wraps text lines as {"message":…}; Loki merges nothing the producer did not give', () => {
    const es = payload(target('http://x/', 'elasticsearch').http!, textLines).body.toString().split('\n');
    assert.deepEqual(es.slice(0, 2).map((l) => JSON.parse(l)), [{ index: { _index: 'i' } }, { message: 'GET /a 200' }]);
    assert.deepEqual(JSON.parse(payload(target('http://x/', 'loki').http!, textLines).body.toString()), { streams: [{ stream: { job: 'j' }, values: [['1000000', 'GET /a 200']] }] });
    assert.equal(payload(target('http://x/').http!, textLines).body.toString(), 'GET /a 200\nGET /b 503\n');
  });

  it('request head: the sink\'s headers, its Host when it sets one, Basic authorization from credentials in the URL', () => {
    const h = target('http://u%40x:p%3Aw@logs.test:3100/push').http!;
    const head = requestHead(new URL(h.url), h, 'application/json');
    assert.equal(head, `host: logs.test:3100\r\ncontent-type: application/json\r\nauthorization: Basic ${Buffer.from('u@x:p:w').toString('base64')}\r\nx-k: v\r\n`);
    const own = { ...h, gzip: true, headers: { host: 'virtual', authorization: 'Bearer t' } };
    assert.equal(requestHead(new URL(h.url), own, 't'), 'host: virtual\r\ncontent-type: t\r\ncontent-encoding: gzip\r\nauthorization: Bearer t\r\n');
  });

  it('file: appended in order, its directory created, fdatasync on request; an error comes back as a message', () => {
    const p = join(dir, 'sub', 'out.log');
    assert.equal(appendToFile(p, 'a\n', true), null);
    assert.equal(appendToFile(p, 'b\n', false), null);
    assert.equal(readFileSync(p, 'utf8'), 'a\nb\n');
    assert.match(appendToFile(join(p, 'not-a-dir', 'x'), 'c\n', false) ?? '', /ENOTDIR|EEXIST/);
  });

  it('post: 2xx ok; 503 retried up to the attempts; 400 refused at once; a bulk answer with errors only when asked', async () => {
    const answers: [number, string][] = [];
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.headers['content-type']} ${req.headers['x-k']}`);
      req.resume();
      req.on('end', () => {
        const [status, body] = answers.shift() ?? [200, '{}'];
        res.writeHead(status).end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      const body = Buffer.from('x\n');
      assert.deepEqual(await post(target(url), body, 'application/x-ndjson'), { ok: true, refused: false, attempts: 1 });
      assert.deepEqual(seen, ['application/x-ndjson v']);
      answers.push([503, ''], [503, '']);
      assert.deepEqual(await post(target(url, 'ndjson', 3), body, 't'), { ok: true, refused: false, attempts: 3 });
      answers.push([503, ''], [503, '']);
      assert.deepEqual(await post(target(url, 'ndjson', 2), body, 't'), { ok: false, refused: false, attempts: 2, error: 'HTTP 503' });
      answers.push([400, 'bad']);
      assert.deepEqual(await post(target(url, 'ndjson', 3), body, 't'), { ok: false, refused: true, attempts: 1, error: 'HTTP 400' });
      const bulk = '{"took":3,"errors":true,"items":[]}';
      answers.push([200, bulk]);
      assert.equal((await post(target(url, 'elasticsearch'), body, 't')).ok, true, 'access logs take the 200');
      answers.push([200, bulk]);
      assert.deepEqual(await post(target(url, 'elasticsearch'), body, 't', true), { ok: false, refused: false, attempts: 1, error: 'bulk response has errors' });
      const down = target('http://127.0.0.1:1/');
      const r = await post(down, body, 't');
      assert.equal(r.ok, false);
      assert.equal(r.refused, false);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
