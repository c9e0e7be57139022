// Loads native/ (the N-API addon, see docs/native.md) once, and says why when it cannot. Everything
// that uses the addon goes through here, so the fallback decision lives in one place:
//  - splice pumping: used when loaded, else the L4 proxy pipes streams in JavaScript (slower, same
//    behaviour);
//  - originalDst: no fallback exists (Node has no getsockopt), so transparent listeners refuse to
//    start without it, with `nativeStatus` in the message.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** What native/pillion_native.cc exports. */
interface Addon {
  unsupported?: true;
  originalDst(fd: number): { address: string; port: number; family: 'IPv4' | 'IPv6' } | null;
  init(onDone: (id: number, rx: number, tx: number, reason: PumpReason, error: string | null, errorSide: string, flushed: boolean) => void): void;
  pump(fdA: number, fdB: number, idleMs: number): number;
  cancel(id: number): void;
  bytes(ids: Uint32Array, out: Float64Array): void;
}

/** Why a pump ended: both sides closed cleanly, idle timeout, a socket error, or `cancel()`. */
export type PumpReason = 'done' | 'idle_timeout' | 'error' | 'cancel';

export interface PumpResult {
  /** Bytes read from the first socket (downstream) and written to the second. */
  rx: number;
  /** Bytes read from the second socket (upstream) and written to the first. */
  tx: number;
  reason: PumpReason;
  error: string | null;
  /** `downstream` or `upstream` when `error` is set. */
  errorSide: string;
  /** The downstream closed while bytes for the upstream were still on their way (Envoy's upstream_flush). */
  flushed: boolean;
}

export interface OriginalDst {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

const ADDON_PATH = '../../../native/build/Release/pillion_native.node';

let addon: Addon | null = null;
/** One line for the start-up log: what the native addon gives this process. */
export let nativeStatus: string;

if (process.env.PILLION_NO_NATIVE) {
  nativeStatus = 'native addon disabled by PILLION_NO_NATIVE: L4 uses stream piping (no splice), transparent listeners unavailable';
} else {
  try {
    const a = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    if (a.unsupported) {
      nativeStatus = `native addon built for ${process.platform} without SO_ORIGINAL_DST/splice: L4 uses stream piping, transparent listeners unavailable`;
    } else {
      addon = a;
      nativeStatus = 'native addon loaded: splice(2) fast path on, SO_ORIGINAL_DST available';
    }
  } catch (err) {
    nativeStatus = `native addon not loaded (${(err as Error).message.split('\n')[0]}; build it with \`node native/build.mjs\`): ` +
      'L4 uses stream piping (no splice), transparent listeners unavailable';
  }
}

export const spliceAvailable = (): boolean => addon !== null;

/** The fd under a node:net socket (Linux: `_handle.fd`), or -1. */
export function socketFd(socket: Socket): number {
  const h = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  return typeof h?.fd === 'number' ? h.fd : -1;
}

/** Thrown where a feature strictly needs the addon. */
export class NativeUnavailableError extends Error {
  readonly code = 'PILLION_NATIVE_UNAVAILABLE';
  constructor(feature: string) {
    super(`${feature} needs the native addon: ${nativeStatus}`);
    // A configuration problem, not a bug: the CLI prints the stack, so keep it to the message.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * The destination a REDIRECTed connection was going to, or null when it was not redirected (the
 * client connected to the listener itself). Throws NativeUnavailableError without the addon.
 */
export function originalDst(socket: Socket): OriginalDst | null {
  if (addon === null) throw new NativeUnavailableError('originalDst');
  const fd = socketFd(socket);
  if (fd < 0) throw new Error('originalDst: the socket has no fd (closed, or not a TCP socket)');
  return addon.originalDst(fd);
}

const pending = new Map<number, (r: PumpResult) => void>();
let initialised = false;

function onDone(id: number, rx: number, tx: number, reason: PumpReason, error: string | null, errorSide: string, flushed: boolean): void {
  const cb = pending.get(id);
  if (cb === undefined) return;
  pending.delete(id);
  cb({ rx, tx, reason, error, errorSide, flushed });
}

/**
 * Hands two connected sockets to the splice thread. The addon dup()s their fds; the caller must
 * destroy both node sockets right after (they must not be reading, and must hold no unsent or
 * unread bytes). `done` runs once, on this thread, when the pump ends. Returns the pump id (for
 * `cancelPump`), or throws NativeUnavailableError.
 */
export function startPump(downstream: Socket, upstream: Socket, idleMs: number, done: (r: PumpResult) => void): number {
  if (addon === null) throw new NativeUnavailableError('splice pump');
  if (!initialised) {
    addon.init(onDone);
    initialised = true;
  }
  const a = socketFd(downstream);
  const b = socketFd(upstream);
  if (a < 0 || b < 0) throw new Error('splice pump: a socket has no fd');
  const id = addon.pump(a, b, idleMs);
  pending.set(id, done);
  return id;
}

/**
 * Bytes moved so far by running pumps: `out[2i]`, `out[2i + 1]` = rx, tx of pump `ids[i]`, or -1 once
 * it has ended. One call per batch (one lock in the addon).
 */
export function pumpBytes(ids: Uint32Array, out: Float64Array): void {
  if (addon === null) out.fill(-1);
  else addon.bytes(ids, out);
}

/** Resets both sides of a pump; its `done` runs with reason `cancel`. */
export function cancelPump(id: number): void {
  addon?.cancel(id);
}
