import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// A fresh process sets --semi-space-growth-factor=1 the way the proxy does, starts a worker thread
// (which imports worker-v8-flags.js, as the proxy's workers do, or not), and then allocates objects
// of which a share survives a while, as requests in flight do. It prints the largest size its new
// space reached, in KB.
const RUNTIME = new URL('./v8-runtime-flags.js', import.meta.url).href;
const RESTORE = new URL('./worker-v8-flags.js', import.meta.url).href;
const script = (restore: boolean) => `
import { Worker } from 'node:worker_threads';
import { getHeapSpaceStatistics } from 'node:v8';
import { setRuntimeFlags } from ${JSON.stringify(RUNTIME)};
setRuntimeFlags(['--semi-space-growth-factor=1']);
const body = ${JSON.stringify(`${restore ? `import(${JSON.stringify(RESTORE)})` : 'Promise.resolve()'}.then(() => import('node:worker_threads')).then((wt) => wt.parentPort.postMessage('up'))`)};
const w = new Worker(body + '; setInterval(() => {}, 1000)', { eval: true });
await new Promise((r) => w.once('message', r));
w.unref();
const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size >> 10;
const ring = new Array(20000);
let max = 0;
for (let i = 0, t0 = Date.now(); Date.now() - t0 < 1500;) {
  for (let k = 0; k < 10000; k++, i++) ring[i % ring.length] = { i, s: 'x' + i, a: [i] };
  max = Math.max(max, newSpace());
}
console.log(max);
`;

function maxNewSpaceKb(restore: boolean): number {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(restore)], { encoding: 'utf8', timeout: 30_000, cwd: fileURLToPath(new URL('.', import.meta.url)) });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

test('v8 runtime flags: a worker thread puts back the young-generation cap that its new isolate reset', (t) => {
  const restored = maxNewSpaceKb(true);
  const reset = maxNewSpaceKb(false);
  t.diagnostic(`largest new space: ${restored} KB with the flags set again in the worker, ${reset} KB without`);
  // V8 starts with 1 MB semi-spaces (2 MB for the space); the cap keeps it there. Without the worker
  // setting the flag again, V8 grows it to 16 MB semi-spaces (32 MB) under this load.
  assert.ok(restored <= 4096, `new space grew to ${restored} KB with the flags restored`);
  assert.ok(reset > restored, `without the restore the new space stayed at ${reset} KB: does V8 still reset the flag? (then worker-v8-flags.ts is not needed)`);
});

test('v8 runtime flags: a child process does not take its parent\'s flags for its own', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
import { setRuntimeFlags } from ${JSON.stringify(RUNTIME)};
setRuntimeFlags(['--semi-space-growth-factor=1']);
console.log(process.env.PILLION_RUNTIME_V8_FLAGS);
`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [pid, ...flags] = r.stdout.trim().split(' ');
  assert.deepEqual(flags, ['--semi-space-growth-factor=1']);
  assert.notEqual(pid, String(process.pid));
});
