import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { abortAll, headerError, postOnce } from './http-post.js';

/**
 * A raw TCP server that reads each request (head and Content-Length body) and answers with what
 * `answer` returns, as given bytes: the client's parsing is what is under test, so no node:http here.
 */
interface Raw {
  url: URL;
  connections: number;
  open: number;
  maxOpen: number;
  bodies: Buffer[];
  close(): void;
}

type Answerer = (sock: Socket, nth: number, body: Buffer) => void;

async function rawServer(answer: Answerer): Promise<Raw> {
  const sockets = new Set<Socket>();
  const r: Raw = { url: new URL('http://x/'), connections: 0, open: 0, maxOpen: 0, bodies: [], close: () => {} };
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    r.connections++;
    r.maxOpen = Math.max(r.maxOpen, ++r.open);
    sock.on('close', () => { r.open--; sockets.delete(sock); });
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let nth = 0;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len);
        r.bodies.push(Buffer.from(body));
        buf = buf.subarray(end + 4 + len);
        answer(sock, nth++, body);
      }
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  r.url = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/bulk?x=1`);
  r.close = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return r;
}

const HEAD = 'host: test\r\ncontent-type: application/x-ndjson\r\n';

/** Writes the bytes in pieces, a tick apart, so the client sees them split anywhere. */
function dribble(sock: Socket, text: string, piece = 3): void {
  let i = 0;
  const next = () => {
    if (i >= text.length || sock.destroyed) return;
    sock.write(text.slice(i, i + piece));
    i += piece;
    setTimeout(next, 1);
  };
  next();
}

describe('http-post (the sinks\' HTTP/1.1 client)', () => {
  it('sends the head and body as given; Content-Length answers keep the connection for the next post', async () => {
    const s = await rawServer((sock) => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'));
    try {
      const body = Buffer.alloc(650 * 1024, 'l');
      assert.deepEqual(await postOnce(s.url, HEAD, body, 2000, false), { status: 200, answer: '' });
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('x\n'), 2000, true), { status: 200, answer: '{}' });
      assert.equal(s.connections, 1);
      assert.equal(s.bodies[0]!.length, body.length);
      assert.ok(s.bodies[0]!.equals(body));
      assert.equal(s.bodies[1]!.toString(), 'x\n');
    } finally {
      s.close();
    }
  });

  it('reads chunked answers split anywhere, skips a 100 Continue, keeps the first 200 characters when asked', async () => {
    const long = 'e'.repeat(300);
    const s = await rawServer((sock) => dribble(sock,
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `6\r\n{"a":1\r\n${(long.length + 1).toString(16)};ext=1\r\n,${long}\r\n0\r\nx-trailer: 1\r\n\r\n`));
    try {
      const a = await postOnce(s.url, HEAD, Buffer.from('x\n'), 2000, true);
      assert.deepEqual(a, { status: 200, answer: ('{"a":1,' + long).slice(0, 200) });
      assert.equal((await postOnce(s.url, HEAD, Buffer.from('y\n'), 2000, false) as { status: number }).status, 200);
      assert.equal(s.connections, 1, 'the chunked answer ended where it should, so the connection was reused');
    } finally {
      s.close();
    }
  });

  it('an answer without a length ends with the connection; Connection: close is not reused; 204 has no body', async () => {
    const s = await rawServer((sock, nth) => {
      if (nth === 0 && s.connections === 1) sock.end('HTTP/1.1 503 Busy\r\n\r\nslow down');
      else if (s.connections === 2) sock.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else sock.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    try {
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('a'), 2000, true), { status: 503, answer: 'slow down' });
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('b'), 2000, false), { status: 200, answer: '' });
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('c'), 2000, false), { status: 204, answer: '' });
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('d'), 2000, false), { status: 204, answer: '' });
      assert.equal(s.connections, 3);
    } finally {
      s.close();
    }
  });

  it('a kept connection the server drops as the next post goes out: that post is sent again on a new one', async () => {
    const s = await rawServer((sock, nth) => {
      if (nth === 0) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      else sock.destroy(); // the second request on a connection: closed unanswered
    });
    try {
      assert.equal((await postOnce(s.url, HEAD, Buffer.from('1'), 2000, false) as { status: number }).status, 200);
      assert.equal((await postOnce(s.url, HEAD, Buffer.from('2'), 2000, false) as { status: number }).status, 200);
      assert.equal(s.connections, 2);
      assert.deepEqual(s.bodies.map(String), ['1', '2', '2']);
    } finally {
      s.close();
    }
  });

  it('errors: no answer in time, not HTTP, a bad chunk size, a refused connection; none is reused', async () => {
    const s = await rawServer((sock) => {
      const body = s.bodies.at(-1)!.toString();
      if (body === 'silent') return;
      if (body === 'garbage') sock.write('SSH-2.0-OpenSSH\r\n\r\n');
      else sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    });
    try {
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('silent'), 150, false), { error: 'no answer within 150 ms' });
      assert.match((await postOnce(s.url, HEAD, Buffer.from('garbage'), 2000, false) as { error: string }).error, /not an HTTP\/1.x answer: 'SSH-2.0/);
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('chunks'), 2000, false), { error: 'bad chunked encoding in the answer' });
      assert.equal(s.connections, 3);
      const down = await postOnce(new URL('http://127.0.0.1:1/'), HEAD, Buffer.from('x'), 2000, false);
      assert.match((down as { error: string }).error, /ECONNREFUSED/);
    } finally {
      s.close();
    }
  });

  it('at most 4 connections per origin: more posts wait their turn', async () => {
    const s = await rawServer((sock) => setTimeout(() => sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 30));
    try {
      const all = await Promise.all(Array.from({ length: 9 }, (_, i) => postOnce(s.url, HEAD, Buffer.from(String(i)), 2000, false)));
      assert.ok(all.every((a) => 'status' in a && a.status === 200));
      assert.equal(s.maxOpen, 4);
      assert.equal(s.connections, 4);
    } finally {
      s.close();
    }
  });

  it('headerError: names are tokens, values have no line break, the framing headers are pillion\'s', () => {
    assert.equal(headerError('authorization', 'Bearer a.b.c'), null);
    assert.equal(headerError('X-Scope-OrgID', 'tenant-1'), null);
    assert.match(headerError('x-a', 'v\r\nx-evil: 1') ?? '', /not allowed in a header/);
    assert.match(headerError('bad name', 'v') ?? '', /not a valid header name/);
    assert.match(headerError('Content-Length', '5') ?? '', /set by pillion/);
  });

  it('abortAll: a post in flight ends at once with an error, and later posts do not start', async () => {
    const s = await rawServer(() => {});
    try {
      const p = postOnce(s.url, HEAD, Buffer.from('x'), 5000, false);
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      abortAll();
      assert.deepEqual(await p, { error: 'exiting' });
      assert.ok(Date.now() - t0 < 1000);
      assert.deepEqual(await postOnce(s.url, HEAD, Buffer.from('y'), 5000, false), { error: 'exiting' });
    } finally {
      s.close();
    }
  });
});
