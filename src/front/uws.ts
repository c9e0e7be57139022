// The one module that imports uWebSockets.js, so that swapping the build later touches one file.
// The package is @trufflesuite/uws-js-unofficial (uWS v20.30 binaries for Node 16/18/20, glibc Linux);
// when its binary does not load it silently falls back to a slow node:http imitation, so we say which.
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';

// uWS reads its header size limit from the environment when it loads. Its default (4 KiB) refuses
// ordinary cookie-laden browser requests; Envoy allows 60 KiB, and so do we.
process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(60 * 1024);

const require = createRequire(import.meta.url);
// The fallback prints to stdout on load; keep stdout clean for the access log.
const uws = require('@trufflesuite/uws-js-unofficial') as typeof UWS;

export type HttpResponse = UWS.HttpResponse;
export type HttpRequest = UWS.HttpRequest;
export type TemplatedApp = UWS.TemplatedApp;
export type ListenSocket = UWS.us_listen_socket;

/** true when uWS's native binary loaded; false on its slow JavaScript fallback. */
export const nativeFront: boolean = String(uws.App).includes('[native code]');

export function createApp(): TemplatedApp {
  return uws.App();
}

export function listen(app: TemplatedApp, host: string, port: number): Promise<{ socket: ListenSocket; port: number }> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (socket === false) reject(new Error(`cannot listen on ${host}:${port}`));
      else resolve({ socket, port: uws.us_socket_local_port(socket) });
    });
  });
}

export function closeListenSocket(socket: ListenSocket): void {
  uws.us_listen_socket_close(socket);
}

/** Closes an app's listen sockets and every connection it holds (the typings of 20.30 omit it). */
export function closeApp(app: TemplatedApp): void {
  (app as unknown as { close(): void }).close();
}
