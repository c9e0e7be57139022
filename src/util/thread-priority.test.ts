// Per-thread nice on Linux, checked in /proc: the thread that asks changes, the others keep theirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { threadNice, threadTid } from './thread-priority.js';

const linux = process.platform === 'linux';

test('the main thread\'s tid is the process id', { skip: !linux && 'Linux only' }, () => {
  assert.equal(threadTid(), process.pid);
  assert.equal(typeof threadNice(process.pid), 'number');
});

test('setThisThreadNice in a worker changes that thread only', { skip: !linux && 'Linux only' }, async () => {
  const before = threadNice(process.pid)!;
  const target = Math.min(before + 5, 19);
  const mod = new URL('./thread-priority.js', import.meta.url).href;
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.mod).then((m) => parentPort.postMessage({ set: m.setThisThreadNice(workerData.target), tid: m.threadTid() }));
    parentPort.once('message', () => process.exit(0));
  `, { eval: true, workerData: { mod, target } });
  const got = await new Promise<{ set: boolean; tid: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  try {
    assert.equal(got.set, true);
    assert.notEqual(got.tid, process.pid);
    assert.equal(threadNice(got.tid), target);
    assert.equal(threadNice(process.pid), before, 'the main thread keeps its nice');
  } finally {
    w.postMessage('exit');
    await new Promise((r) => w.once('exit', r));
  }
});
