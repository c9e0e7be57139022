// A listener: one front (a uWS app, or a node:http server with `front: node`) on one address, its
// routes, and the request handler that turns a request into an undici dispatch. Everything the handler
// needs is resolved when the config loads (routes with their cluster objects, stat slots); per request
// it copies the head out of the front, checks it, matches a route and dispatches.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { createNodeServer, listenNode, type NodeExchange } from '../front/node.js';
import type { FrontKind, FrontRequest, FrontResponse } from '../front/types.js';
import { closeApp, closeListenSocket, createApp, createSslApp, listen, type HttpRequest, type HttpResponse, type ListenSocket, type TemplatedApp } from '../front/uws.js';
import { LOCAL_REPLIES, type LocalReply } from '../errors/local-reply.js';
import type { ListenerTls } from '../front/tls-config.js';
import { clientIdentity, nodeTlsOptions, sanAllowed, type ClientIdentity } from '../front/tls.js';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Histogram } from 'hdr-histogram-js';
import { LocalReplyRecord, type AccessLogBuffer } from '../telemetry/plane-telemetry.js';
import type { Server as HttpsServer } from 'node:https';
import type { ListenerStats } from '../stats/names.js';
import { Exchange, RETRY_BODY_LIMIT, RequestBody, writeLocalReply, type ListenerContext } from './exchange.js';
import { MAX_HEADER_BYTES, finishRequestHead, head, visitRequestHeader } from './headers.js';
import { matchRoute, type Route } from './router.js';

const textDecoder = new TextDecoder();

export class Listener implements ListenerContext {
  draining = false;
  active = 0;
  accessLog: AccessLogBuffer | null = null;
  envoyHeaders = true;
  routes: readonly Route[];
  port = 0;
  private app: TemplatedApp | null = null;
  private socket: ListenSocket | null = null;
  private server: Server | null = null;
  /** Apps replaced by a certificate rotation: they keep serving the connections they hold. */
  private readonly retiredApps: TemplatedApp[] = [];
  private readonly proto: string;
  /** The node front's SNI table (refilled by a rotation). */
  private readonly sniNames = new Map<string, SecureContext>();
  private readonly uwsHandler = (res: HttpResponse, req: HttpRequest) => this.onUwsRequest(res, req);

  constructor(
    readonly name: string,
    readonly address: string,
    readonly configuredPort: number,
    readonly front: FrontKind,
    readonly tls: ListenerTls | null,
    public tlsGeneration: number,
    routes: readonly Route[],
    readonly stats: Float64Array,
    readonly ls: ListenerStats,
    readonly histogram: Histogram,
  ) {
    this.routes = routes;
    this.proto = tls === null ? 'http' : 'https';
  }

  async start(): Promise<void> {
    if (this.front === 'node') {
      this.server = createNodeServer({
        onRequest: (ex) => this.onNodeRequest(ex),
        onClientError: (status) => this.onClientError(status),
        onTlsError: () => { this.stats[this.ls.tlsError]++; },
        // llhttp counts the request line too: headers.ts checks the exact limit.
      }, MAX_HEADER_BYTES + 4096, this.tls === null ? null : nodeTlsOptions(this.tls, this.sniNames));
      this.port = await listenNode(this.server, this.address, this.configuredPort);
      return;
    }
    this.app = this.newUwsApp();
    const { socket, port } = await listen(this.app, this.address, this.configuredPort);
    this.socket = socket;
    this.port = port;
  }

  private newUwsApp(): TemplatedApp {
    if (this.tls === null) {
      const app = createApp();
      app.any('/*', this.uwsHandler);
      return app;
    }
    return createSslApp(this.tls, this.tls.sni, this.tls.ciphers, this.uwsHandler);
  }

  /**
   * New certificates without dropping a connection. node:tls swaps its secure context in place. uWS
   * reads certificate files only when an app is made, so a new SSLApp starts listening on the same
   * port (SO_REUSEPORT, both ours) before the old listen socket closes; the old app keeps serving the
   * connections it already has.
   */
  async rotateTls(generation: number): Promise<void> {
    this.tlsGeneration = generation;
    if (this.tls === null) return;
    if (this.server !== null) {
      (this.server as HttpsServer).setSecureContext(nodeTlsOptions(this.tls, this.sniNames));
      return;
    }
    if (this.socket === null) return; // draining: no new connections to serve
    const app = this.newUwsApp();
    const { socket } = await listen(app, this.address, this.port);
    closeListenSocket(this.socket);
    this.retiredApps.push(this.app!);
    this.app = app;
    this.socket = socket;
  }

  /** Stops accepting connections; requests in flight go on. */
  stopListening(): void {
    if (this.socket !== null) {
      closeListenSocket(this.socket);
      this.socket = null;
    }
    this.server?.close();
  }

  /** Drops every connection, idle or not (the end of a drain). */
  close(): void {
    this.stopListening();
    if (this.app !== null) closeApp(this.app);
    for (const a of this.retiredApps) closeApp(a);
    this.server?.closeAllConnections();
  }

  private onUwsRequest(res: HttpResponse, req: HttpRequest): void {
    const ex = this.handle(res, req, res, null);
    if (ex !== null && ex.body !== null) {
      // uWS empties the ArrayBuffer when the callback returns: copy what we keep.
      res.onData((ab, isLast) => ex.onClientData(Buffer.from(ab.slice(0)), isLast));
    }
  }

  private onNodeRequest(nx: NodeExchange): void {
    let id: ClientIdentity | null = null;
    if (this.tls !== null && this.tls.ca_file !== null) {
      id = clientIdentity(nx.tlsSocket() as TLSSocket);
      if (id === null) this.stats[this.ls.tlsNoCertificate]++;
    }
    const ex = this.handle(nx, nx, nx, id);
    if (ex !== null && ex.body !== null) nx.onData((chunk, isLast) => ex.onClientData(chunk, isLast));
  }

  /** Envoy's forward_client_cert_details for x-forwarded-client-cert: a client's own header is never
   *  trusted unless the listener says append_forward. */
  private forwardClientCert(headers: string[], id: ClientIdentity | null): void {
    const mode = this.tls?.forward_client_cert ?? 'sanitize';
    const i = head.xfccIndex;
    if (mode === 'append_forward') {
      if (id === null) return;
      if (i >= 0) headers[i + 1] += `,${id.xfcc}`;
      else headers.push('x-forwarded-client-cert', id.xfcc);
      return;
    }
    if (i >= 0) headers.splice(i, 2);
    if (mode === 'sanitize_set' && id !== null) headers.push('x-forwarded-client-cert', id.xfcc);
  }

  private onClientError(status: string): void {
    const s = this.stats;
    s[this.ls.rqTotal]++;
    s[this.ls.rq1xx + status.charCodeAt(0) - 49]++;
    s[status.startsWith('501') ? this.ls.rqNotImplemented : this.ls.rqBad]++;
  }

  /** Access-logs a request answered here, before any Exchange (Envoy logs NR, DPE... too). Before the
   *  reply is written: uWS's response must not be read after it ended. */
  private logReply(remoteOf: HttpResponse | NodeExchange, method: string, path: string, query: string | undefined, r: LocalReply, route: string): void {
    this.logLocal(remoteOf, method, path, query, r.statusCode, r.flag, r.body.length, route);
  }

  private logLocal(remoteOf: HttpResponse | NodeExchange, method: string, path: string, query: string | undefined, status: number, flag: string, bytes: number, route: string): void {
    const remote = this.front === 'uws'
      ? textDecoder.decode((remoteOf as HttpResponse).getRemoteAddressAsText())
      : (remoteOf as NodeExchange).remoteAddress();
    // Envoy sets x-request-id before routing, so even a 404 NR has one in the log.
    const headers = head.hasRequestId ? head.headers : [...head.headers, 'x-request-id', randomUUID()];
    this.accessLog!.append(new LocalReplyRecord(method, path, query ?? '', headers, remote, status, flag, bytes, route));
  }

  /**
   * The request path shared by both fronts. Returns the exchange when the request went upstream (the
   * caller then wires the body), or null when it was answered here.
   */
  private handle(res: FrontResponse, req: FrontRequest, remoteOf: HttpResponse | NodeExchange, clientCert: ClientIdentity | null): Exchange | null {
    // Copy everything out of `req` now: uWS's is only valid during this call. getCaseSensitiveMethod()
    // first, because uWS's getMethod() lowercases the method in place.
    const method = req.getCaseSensitiveMethod();
    const path = req.getUrl();
    const query = req.getQuery();
    const stats = this.stats;
    const ls = this.ls;
    stats[ls.rqTotal]++;
    head.reset();
    req.forEach(visitRequestHeader);
    finishRequestHead(head);
    if (head.bytes > MAX_HEADER_BYTES) {
      stats[ls.rqBad]++;
      stats[ls.rq4xx]++;
      if (this.accessLog !== null) this.logReply(remoteOf, method, path, query, LOCAL_REPLIES.headersTooLarge, '');
      writeLocalReply(res, LOCAL_REPLIES.headersTooLarge, true);
      return null;
    }
    if (head.bad) {
      stats[ls.rqBad]++;
      stats[ls.rq4xx]++;
      if (this.accessLog !== null) this.logReply(remoteOf, method, path, query, LOCAL_REPLIES.badRequest, '');
      writeLocalReply(res, LOCAL_REPLIES.badRequest, true);
      return null;
    }
    const route = matchRoute(this.routes, path, head.headers);
    if (route === null) {
      stats[ls.rqNoRoute]++;
      stats[ls.rq4xx]++;
      if (this.accessLog !== null) this.logReply(remoteOf, method, path, query, LOCAL_REPLIES.noRoute, '');
      writeLocalReply(res, LOCAL_REPLIES.noRoute, this.draining);
      return null;
    }
    if (route.cluster === null && route.chain === null) {
      // A direct_response with no filters to run: answered right here, without an Exchange. With
      // filters, the Exchange runs them first and answers after (sendDirect), as Envoy does.
      stats[ls.rqDirect]++;
      stats[ls.rq1xx + route.directStatus.charCodeAt(0) - 49]++;
      res.writeStatus(route.directStatus);
      if (this.accessLog !== null) this.logLocal(remoteOf, method, path, query, Number(route.directStatus.slice(0, 3)), '', route.directBody.length, route.name);
      res.end(route.directBody, this.draining);
      return null;
    }
    if (method === 'CONNECT') {
      // A tunnel, not a request: out of scope for a reverse proxy (Envoy refuses it by default too).
      stats[ls.rqNotImplemented]++;
      stats[ls.rq5xx]++;
      if (this.accessLog !== null) this.logReply(remoteOf, method, path, query, LOCAL_REPLIES.notImplemented, route.name);
      writeLocalReply(res, LOCAL_REPLIES.notImplemented, true);
      return null;
    }
    if (head.contentLength > route.maxRequestBytes) {
      stats[ls.rqTooLarge]++;
      stats[ls.rq4xx]++;
      if (this.accessLog !== null) this.logReply(remoteOf, method, path, query, LOCAL_REPLIES.bodyTooLarge, route.name);
      writeLocalReply(res, LOCAL_REPLIES.bodyTooLarge, true);
      return null;
    }

    if (route.allowedClientSans !== null && (clientCert === null || !sanAllowed(clientCert, route.allowedClientSans))) {
      stats[ls.rqClientCertForbidden]++;
      stats[ls.rq4xx]++;
      if (this.accessLog !== null) this.logReply(remoteOf, method, path, query, LOCAL_REPLIES.forbidden, route.name);
      writeLocalReply(res, LOCAL_REPLIES.forbidden, this.draining);
      return null;
    }

    const headers = head.headers;
    const remote = this.front === 'uws'
      ? textDecoder.decode((remoteOf as HttpResponse).getRemoteAddressAsText())
      : (remoteOf as NodeExchange).remoteAddress();
    if (head.forwardedForIndex >= 0) headers[head.forwardedForIndex + 1] += `, ${remote}`;
    else headers.push('x-forwarded-for', remote);
    headers.push('x-forwarded-proto', this.proto);
    if (!head.hasRequestId) headers.push('x-request-id', randomUUID());
    if (route.hostRewrite !== null) {
      if (head.hostIndex >= 0) headers[head.hostIndex + 1] = route.hostRewrite;
      else headers.push('host', route.hostRewrite);
    }

    // Last: it may remove a header, which moves the positions used above.
    this.forwardClientCert(headers, clientCert);
    const ex = new Exchange(res, this, route, method, path, query ?? '', headers, remote);
    ex.clientCert = clientCert;
    ex.clientClose = head.clientClose;
    res.onAborted(() => ex.onClientAborted());
    if (head.chunked || head.contentLength > 0) {
      ex.body = new RequestBody(ex);
      // undici must not see a destroyed stream's error as unhandled.
      ex.body.on('error', noop);
      if (route.retryPolicy !== null && head.contentLength <= RETRY_BODY_LIMIT) ex.keepBodyForRetry();
    }
    ex.run();
    ex.inHandler = false;
    return ex;
  }
}

function noop(): void {}
