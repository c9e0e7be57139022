// Two reaches into node:net internals (`_handle.reading`, `readStop`/`readStart`), kept in one place.
//
// `pause()` only stops 'data' events: node keeps reading into the stream buffer up to its high-water
// mark, and those bytes would be stranded in JavaScript when the splice thread takes the fd over. So
// inspection stops the handle itself. The stream, meanwhile, still believes a read is pending (its
// `reading` state stays true), so a later `resume()` does not ask the handle again: whoever goes on
// reading in JavaScript must call `startReading`.
import type { Socket } from 'node:net';

interface Handle {
  reading?: boolean;
  readStop?: () => number;
  readStart?: () => number;
}

const handleOf = (sock: Socket) => (sock as unknown as { _handle?: Handle | null })._handle;

export function stopReading(sock: Socket): void {
  const h = handleOf(sock);
  if (h?.reading === true && typeof h.readStop === 'function') {
    h.reading = false;
    h.readStop();
  }
}

export function startReading(sock: Socket): void {
  const h = handleOf(sock);
  if (h != null && h.reading !== true && typeof h.readStart === 'function' && !sock.destroyed) {
    h.reading = true;
    const err = h.readStart();
    if (err !== 0) sock.destroy(new Error(`readStart failed (${err})`));
  }
}
