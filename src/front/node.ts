// The node:http front: the uWS-shaped request/response over node's own HTTP/1.1 server (llhttp).
// Slower per request than uWS, but it does what uWS 20.30 cannot: pipelined requests (answered in
// order), any method token llhttp knows (PROPFIND, PURGE, QUERY...; 501 for the rest) and a 400 or 431
// for a malformed request instead of a silent close. Chosen per listener with `front: node`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { FrontRequest, FrontResponse } from './types.js';

/** Parser errors that get an answer: everything else gets 400. */
const CLIENT_ERROR_REPLIES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_INVALID_METHOD: '501 Not Implemented',
};

export class NodeExchange implements FrontResponse, FrontRequest {
  private status = 200;
  private reason = 'OK';
  private readonly headers: string[] = [];
  private headSent = false;
  private written = 0;
  private readonly path: string;
  private readonly query: string | undefined;

  constructor(readonly req: IncomingMessage, readonly res: ServerResponse) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.query = q < 0 ? undefined : url.slice(q + 1);
  }

  // --- FrontRequest ---
  getCaseSensitiveMethod(): string { return this.req.method ?? 'GET'; }
  getUrl(): string { return this.path; }
  getQuery(): string | undefined { return this.query; }
  forEach(cb: (name: string, value: string) => void): void {
    const raw = this.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) cb(raw[i]!.toLowerCase(), raw[i + 1]!);
  }
  /** The TLS socket, on a TLS listener. */
  tlsSocket(): TLSSocket | null {
    const s = this.req.socket as TLSSocket;
    return s.encrypted === true ? s : null;
  }

  remoteAddress(): string {
    const a = this.req.socket.remoteAddress ?? '';
    return a.startsWith('::ffff:') ? a.slice(7) : a;
  }

  // --- FrontResponse ---
  writeStatus(status: string): this {
    const sp = status.indexOf(' ');
    this.status = Number(sp < 0 ? status : status.slice(0, sp));
    this.reason = sp < 0 ? '' : status.slice(sp + 1);
    return this;
  }

  writeHeader(name: string, value: string | Uint8Array): this {
    this.headers.push(name, typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1'));
    return this;
  }

  private sendHead(contentLength: number, close: boolean): void {
    if (this.headSent) return;
    this.headSent = true;
    if (contentLength >= 0) this.headers.push('content-length', String(contentLength));
    if (close) this.headers.push('connection', 'close');
    this.res.writeHead(this.status, this.reason, this.headers);
  }

  write(chunk: Uint8Array): boolean {
    this.sendHead(-1, false);
    this.written += chunk.byteLength;
    return this.res.write(chunk);
  }

  tryEnd(chunk: Uint8Array, totalSize: number): [boolean, boolean] {
    this.sendHead(totalSize, false);
    this.written += chunk.byteLength;
    // node keeps whatever it is given, so the chunk is always accepted; false only asks to wait.
    const ok = chunk.byteLength === 0 || this.res.write(chunk);
    if (this.written >= totalSize) {
      this.res.end();
      return [true, true];
    }
    return [ok, false];
  }

  end(body?: string | Uint8Array, closeConnection = false): this {
    const len = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    this.sendHead(len, closeConnection);
    this.res.end(body);
    return this;
  }

  endWithoutBody(reportedContentLength?: number, closeConnection = false): this {
    this.sendHead(reportedContentLength ?? -1, closeConnection);
    this.res.end();
    return this;
  }

  getWriteOffset(): number { return this.written; }

  onWritable(handler: (offset: number) => boolean): this {
    const again = () => { if (!handler(this.written)) this.res.once('drain', again); };
    this.res.once('drain', again);
    return this;
  }

  onAborted(handler: () => void): this {
    // 'close' before the response finished means the client went away.
    this.res.once('close', () => { if (!this.res.writableFinished) handler(); });
    return this;
  }

  /** Body chunks, which the caller may keep (node allocates a new Buffer for each). */
  onData(handler: (chunk: Buffer, isLast: boolean) => void): this {
    this.req.on('data', (c: Buffer) => handler(c, false));
    this.req.once('end', () => handler(EMPTY, true));
    return this;
  }

  pause(): void { this.req.pause(); }
  resume(): void { this.req.resume(); }
  close(): this { this.res.destroy(); return this; }
  cork(cb: () => void): this {
    const s = this.res.socket;
    if (s === null) { cb(); return this; }
    s.cork();
    try { cb(); } finally { s.uncork(); }
    return this;
  }
}

const EMPTY = Buffer.alloc(0);
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ HTTP\/1\.[01]\r?\n/;

export interface NodeFrontHooks {
  onRequest(ex: NodeExchange): void;
  /** A request the parser refused; `status` is what the client was told. */
  onClientError(status: string, code: string): void;
  /** A TLS handshake that failed (plain HTTP on a TLS port, no or untrusted client certificate...). */
  onTlsError?(code: string): void;
}

export function createNodeServer(hooks: NodeFrontHooks, maxHeaderBytes: number, tls: TlsOptions | null = null): Server {
  const options = { maxHeaderSize: maxHeaderBytes, requestTimeout: 0, keepAliveTimeout: 75_000, noDelay: true };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => hooks.onRequest(new NodeExchange(req, res));
  const server: Server = tls === null ? createServer(options, onRequest) : createHttpsServer({ ...options, ...tls }, onRequest);
  if (tls !== null) {
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      hooks.onTlsError?.(err.code ?? 'UNKNOWN');
      socket.destroy();
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = err.code ?? 'UNKNOWN';
    if (code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return; }
    let status = CLIENT_ERROR_REPLIES[code] ?? '400 Bad Request';
    // An unknown method in a well-formed request line is 501; a line that is not HTTP at all is 400.
    const raw = (err as { rawPacket?: Buffer }).rawPacket;
    if (code === 'HPE_INVALID_METHOD' && (raw === undefined || !REQUEST_LINE.test(raw.toString('latin1', 0, 256)))) status = '400 Bad Request';
    hooks.onClientError(status, code);
    rawReply(socket, status, 'DPE');
  });
  // node:http hands CONNECT to a separate event and drops the socket when nobody listens. A tunnel is
  // out of scope for a reverse proxy: say so, as the uWS front does.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    hooks.onClientError('501 Not Implemented', 'CONNECT');
    rawReply(socket, '501 Not Implemented', 'NI');
  });
  return server;
}

/** A response written straight to the socket, for requests node:http never turned into a request object. */
function rawReply(socket: Socket, status: string, flag: string): void {
  const body = `${status.slice(4).toLowerCase()}\n`;
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nx-pillion-error: ${flag}\r\nconnection: close\r\n\r\n${body}`);
}

export function listenNode(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
