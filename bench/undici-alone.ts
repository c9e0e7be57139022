// The upstream half of the proxy on its own: an undici Pool keeping 64 small GETs in flight against
// the bench origin, with the dispatch options and headers pillion uses (handler API, no timeouts of
// undici's). Run by bench/cost-split.ts; prints one JSON line with its CPU per request.
//
// Usage: node dist/bench/undici-alone.js ORIGIN_URL WARMUP_S MEASURE_S
import { Pool } from 'undici';

const [url, warmupS, measureS] = [process.argv[2]!, Number(process.argv[3] ?? 2), Number(process.argv[4] ?? 5)];
const pool = new Pool(url, { connections: 64, pipelining: 1 });
const headers = ['host', '127.0.0.1:15001', 'user-agent', 'wrk', 'x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http', 'x-request-id', '0b5c2d1e-9a8f-4c3b-8e7d-6f5a4b3c2d1e'];
let done = 0;
let stopping = false;

class Handler {
  onConnect(): void {}
  onHeaders(): boolean { return true; }
  onData(): boolean { return true; }
  onComplete(): void {
    done++;
    if (!stopping) send();
  }
  onError(err: Error): void {
    process.stderr.write(`undici-alone: ${err.message}\n`);
    process.exit(1);
  }
}

function send(): void {
  pool.dispatch({ method: 'GET', path: '/small', headers, headersTimeout: 0, bodyTimeout: 0 }, new Handler());
}

for (let i = 0; i < 64; i++) send();
setTimeout(() => {
  const cpu0 = process.cpuUsage();
  const n0 = done;
  const t0 = performance.now();
  setTimeout(() => {
    const cpu = process.cpuUsage(cpu0);
    const n = done - n0;
    const s = (performance.now() - t0) / 1000;
    stopping = true;
    process.stdout.write(`${JSON.stringify({ rps: n / s, userUs: cpu.user / n, sysUs: cpu.system / n })}\n`);
    setTimeout(() => process.exit(0), 100);
  }, measureS * 1000);
}, warmupS * 1000);
