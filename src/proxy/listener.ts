// A listener: one uWS app on one address, its routes, and the request handler that turns a uWS
// request into an undici dispatch. Everything the handler needs is resolved when the config loads
// (routes with their cluster objects, stat slots); per request it copies the head out of uWS's
// stack-allocated HttpRequest, checks it, matches a route and dispatches.
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { closeApp, createApp, listen, closeListenSocket, type HttpRequest, type HttpResponse, type ListenSocket, type TemplatedApp } from '../front/uws.js';
import { LOCAL_REPLIES } from '../errors/local-reply.js';
import type { ListenerStats } from '../stats/names.js';
import { Exchange, RequestBody, writeLocalReply, type ListenerContext } from './exchange.js';
import { finishRequestHead, head, visitRequestHeader } from './headers.js';
import { matchRoute, type Route } from './router.js';

const textDecoder = new TextDecoder();

export class Listener implements ListenerContext {
  draining = false;
  active = 0;
  routes: readonly Route[];
  private readonly app: TemplatedApp;
  private socket: ListenSocket | null = null;
  port = 0;

  constructor(
    readonly name: string,
    readonly address: string,
    readonly configuredPort: number,
    routes: readonly Route[],
    readonly stats: Float64Array,
    readonly ls: ListenerStats,
  ) {
    this.routes = routes;
    this.app = createApp();
    this.app.any('/*', (res, req) => this.onRequest(res, req));
  }

  async start(): Promise<void> {
    const { socket, port } = await listen(this.app, this.address, this.configuredPort);
    this.socket = socket;
    this.port = port;
  }

  /** Stops accepting connections; requests in flight go on. */
  stopListening(): void {
    if (this.socket !== null) {
      closeListenSocket(this.socket);
      this.socket = null;
    }
  }

  /** Drops every connection, idle or not (the end of a drain). */
  close(): void {
    this.stopListening();
    closeApp(this.app);
  }

  private onRequest(res: HttpResponse, req: HttpRequest): void {
    // Copy everything out of `req` now: it is only valid during this call. getCaseSensitiveMethod()
    // first, because getMethod() lowercases the method in place.
    const method = req.getCaseSensitiveMethod();
    const path = req.getUrl();
    const query = req.getQuery();
    const stats = this.stats;
    const ls = this.ls;
    stats[ls.rqTotal]++;
    head.reset();
    req.forEach(visitRequestHeader);
    finishRequestHead(head);
    if (head.bad) {
      stats[ls.rqBad]++;
      stats[ls.rq4xx]++;
      writeLocalReply(res, LOCAL_REPLIES.badRequest, true);
      return;
    }
    const route = matchRoute(this.routes, path, head.headers);
    if (route === null) {
      stats[ls.rqNoRoute]++;
      stats[ls.rq4xx]++;
      writeLocalReply(res, LOCAL_REPLIES.noRoute, this.draining);
      return;
    }
    if (route.cluster === null) {
      stats[ls.rqDirect]++;
      stats[ls.rq1xx + route.directStatus.charCodeAt(0) - 49]++;
      res.writeStatus(route.directStatus).end(route.directBody, this.draining);
      return;
    }
    if (method === 'CONNECT') {
      // A tunnel, not a request: out of scope for a reverse proxy (Envoy refuses it by default too).
      stats[ls.rqNotImplemented]++;
      stats[ls.rq5xx]++;
      writeLocalReply(res, LOCAL_REPLIES.notImplemented, true);
      return;
    }
    if (head.contentLength > route.maxRequestBytes) {
      stats[ls.rqTooLarge]++;
      stats[ls.rq4xx]++;
      writeLocalReply(res, LOCAL_REPLIES.bodyTooLarge, true);
      return;
    }
    const cluster = route.cluster;
    const endpoint = cluster.pick();
    if (endpoint === null) {
      stats[cluster.stats.noHealthy]++;
      stats[ls.rq5xx]++;
      writeLocalReply(res, LOCAL_REPLIES.noHealthyUpstream, this.draining);
      return;
    }

    const headers = head.headers;
    const remote = textDecoder.decode(res.getRemoteAddressAsText());
    if (head.forwardedForIndex >= 0) headers[head.forwardedForIndex + 1] += `, ${remote}`;
    else headers.push('x-forwarded-for', remote);
    headers.push('x-forwarded-proto', 'http');
    if (!head.hasRequestId) headers.push('x-request-id', randomUUID());
    if (route.hostRewrite !== null) {
      if (head.hostIndex >= 0) headers[head.hostIndex + 1] = route.hostRewrite;
      else headers.push('host', route.hostRewrite);
    }

    const ex = new Exchange(res, this, cluster.stats, endpoint, method === 'HEAD', route.maxRequestBytes);
    res.onAborted(() => ex.onClientAborted());
    let body: RequestBody | null = null;
    if (head.chunked || head.contentLength > 0) {
      body = ex.body = new RequestBody(ex);
      // undici must not see a destroyed stream's error as unhandled.
      body.on('error', noop);
      res.onData((ab, isLast) => ex.onClientData(ab, isLast));
    }
    const opts: Dispatcher.DispatchOptions = {
      method,
      path: route.rewritePath(query === '' || query === undefined ? path : `${path}?${query}`),
      headers,
      body,
      headersTimeout: route.timeoutMs,
      bodyTimeout: route.idleTimeoutMs,
    };
    endpoint.pool.dispatch(opts, ex);
  }
}

function noop(): void {}
