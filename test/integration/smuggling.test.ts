// Ambiguous framing and malformed requests, byte for byte on a raw socket: refused with 400 and never
// forwarded, whatever the front's parser lets through. The node:http front answers each with 400; the
// uWS 20.30 front drops some of them without any answer (a documented limitation: the test names say
// so), but nothing ever reaches the origin on either front.
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { FRONTS, startFixture, type Fixture } from '../helpers/fixture.js';
import { header, rawExchange } from '../helpers/raw.js';
import { sleep } from '../helpers/util.js';

const H = 'Host: a\r\n';

/** [name, request bytes, does the uWS front reach the proxy's own check (so answers 400)?] */
const VECTORS: [string, string, boolean][] = [
  ['two differing Content-Length headers', `POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde`, true],
  ['Content-Length together with Transfer-Encoding (CL.TE, smuggled request in the body)', `POST /echo HTTP/1.1\r\n${H}Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, false],
  ['unknown Transfer-Encoding (xchunked)', `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, true],
  ['Transfer-Encoding: chunked, identity', `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, true],
  ['Transfer-Encoding twice', `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, true],
  ['obfuscated Transfer-Encoding (space before the colon)', `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, false],
  ['Transfer-Encoding (xchunked) with Content-Length (TE.CL)', `POST /echo HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n0\r\n\r\n`, false],
  ['control character (0x01) in a header value', `GET /echo HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, false],
  ['NUL in a header value', `GET /echo HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, false],
  ['obs-fold (a header line continued on the next)', `GET /echo HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, false],
  ['non-numeric Content-Length', `POST /echo HTTP/1.1\r\n${H}Content-Length: 3x\r\n\r\nabc`, false],
  ['negative Content-Length', `POST /echo HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\nabc`, false],
  ['space inside a header name', `GET /echo HTTP/1.1\r\n${H}X A: b\r\n\r\n`, false],
  ['a request line that is not HTTP', 'HELLO\r\n\r\n', false],
  ['bare LF line endings', 'GET /echo HTTP/1.1\nHost: a\n\n', false],
  ['HTTP/1.1 without Host', 'GET /echo HTTP/1.1\r\n\r\n', false],
];

for (const front of FRONTS) {
  describe(`smuggling and malformed requests (front: ${front})`, () => {
    let f: Fixture;
    before(async () => { f = await startFixture({ front }); });
    after(async () => { await f?.stop(); });

    for (const [name, bytes, uwsChecks] of VECTORS) {
      const expect400 = front === 'node' || uwsChecks;
      const title = expect400
        ? `${name}: 400, never forwarded`
        : `${name}: never forwarded (uWS 20.30 drops it without an answer: known limitation, use front: node)`;
      test(title, async () => {
        const before = f.origin.requests.length;
        const bad0 = await f.proxy.stat('http.ingress.downstream_rq_bad_request');
        const r = await rawExchange(f.proxy.port, bytes, { timeoutMs: expect400 ? 3000 : 700, waitClose: expect400 });
        // Give a forwarded request time to arrive before concluding that none was.
        await sleep(100);
        assert.equal(f.origin.requests.length, before, `forwarded: ${JSON.stringify(f.origin.requests.slice(before).map((x) => `${x.method} ${x.url}`))}`);
        assert.equal(f.origin.seen('/smuggled').length, 0);
        assert.ok(r.responses.every((x) => x.status >= 400), `a non-error answer: ${r.responses.map((x) => x.status)}`);
        if (expect400) {
          assert.ok(r.responses.length >= 1, `no answer: ${JSON.stringify(r.raw.toString('latin1'))}`);
          assert.equal(r.responses[0]!.status, 400);
          // Everything after the refused head is unframed: the connection must not carry on.
          if (r.responses[0]!.headers.length > 0) assert.equal(header(r.responses[0]!, 'connection')?.toLowerCase(), 'close', r.responses[0]!.head);
          assert.equal(r.closed, true, 'the connection stays open after a 400');
          const bad = await f.proxy.stat('http.ingress.downstream_rq_bad_request');
          // node's own 400 for a missing Host never reaches the proxy's counters (a known gap, not framing).
          if (!(front === 'node' && name === 'HTTP/1.1 without Host')) {
            assert.equal(bad - bad0, r.responses.filter((x) => x.status === 400).length);
          }
        } else {
          assert.equal(r.responses.length, 0);
        }
      });
    }

    test('the same Content-Length twice: forwarded once with that body, or refused; never split', async () => {
      const before = f.origin.requests.length;
      const r = await rawExchange(f.proxy.port, `POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`);
      await sleep(100);
      const fwd = f.origin.requests.slice(before);
      if (r.responses[0]?.status === 200) {
        assert.equal(fwd.length, 1);
        assert.equal(fwd[0]!.bodyBytes, 3);
      } else {
        assert.equal(r.responses[0]?.status, 400);
        assert.equal(fwd.length, 0);
      }
    });

    test('Transfer-Encoding: chunked with a tab as whitespace is valid and forwarded once', async () => {
      const before = f.origin.requests.length;
      const r = await rawExchange(f.proxy.port, `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
      assert.equal(r.responses[0]?.status, 200);
      assert.equal(JSON.parse(r.responses[0]!.body.toString()).len, 3);
      assert.equal(f.origin.requests.length - before, 1);
    });
  });
}
