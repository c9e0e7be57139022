import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../common/log.js';
import { Registry } from '../common/metrics.js';
import type { FileSync, RoundReport } from './file-sync.js';
import { FileSyncLoop } from './file-sync-loop.js';

const quiet = createLogger('file-sync', { level: 'error', write: () => undefined });

function report(unstable: string[]): RoundReport {
  return { copied: [], adopted: [], deleted: [], unstable, failed: [], unchanged: 0, hashed: 0 };
}

test('retries for a file that never settles back off; the final round always runs', async () => {
  const starts: number[] = [];
  const fake = { syncOnce: async () => { starts.push(Date.now()); return report(['app.log']); } } as unknown as FileSync;
  const loop = new FileSyncLoop(fake, { mode: 'interval', intervalMs: 10_000, jitter: 0, backoffBaseMs: 20, backoffMaxMs: 10_000, debounceMs: 0 }, quiet, new Registry());
  const running = loop.run();
  await new Promise((r) => setTimeout(r, 400));
  loop.stop();
  await running;
  // Rounds at ~0, +10..20, +20..40, +40..80, +80..160 ms...: gaps grow instead of staying at 20 ms.
  const gaps = starts.slice(1, -1).map((t, i) => t - (starts[i] as number));
  assert.ok(gaps.length >= 2 && gaps.length <= 8, `gaps ${gaps.join(',')}`);
  assert.ok((gaps[gaps.length - 1] as number) > (gaps[0] as number), `gaps ${gaps.join(',')}`);
});

test('a failed round backs off and counts; stop() during the sleep ends promptly with a final round', async () => {
  let calls = 0;
  const fake = { syncOnce: async () => { calls++; throw new Error('ENOENT: no source'); } } as unknown as FileSync;
  const registry = new Registry();
  const loop = new FileSyncLoop(fake, { mode: 'interval', intervalMs: 60_000, jitter: 0.1, backoffBaseMs: 60_000, backoffMaxMs: 60_000, debounceMs: 0 }, quiet, registry);
  const running = loop.run();
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  loop.stop();
  await running;
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(calls, 2, 'one round, then the final one');
  assert.match(registry.render(), /^pillion_file_sync_round_failures_total 2$/m);
});
