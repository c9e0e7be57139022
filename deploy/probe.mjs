#!/usr/bin/env node
// Tiny probes for places where no HTTP client exists: the image has node but no curl or wget (no
// extra packages in the final image). Used by the Dockerfile's HEALTHCHECK and by the lifecycle hooks
// of the legacy two-container sidecar (deploy/sidecar-legacy/), where Kubernetes gives no ordering:
//
//   probe.mjs ready       [URL]                one GET; exit 0 on 200, 1 otherwise   (HEALTHCHECK)
//   probe.mjs wait-ready  [URL] [SECONDS]      poll until 200; exit 1 at the deadline (postStart:
//                                              the kubelet starts the next container only after the
//                                              hook returns, so the app starts behind a ready proxy)
//   probe.mjs wait-closed HOST:PORT [SECONDS]  poll until nothing accepts on HOST:PORT; exit 0 at the
//                                              deadline too (preStop on the proxy: hold its SIGTERM
//                                              until the app has stopped listening, so the proxy
//                                              stops after the app)
//
// URL defaults to http://127.0.0.1:15000/ready (the admin's default address).
import { request } from 'node:http';
import { connect } from 'node:net';

const DEFAULT_URL = 'http://127.0.0.1:15000/ready';
const STEP_MS = 250;

function getStatus(url) {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

function accepts(host, port) {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('timeout', () => { s.destroy(); resolve(true); }); // a hung listener still holds the port
    s.on('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main(argv) {
  const [cmd, a, b] = argv;
  if (cmd === 'ready') {
    return (await getStatus(a ?? DEFAULT_URL)) === 200 ? 0 : 1;
  }
  if (cmd === 'wait-ready') {
    const url = a ?? DEFAULT_URL;
    const deadline = Date.now() + Number(b ?? 60) * 1000;
    for (;;) {
      if ((await getStatus(url)) === 200) return 0;
      if (Date.now() >= deadline) {
        process.stderr.write(`probe: ${url} not ready after ${b ?? 60}s\n`);
        return 1;
      }
      await sleep(STEP_MS);
    }
  }
  if (cmd === 'wait-closed' && a !== undefined) {
    const i = a.lastIndexOf(':');
    const host = a.slice(0, i) || '127.0.0.1';
    const port = Number(a.slice(i + 1));
    const deadline = Date.now() + Number(b ?? 25) * 1000;
    while (Date.now() < deadline && (await accepts(host, port))) await sleep(STEP_MS);
    return 0;
  }
  process.stderr.write('usage: probe.mjs ready [URL] | wait-ready [URL] [SECONDS] | wait-closed HOST:PORT [SECONDS]\n');
  return 2;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
