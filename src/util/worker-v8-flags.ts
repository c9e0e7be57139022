// Imported first by every worker thread's entry module, for its side effect: the main thread's
// run-time V8 flags, set again as soon as this thread's isolate exists (see v8-runtime-flags.ts).
// First, because the worker's other imports take tens of milliseconds to load, and the main thread
// keeps collecting garbage meanwhile, with the flag V8 has just reset.
import { restoreRuntimeFlags } from './v8-runtime-flags.js';

restoreRuntimeFlags();
