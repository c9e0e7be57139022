// Request deadlines (route timeout, per-try timeout, idle timeout) checked by one interval timer per
// thread, instead of timers per request.
//
// Why not undici's headersTimeout/bodyTimeout: its parser arms a new timer whenever the delay or the
// timer kind changes, and a proxied request goes keep-alive (native timer) -> headers (fast timer,
// route timeout) -> body (fast timer, idle timeout) -> keep-alive: three timer objects and a WeakRef per
// request. Cleared fast timers stay in undici's list until its next 500 ms sweep, so tens of thousands
// of them survive scavenges and are promoted. Measured with 64 connections of small GETs: RSS 94 -> 77
// MB with undici's timeouts off; an undici client alone went from 72k to 82k req/s (docs/proxy.md).
//
// Here an exchange links itself into an intrusive list (no allocation) while it waits on the upstream;
// a 10 ms interval, running only while the list is not empty, asks each one whether a deadline passed.
// Timeouts fire up to one tick late, which is far below any timeout worth configuring.

/** Something with deadlines: linked here from dispatch to finish. */
export interface Deadlined {
  dlPrev: Deadlined | null;
  dlNext: Deadlined | null;
  dlLinked: boolean;
  /** Called on every tick while linked, with performance.now(). May unwatch itself. */
  onTick(now: number): void;
}

export const TICK_MS = 10;

let head: Deadlined | null = null;
let timer: NodeJS.Timeout | null = null;

export function watch(x: Deadlined): void {
  if (x.dlLinked) return;
  x.dlLinked = true;
  x.dlPrev = null;
  x.dlNext = head;
  if (head !== null) head.dlPrev = x;
  head = x;
  if (timer === null) {
    timer = setInterval(tick, TICK_MS);
    // Sockets keep the process alive while requests are in flight; this timer must not on its own.
    timer.unref();
  }
}

export function unwatch(x: Deadlined): void {
  if (!x.dlLinked) return;
  x.dlLinked = false;
  const prev = x.dlPrev;
  const next = x.dlNext;
  if (prev === null) head = next;
  else prev.dlNext = next;
  if (next !== null) next.dlPrev = prev;
  x.dlPrev = null;
  x.dlNext = null;
}

/** How many are linked (tests). */
export function watchedCount(): number {
  let n = 0;
  for (let x = head; x !== null; x = x.dlNext) n++;
  return n;
}

function tick(): void {
  if (head === null) {
    clearInterval(timer!);
    timer = null;
    return;
  }
  const now = performance.now();
  for (let x: Deadlined | null = head; x !== null;) {
    // Read the next one first: onTick may unlink x (a timeout ends the exchange).
    const next: Deadlined | null = x.dlNext;
    x.onTick(now);
    x = next;
  }
}
