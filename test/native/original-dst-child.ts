// Runs inside a test's network namespace (test/native/native.test.ts): listens on PORT (IPv4 and
// IPv6), connects to each address given on the command line, and prints what originalDst says for
// the accepted side of each connection, one JSON line.
import { connect, createServer, type Socket } from 'node:net';
import { originalDst } from '../../src/l4/native.js';

const port = Number(process.argv[2]);
const targets = process.argv.slice(3);
const accepted: Socket[] = [];
const server = createServer((s) => accepted.push(s));
server.listen({ port, host: '::', ipv6Only: false }, async () => {
  const out: unknown[] = [];
  for (const t of targets) {
    const i = t.lastIndexOf(':');
    const host = t.slice(0, i).replace(/^\[|\]$/g, '');
    const c = connect({ host, port: Number(t.slice(i + 1)) });
    await new Promise<void>((resolve, reject) => { c.once('connect', resolve); c.once('error', reject); });
    while (accepted.length < out.length + 1) await new Promise((r) => setTimeout(r, 5));
    out.push(originalDst(accepted[out.length]!));
    c.destroy();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
});
