// The log-ship pool's thread lowers its own priority when asked (the proxy's shipper asks; `pillion
// logs` does not), and no other thread of the process changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { newLogShipPool } from './log-ship-pool.js';
import { threadNice } from '../util/thread-priority.js';

/** tid -> nice of every thread of this process. */
function nices(): Map<number, number | null> {
  return new Map(readdirSync('/proc/self/task').map((t) => [Number(t), threadNice(Number(t))]));
}

for (const nice of [19, null]) {
  test(`log-ship pool with nice ${nice}: ${nice === null ? 'every thread keeps its priority' : 'its thread alone runs at it'}`, { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
    const main = threadNice(process.pid)!;
    const before = nices();
    const pool = newLogShipPool({ nice });
    try {
      // A drain of a spool that does not exist: returns at once, after the worker has loaded.
      await pool.run({ op: 'drain', sink: {}, spool: '/nonexistent/pillion-test-spool' });
      const changed = [...nices()].filter(([tid, n]) => n !== (before.get(tid) ?? main));
      if (nice === null) assert.deepEqual(changed, []);
      else {
        assert.equal(changed.length, 1, `threads whose nice changed: ${JSON.stringify(changed)}`);
        assert.equal(changed[0]![1], nice);
        assert.ok(!before.has(changed[0]![0]), 'the changed thread is the pool\'s new one');
      }
    } finally {
      await pool.destroy();
    }
  });
}
