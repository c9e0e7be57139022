// The one module that imports uWebSockets.js, so that swapping the build later touches one file.
// The package is @trufflesuite/uws-js-unofficial (uWS v20.30 binaries for Node 16/18/20, glibc Linux);
// when its binary does not load it silently falls back to a slow node:http imitation, so we say which.
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';

// uWS reads its header size limit from the environment when it loads. It applies it only to heads that
// arrive in several reads, and then closes the connection without an answer. pillion's own limit (60 KiB,
// Envoy's, checked in proxy/headers.ts with a 431) must therefore be the one that bites: uWS's is set
// well above it, so that heads up to 256 KiB reach pillion however TCP split them.
process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(256 * 1024);

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

export interface UwsTlsFiles {
  cert_file: string;
  key_file: string;
  passphrase?: string;
}

function sslOptions(f: UwsTlsFiles, ciphers: string): UWS.AppOptions {
  const o: UWS.AppOptions = { cert_file_name: f.cert_file, key_file_name: f.key_file, ssl_ciphers: ciphers };
  if (f.passphrase !== undefined) o.passphrase = f.passphrase;
  return o;
}

/**
 * An SSLApp with a default certificate and SNI certificates, the same handler on every name (uWS routes
 * per SNI domain). Names may be `*.example.com` wildcards. uWS reads the files here and not again.
 * (This uWS build prints "finding"/"Browsed to SNI" lines on stdout while SNI names are added.)
 */
export function createSslApp(
  def: UwsTlsFiles,
  sni: readonly (UwsTlsFiles & { server_names: readonly string[] })[],
  ciphers: string,
  handler: (res: HttpResponse, req: HttpRequest) => void,
): TemplatedApp {
  const app = uws.SSLApp(sslOptions(def, ciphers));
  app.any('/*', handler);
  for (const s of sni) {
    for (const name of s.server_names) {
      app.addServerName(name, sslOptions(s, ciphers));
      app.domain(name).any('/*', handler);
    }
  }
  return app;
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
