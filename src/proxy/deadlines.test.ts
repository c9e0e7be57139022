import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TICK_MS, unwatch, watch, watchedCount, type Deadlined } from './deadlines.js';

class Item implements Deadlined {
  dlPrev: Deadlined | null = null;
  dlNext: Deadlined | null = null;
  dlLinked = false;
  ticks = 0;
  constructor(private readonly onTickDo: (self: Item) => void = () => {}) {}
  onTick(): void {
    this.ticks++;
    this.onTickDo(this);
  }
}

test('watch/unwatch keep the list consistent from any position, twice is harmless', () => {
  const items = [new Item(), new Item(), new Item(), new Item()];
  for (const i of items) watch(i);
  watch(items[0]!);
  assert.equal(watchedCount(), 4);
  unwatch(items[1]!); // middle
  unwatch(items[3]!); // head (last watched)
  unwatch(items[3]!);
  assert.equal(watchedCount(), 2);
  unwatch(items[0]!); // tail
  unwatch(items[2]!);
  assert.equal(watchedCount(), 0);
});

test('linked items are ticked until they unwatch themselves, also during the tick', async () => {
  const stay = new Item();
  const leaveAfter2 = new Item((self) => { if (self.ticks === 2) unwatch(self); });
  watch(stay);
  watch(leaveAfter2);
  await sleep(TICK_MS * 8);
  assert.equal(leaveAfter2.ticks, 2);
  assert.ok(stay.ticks >= 3, `ticked ${stay.ticks} times`);
  unwatch(stay);
  const t = stay.ticks;
  await sleep(TICK_MS * 4);
  assert.equal(stay.ticks, t);
  assert.equal(watchedCount(), 0);
});
