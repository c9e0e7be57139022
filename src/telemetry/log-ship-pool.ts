// The log-ship pool (src/workers/log-ship.worker.ts), as both its users start it: the proxy's access-log
// shipper (shipper.ts) and the `pillion logs` collector (src/logs/sink.ts).
import { Piscina } from 'piscina';

/** What the pool's thread reads from workerData when it starts. */
export interface LogShipWorkerData {
  /** The thread's nice value (Linux), or null to run at the process's priority. */
  nice: number | null;
}

export function newLogShipPool(data: LogShipWorkerData = { nice: null }): Piscina {
  return new Piscina({
    filename: new URL('../workers/log-ship.worker.js', import.meta.url).href,
    workerData: data,
    // One thread: formatting a batch takes well under a millisecond per thousand rows, and one writer
    // keeps file appends and the spool in order (those are synchronous inside a task). Tasks overlap
    // only while a post waits on the network.
    minThreads: 1,
    maxThreads: 1,
    concurrentTasksPerWorker: 64,
    idleTimeout: 60_000,
  });
}
