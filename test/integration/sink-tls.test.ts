// An https access-log sink: the sinks' own HTTP/1.1 client (src/telemetry/http-post.ts) over TLS, with
// the certificate checked against the system's CAs plus NODE_EXTRA_CA_CERTS, the host name sent as SNI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { postOnce } from '../../src/telemetry/http-post.js';
import { TestPki } from '../helpers/certs.js';

describe('https sink', () => {
  const pki = new TestPki();
  const leaf = pki.issue('localhost', 'DNS:localhost,IP:127.0.0.1');
  const seen: { sni: string; auth: string; body: string }[] = [];
  const server = createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => {
      seen.push({ sni: (req.socket as unknown as { servername: string }).servername, auth: String(req.headers.authorization), body });
      res.writeHead(204).end();
    });
  });
  let port = 0;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('refuses a certificate no CA vouches for', async () => {
    const a = await postOnce(new URL(`https://localhost:${port}/`), 'host: localhost\r\n', Buffer.from('x\n'), 5000, false);
    assert.ok('error' in a, JSON.stringify(a));
    assert.match(a.error, /certificate/);
    assert.equal(seen.length, 0);
  });

  it('posts once the CA is trusted (NODE_EXTRA_CA_CERTS), with SNI and the URL\'s credentials', async () => {
    const sinks = new URL('../../src/telemetry/sinks.js', import.meta.url).href;
    const script = `import { post } from ${JSON.stringify(sinks)};
const t = { kind: 'http', path: null, retry_max_attempts: 1, http: { url: 'https://u:p@localhost:${port}/push', preset: 'ndjson', headers: {}, gzip: false, labels: {}, index: 'i', timeout_ms: 5000 } };
console.log(JSON.stringify(await post(t, Buffer.from('line 1\\nline 2\\n'), 'application/x-ndjson')));`;
    const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--input-type=module', '-e', script],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.ca.cert } }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
    assert.deepEqual(JSON.parse(out), { ok: true, refused: false, attempts: 1 });
    assert.deepEqual(seen, [{ sni: 'localhost', auth: `Basic ${Buffer.from('u:p').toString('base64')}`, body: 'line 1\nline 2\n' }]);
  });
});
