// The log-ship pool (src/workers/log-ship.worker.ts), as both its users start it: the proxy's access-log
// shipper (shipper.ts) and the `pillion logs` collector (src/logs/sink.ts).
import { Piscina } from 'piscina';

export function newLogShipPool(): Piscina {
  return new Piscina({
    filename: new URL('../workers/log-ship.worker.js', import.meta.url).href,
    // One thread: formatting a batch takes well under a millisecond per thousand rows, and one writer
    // keeps file appends and the spool in order (those are synchronous inside a task). Tasks overlap
    // only while a post waits on the network.
    minThreads: 1,
    maxThreads: 1,
    concurrentTasksPerWorker: 64,
    idleTimeout: 60_000,
  });
}
