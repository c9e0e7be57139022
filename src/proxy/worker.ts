// A worker thread's entry: one DataPlane, driven by the supervisor's calls (see planes.ts).
import '../util/worker-v8-flags.js'; // first: see the module
import { parentPort, workerData } from 'node:worker_threads';
import { log, configureLog } from '../util/log.js';
import { DataPlane } from './data-plane.js';
import { eventLoopMonitor, type WorkerCall, type WorkerEvent, type WorkerReply } from './planes.js';

const { buffer, policy, index } = workerData as { buffer: SharedArrayBuffer; policy: SharedArrayBuffer; index: number };
configureLog({ component: `pillion worker ${index}` });
// Access-log batches go to the main thread's shipper; their bytes are on shared memory, not copied.
const dp = new DataPlane(new Float64Array(buffer), new Int32Array(policy), (batch) => {
  parentPort!.postMessage({ event: 'accessLog', batch } satisfies WorkerEvent);
});
const eld = eventLoopMonitor();

async function handle(m: WorkerCall): Promise<unknown> {
  switch (m.op) {
    case 'apply': return dp.apply(m.config, m.plan);
    case 'startDrain': return dp.startDrain();
    case 'stopListening': return dp.stopListening();
    case 'waitIdle': return dp.waitIdle(m.timeoutMs);
    case 'close': return dp.close();
    case 'telemetry': return { histograms: dp.telemetry.exportHistograms(), eventLoopDelayP99Ms: eld.percentile(99) / 1e6 };
  }
}

parentPort!.on('message', (m: WorkerCall) => {
  handle(m).then(
    (value) => parentPort!.postMessage({ id: m.id, ok: true, value } satisfies WorkerReply),
    (err: unknown) => {
      log.error('worker call failed', { op: m.op, err });
      parentPort!.postMessage({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    },
  );
});

// A worker that hits an unexpected error must die cleanly so that the supervisor can start another:
// uWS keeps a poll handle on this thread's loop, and node aborts the whole process if a worker's loop
// closes with it open. So the uWS apps are closed first, then the thread exits.
function die(kind: string, err: unknown): void {
  log.error(`worker ${kind}; closing it so that the supervisor starts a new one`, { err });
  try {
    dp.closeListenersNow();
  } finally {
    process.exit(1);
  }
}
process.on('uncaughtException', (err) => die('uncaught exception', err));
process.on('unhandledRejection', (err) => die('unhandled rejection', err));
