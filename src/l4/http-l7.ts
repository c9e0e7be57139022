// HTTP/1 found on a transparent listener gets an L7 path here: a node:http server with no port of its
// own adopts the connection (uWS cannot adopt a socket that node:net accepted), and each request is
// forwarded to the connection's target, the original destination or the cluster it matched. Per
// request: `http.<stat_prefix>.*` stats, Envoy's local replies (503 UF, 503 UH) with x-pillion-error.
//
// This is deliberately not the full L7 listener (no routes or filters): transparent outbound traffic
// already knows where it goes. Apps that need routes point at an L7 listener instead. HTTP/2 (h2c)
// and anything not HTTP/1 stays at L4.
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { LOCAL_REPLIES, type LocalReply } from '../errors/local-reply.js';
import type { ListenerStats } from '../stats/names.js';
import { log } from '../util/log.js';
import { startReading } from './sockets.js';

export interface HttpTarget {
  cluster: string;
  host: string;
  port: number;
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

interface Conn {
  target: HttpTarget;
}

export class HttpL7 {
  private readonly server: Server;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly conns = new WeakMap<Socket, Conn>();

  constructor(private readonly stats: Float64Array, private readonly s: ListenerStats) {
    this.server = createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, sock: Socket) => {
      this.stats[this.s.rqBad]!++;
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else sock.destroy();
      log.debug('transparent http: client error', { code: err.code });
    });
    // Upgrades (WebSocket) and CONNECT leave HTTP: the request head is replayed to the target and the
    // rest is a raw tunnel. Without these handlers node:http would drop such connections.
    this.server.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => this.tunnel(req, sock, head));
    this.server.on('connect', (req: IncomingMessage, sock: Socket, head: Buffer) => this.tunnel(req, sock, head));
  }

  private tunnel(req: IncomingMessage, sock: Socket, head: Buffer): void {
    const st = this.stats;
    st[this.s.rqTotal]!++;
    const conn = this.conns.get(sock);
    if (conn === undefined) return void sock.destroy();
    const t = conn.target;
    const up = connect({ host: t.host, port: t.port });
    let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    up.write(text + '\r\n');
    if (head.length > 0) up.write(head);
    sock.on('error', () => up.destroy());
    up.on('error', () => sock.destroy());
    up.on('close', () => sock.destroy());
    sock.on('close', () => up.destroy());
    up.pipe(sock);
    sock.pipe(up);
  }

  /**
   * Takes over a connection whose first bytes (`head`, already read) are an HTTP/1 request line.
   * `done(rx, tx)` runs once when the connection closes.
   */
  adopt(sock: Socket, head: Buffer, target: HttpTarget, done: (rx: number, tx: number) => void): void {
    this.conns.set(sock, { target });
    // node:http normally parses straight from the socket's handle; bytes we already read (and put
    // back with unshift) live in the stream buffer, so make it use the stream path.
    const handle = (sock as unknown as { _handle?: { _consumed?: boolean } | null })._handle;
    if (handle) handle._consumed = true;
    sock.unshift(head);
    sock.once('close', () => done(sock.bytesRead, sock.bytesWritten));
    this.server.emit('connection', sock);
    sock.resume();
    startReading(sock); // inspection stopped it (src/l4/sockets.ts)
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const st = this.stats;
    const s = this.s;
    st[s.rqTotal]!++;
    st[s.rqActive]!++;
    let ended = false;
    const end = (status: number) => {
      if (ended) return;
      ended = true;
      st[s.rqActive]!--;
      const cls = Math.floor(status / 100);
      if (cls >= 1 && cls <= 5) st[s.rq1xx + cls - 1]!++;
    };
    const conn = this.conns.get(req.socket);
    if (conn === undefined) return this.reply(res, LOCAL_REPLIES.noHealthyUpstream, end);
    const headers: Record<string, string | string[]> = {};
    const raw = req.rawHeaders;
    // Headers the client's Connection header names are hop-by-hop too.
    const named = req.headers.connection?.toLowerCase().split(',').map((x) => x.trim()) ?? [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (HOP.has(name) || named.includes(name)) continue;
      const v = raw[i + 1]!;
      const prev = headers[name];
      headers[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const t = conn.target;
    const up = request({ host: t.host, port: t.port, method: req.method, path: req.url, headers, agent: this.agent, setHost: false });
    up.on('response', (ur) => {
      const out: string[] = [];
      const r = ur.rawHeaders;
      for (let i = 0; i < r.length; i += 2) if (!HOP.has(r[i]!.toLowerCase())) out.push(r[i]!, r[i + 1]!);
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, out);
      ur.pipe(res);
      ur.on('error', () => res.destroy());
      res.once('finish', () => end(ur.statusCode ?? 502));
      res.once('close', () => {
        end(ur.statusCode ?? 502);
        if (!res.writableFinished) ur.destroy(); // the client went away mid-response
      });
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        st[s.rqUpstreamReset]!++;
        res.destroy();
        end(502);
        return;
      }
      log.debug('transparent http: upstream error', { target: `${t.host}:${t.port}`, code: err.code });
      this.reply(res, LOCAL_REPLIES.upstreamConnectFailure, end);
    });
    req.on('aborted', () => { st[s.rqAborted]!++; up.destroy(); });
    req.pipe(up);
  }

  private reply(res: ServerResponse, r: LocalReply, end: (status: number) => void): void {
    const status = Number(r.status.slice(0, 3));
    res.writeHead(status, r.status.slice(4), { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(r.body), 'x-pillion-error': r.flag });
    res.end(r.body);
    end(status);
  }

  close(): void {
    this.agent.destroy();
    this.server.close();
  }
}
