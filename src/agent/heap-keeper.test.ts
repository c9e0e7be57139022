import assert from 'node:assert/strict';
import { it } from 'node:test';
import { HeapKeeper } from './heap-keeper.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('collects only when idle after scrapes and once the heap has grown past the slack', async () => {
  let calls = 0;
  const keep: unknown[] = [];
  const k = new HeapKeeper(() => { calls++; keep.length = 0; }, 256 * 1024, 30);
  // A burst: scrapes 5 ms apart keep pushing the idle timer back.
  for (let i = 0; i < 10; i++) {
    keep.push(new Array(20_000).fill(i)); // ~160 kB each, kept alive: the heap grows
    k.afterScrape();
    await sleep(5);
  }
  assert.equal(calls, 0, 'no collection during a burst');
  await sleep(60);
  assert.equal(calls, 1, 'one collection once idle, the heap having grown past the slack');
  k.afterScrape();
  await sleep(60);
  assert.equal(calls, 1, 'no collection when the heap has not grown since');
});

it('does nothing without --expose-gc', async () => {
  const k = new HeapKeeper(undefined, 0, 1);
  k.afterScrape();
  await sleep(10);
  assert.equal(k.collections, 0);
});
