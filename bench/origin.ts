// The bench's origin: a plain node:http server, started by bench/run.ts in its own process (pinned
// to the proxy's core) so that every candidate, "direct" included, talks to the same upstream.
//
//   GET  /small   200, 12-byte body
//   GET  /64k     200, 64 KiB body
//   POST /upload  reads and discards the request body, then 200 with a 12-byte body
//   anything else 404
//
// Usage: node dist/bench/origin.js [PORT]  (0 or nothing: any free port). Prints one JSON line
// `{"port":N}` on stdout once listening; exits on SIGTERM/SIGINT or when stdin closes (so it never
// outlives the bench, even if the bench is killed with SIGKILL).
import http from 'node:http';

const SMALL = Buffer.from('hello world\n'); // 12 bytes
const BIG = Buffer.alloc(64 * 1024, 'x');
const SMALL_HEADERS = { 'content-type': 'text/plain', 'content-length': String(SMALL.length) };
const BIG_HEADERS = { 'content-type': 'application/octet-stream', 'content-length': String(BIG.length) };

function discardThenAnswer(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.on('end', () => {
    res.writeHead(200, SMALL_HEADERS);
    res.end(SMALL);
  });
  req.on('error', () => res.destroy());
  req.resume();
}

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/small') {
    res.writeHead(200, SMALL_HEADERS);
    res.end(SMALL);
  } else if (req.method === 'GET' && url === '/64k') {
    res.writeHead(200, BIG_HEADERS);
    res.end(BIG);
  } else if (req.method === 'POST' && url === '/upload') {
    discardThenAnswer(req, res);
  } else {
    req.resume();
    res.writeHead(404, SMALL_HEADERS);
    res.end(SMALL);
  }
});
// No per-request deadlines beyond Node's defaults for headers; the bench controls durations.
server.requestTimeout = 0;
server.headersTimeout = 60_000;

function stop(): void {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('origin: no TCP address');
  process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');
});
