// A tcp_proxy listener (Envoy's name): accept, pick an upstream, connect, move bytes both ways until
// both sides are done. Per connection:
//
//   accept (paused: not a byte read) ── over max_connections? close (downstream_cx_overflow)
//     └─ original_dst: SO_ORIGINAL_DST          (native addon; refused at start without it)
//     └─ inspect the first bytes when needed    (TLS ClientHello for SNI, HTTP/1 request line)
//     └─ route: destinations → sni → HTTP at L7 → cluster → passthrough → close (downstream_cx_no_route)
//     └─ connect upstream (paused), replay the inspected bytes
//     └─ splice thread (native) if loaded and nothing is left in JavaScript buffers,
//        else stream piping; half-close passes EOF on, idle timeout closes both
//     └─ stats, one access-log record
//
// Errors never escape a connection: each ends in a counter and a record.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { StatRegistry } from '../stats/registry.js';
import { log } from '../util/log.js';
import { PASSTHROUGH_CLUSTER, TcpCluster, tcpClusterStats, type TcpEndpointState } from './cluster.js';
import type { TcpListenerConfig } from './config.js';
import { inspect, MAX_INSPECT_BYTES, matchServerName, type Inspection } from './inspect.js';
import { cancelPump, NativeUnavailableError, originalDst, pumpBytes, spliceAvailable, startPump, type OriginalDst, type PumpResult } from './native.js';
import { startReading, stopReading } from './sockets.js';
import { tcpStats, type TcpStats } from './stats.js';
import type { HttpL7 } from './http-l7.js';

/** One per downstream connection, given to the access-log hook when it ends. */
export interface TcpAccessLogRecord {
  listener: string;
  stat_prefix: string;
  start_time: string;
  duration_ms: number;
  downstream_remote_address: string;
  downstream_local_address: string;
  /** `ip:port` the client was connecting to (transparent listeners). */
  original_dst: string | null;
  upstream_cluster: string | null;
  upstream_host: string | null;
  /** SNI of a TLS ClientHello, when inspected. */
  server_name: string | null;
  protocol: 'tcp' | 'tls' | 'http';
  /** How the bytes moved: the native splice thread, JavaScript streams, or the in-process HTTP path. */
  path: 'splice' | 'stream' | 'http' | 'none';
  bytes_received: number;
  bytes_sent: number;
  /** done, idle_timeout, error, cancel, overflow, no_route, connect_fail. */
  end_reason: string;
  /** Envoy's response flags: UF (connect failure), UH (no endpoint), NR (no route), UO (overflow), UPE... */
  response_flags: string;
  error: string | null;
}

export type TcpAccessLog = (record: TcpAccessLogRecord) => void;

let accessLog: TcpAccessLog | null = null;
/** Installs the access-log hook (one per process; null removes it). Records are built only when set. */
export function setTcpAccessLog(fn: TcpAccessLog | null): void {
  accessLog = fn;
}

interface Target {
  cluster: string;
  host: string;
  port: number;
  endpoint: TcpEndpointState | null;
  stats: TcpClusterStats;
}
type TcpClusterStats = TcpCluster['stats'];

const PASSTHROUGH_CONNECT_TIMEOUT_MS = 5000;
/** How often the byte stats of spliced connections catch up with the pump while they run. */
const SPLICE_STATS_INTERVAL_MS = 1000;

export class TcpProxyListener {
  private server: Server | null = null;
  readonly sessions = new Set<Session>();
  /** Sessions whose bytes the splice thread moves: their byte stats are polled while they run. */
  readonly spliced = new Set<Session>();
  private statsTimer: NodeJS.Timeout | null = null;
  private passthroughStats: TcpClusterStats | null = null;
  port = 0;
  /** Whether bytes may go to the splice thread (the addon is loaded and the config allows it). */
  useSplice: boolean;

  constructor(
    public config: TcpListenerConfig,
    public clusters: ReadonlyMap<string, TcpCluster>,
    readonly stats: Float64Array,
    readonly s: TcpStats,
    private readonly registry: StatRegistry,
    private readonly http: HttpL7 | null,
  ) {
    this.useSplice = config.splice && spliceAvailable();
    if (config.original_dst) this.passthroughStats = tcpClusterStats(registry, PASSTHROUGH_CLUSTER);
  }

  static create(config: TcpListenerConfig, clusters: ReadonlyMap<string, TcpCluster>, stats: Float64Array, registry: StatRegistry, http: HttpL7 | null): TcpProxyListener {
    return new TcpProxyListener(config, clusters, stats, tcpStats(registry, config.stat_prefix), registry, http);
  }

  /** A reload with the same name, address and port: new routes for new connections. */
  update(config: TcpListenerConfig, clusters: ReadonlyMap<string, TcpCluster>): void {
    this.config = config;
    this.clusters = clusters;
    this.useSplice = config.splice && spliceAvailable();
    if (config.original_dst && this.passthroughStats === null) this.passthroughStats = tcpClusterStats(this.registry, PASSTHROUGH_CLUSTER);
  }

  get active(): number {
    return this.sessions.size;
  }

  async start(): Promise<number> {
    // Transparent mode strictly needs SO_ORIGINAL_DST: fail now, with the reason, not per connection.
    if (this.config.original_dst) originalDstProbe();
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (sock) => this.onConnection(sock));
    this.server = server;
    server.on('error', (err) => log.error('tcp listener error', { listener: this.config.name, err }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.config.address, port: this.config.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  stopListening(): void {
    this.server?.close();
    this.server = null;
  }

  /** Drops every connection (the end of a drain). */
  close(): void {
    this.stopListening();
    for (const s of this.sessions) s.abort('cancel');
    this.http?.close();
  }

  private onConnection(sock: Socket): void {
    const st = this.stats;
    st[this.s.cxTotal]!++;
    if (this.sessions.size >= this.config.max_connections) {
      st[this.s.cxOverflow]!++;
      sock.on('error', () => { /* counted: downstream_cx_overflow */ });
      sock.resetAndDestroy();
      if (accessLog !== null) accessLog(this.earlyRecord(sock, 'overflow', 'UO'));
      return;
    }
    const session = new Session(this, sock);
    this.sessions.add(session);
    st[this.s.cxActive]!++;
    session.begin();
  }

  /** A session went to the pump; its bytes are polled from now on. */
  addSpliced(session: Session): void {
    this.spliced.add(session);
    if (this.statsTimer === null) {
      this.statsTimer = setInterval(() => this.pollSpliced(), SPLICE_STATS_INTERVAL_MS);
      this.statsTimer.unref();
    }
  }

  private pollSpliced(): void {
    const list = [...this.spliced];
    const ids = new Uint32Array(list.length);
    list.forEach((s, i) => { ids[i] = s.pumpId; });
    const out = new Float64Array(2 * list.length);
    pumpBytes(ids, out);
    list.forEach((s, i) => { if (out[2 * i]! >= 0) s.catchUp(out[2 * i]!, out[2 * i + 1]!); });
  }

  ended(session: Session): void {
    if (this.spliced.delete(session) && this.spliced.size === 0 && this.statsTimer !== null) {
      clearInterval(this.statsTimer);
      this.statsTimer = null;
    }
    if (!this.sessions.delete(session)) return;
    this.stats[this.s.cxActive]!--;
  }

  /** Where a connection goes; null: nowhere (closed, downstream_cx_no_route). */
  route(dst: OriginalDst | null, serverName: string | null): Target | null {
    const c = this.config;
    let name: string | undefined;
    if (dst !== null) {
      for (const d of c.destinations) {
        if (d.port === dst.port && (d.address === undefined || d.address === dst.address)) { name = d.cluster; break; }
      }
    }
    if (name === undefined && serverName !== null) {
      for (const r of c.sni) if (r.server_names.some((p) => matchServerName(p, serverName))) { name = r.cluster; break; }
    }
    name ??= c.cluster;
    if (name !== undefined) {
      const cl = this.clusters.get(name);
      const ep = cl?.pick() ?? null;
      if (cl === undefined || ep === null) return null;
      return { cluster: name, host: ep.host, port: ep.port, endpoint: ep, stats: cl.stats };
    }
    if (dst !== null && c.passthrough && this.passthroughStats !== null) {
      return { cluster: PASSTHROUGH_CLUSTER, host: dst.address, port: dst.port, endpoint: null, stats: this.passthroughStats };
    }
    return null;
  }

  connectTimeout(t: Target): number {
    return this.clusters.get(t.cluster)?.connectTimeoutMs ?? PASSTHROUGH_CONNECT_TIMEOUT_MS;
  }

  get httpL7(): HttpL7 | null {
    return this.http;
  }

  private earlyRecord(sock: Socket, reason: string, flags: string): TcpAccessLogRecord {
    return {
      listener: this.config.name, stat_prefix: this.config.stat_prefix, start_time: new Date().toISOString(), duration_ms: 0,
      downstream_remote_address: `${sock.remoteAddress}:${sock.remotePort}`, downstream_local_address: `${sock.localAddress}:${sock.localPort}`,
      original_dst: null, upstream_cluster: null, upstream_host: null, server_name: null, protocol: 'tcp', path: 'none',
      bytes_received: 0, bytes_sent: 0, end_reason: reason, response_flags: flags, error: null,
    };
  }
}

function originalDstProbe(): void {
  if (!spliceAvailable()) throw new NativeUnavailableError('original_dst (transparent interception)');
}

/** One downstream connection. Every field is set in the constructor. */
class Session {
  private readonly startedAt = Date.now();
  private dst: OriginalDst | null = null;
  private serverName: string | null = null;
  private protocol: TcpAccessLogRecord['protocol'] = 'tcp';
  private path: TcpAccessLogRecord['path'] = 'none';
  private peeked: Buffer[] = [];
  private peekedLength = 0;
  private inspectTimer: NodeJS.Timeout | null = null;
  private onPeekData: ((chunk: Buffer) => void) | null = null;
  private onPeekEndFn: (() => void) | null = null;
  private upstream: Socket | null = null;
  private upConnected = false;
  private target: Target | null = null;
  pumpId = 0;
  private handedOver = false;
  /** Bytes of the pump already added to the stats (live polling). */
  private countedRx = 0;
  private countedTx = 0;
  private rx = 0;
  private tx = 0;
  private finished = false;
  private flags = '';
  private error: string | null = null;
  private readonly remote: string;
  private readonly local: string;

  constructor(private readonly l: TcpProxyListener, private readonly down: Socket) {
    this.remote = `${down.remoteAddress}:${down.remotePort}`;
    this.local = `${down.localAddress}:${down.localPort}`;
  }

  begin(): void {
    const c = this.l.config;
    this.down.on('error', (err) => this.onSocketError('downstream', err));
    if (c.original_dst) {
      try {
        this.dst = originalDst(this.down);
      } catch (err) {
        // Not "was not redirected" (that is null): the socket or the kernel failed us. Rare, so logged.
        this.l.stats[this.l.s.errors]!++;
        log.warn('original destination unavailable; closing the connection', { listener: c.name, err });
        return this.finish('error', 'DPE', (err as Error).message);
      }
      // Connected to the listener itself (not redirected): no destination to go to.
      if (this.dst !== null && this.dst.port === this.l.port && this.dst.address === this.down.localAddress) this.dst = null;
    }
    const wantTls = c.sni.length > 0;
    const wantHttp = c.original_dst && c.http === 'l7' && this.l.httpL7 !== null;
    if (!wantTls && !wantHttp) return this.decide({ kind: 'opaque' });
    this.inspectTimer = setTimeout(() => this.onInspectTimeout(), c.inspect_timeout_ms);
    this.onPeekData = (chunk: Buffer) => this.onPeek(chunk, wantTls, wantHttp);
    this.onPeekEndFn = () => this.onPeekEnd();
    this.down.on('data', this.onPeekData);
    this.down.on('end', this.onPeekEndFn);
    this.down.resume();
  }

  private onPeek(chunk: Buffer, wantTls: boolean, wantHttp: boolean): void {
    this.peeked.push(chunk);
    this.peekedLength += chunk.length;
    const buf = this.peeked.length === 1 ? chunk : Buffer.concat(this.peeked);
    const r = inspect(buf, wantTls, wantHttp);
    if (r.kind === 'more' && this.peekedLength < MAX_INSPECT_BYTES) return;
    this.stopPeeking();
    this.decide(r.kind === 'more' ? { kind: 'opaque' } : r);
  }

  private onPeekEnd(): void {
    // EOF before anything conclusive: route what we have, and let the half-close pass on.
    if (this.inspectTimer === null) return;
    this.stopPeeking();
    this.decide({ kind: 'opaque' });
  }

  private onInspectTimeout(): void {
    this.inspectTimer = null;
    this.l.stats[this.l.s.inspectTimeout]!++;
    this.stopPeeking();
    this.decide({ kind: 'opaque' });
  }

  private stopPeeking(): void {
    if (this.inspectTimer !== null) clearTimeout(this.inspectTimer);
    this.inspectTimer = null;
    if (this.onPeekData !== null) this.down.off('data', this.onPeekData);
    if (this.onPeekEndFn !== null) this.down.off('end', this.onPeekEndFn);
    this.onPeekData = null;
    this.onPeekEndFn = null;
    this.down.pause();
    stopReading(this.down);
  }

  private decide(r: Inspection): void {
    if (this.finished) return;
    if (r.kind === 'tls') {
      this.protocol = 'tls';
      this.serverName = r.serverName;
    }
    const target = this.l.route(this.dst, this.serverName);
    if (target === null) {
      this.l.stats[this.l.s.cxNoRoute]!++;
      return this.finish('no_route', 'NR', null);
    }
    this.target = target;
    if (r.kind === 'http' && this.l.httpL7 !== null) {
      this.protocol = 'http';
      this.path = 'http';
      this.l.stats[this.l.s.http]!++;
      const peeked = this.takePeeked();
      this.l.httpL7.adopt(this.down, peeked, target, (rx, tx) => {
        const l = this.l;
        this.rx = rx;
        this.tx = tx;
        l.stats[l.s.rxBytes]! += rx;
        l.stats[l.s.txBytes]! += tx;
        this.finish('done', '', null);
      });
      return;
    }
    this.connectUpstream(target);
  }

  private takePeeked(): Buffer {
    const b = this.peeked.length === 1 ? this.peeked[0]! : Buffer.concat(this.peeked);
    this.peeked = [];
    this.peekedLength = 0;
    return b;
  }

  private connectUpstream(t: Target): void {
    const up = connect({ host: t.host, port: t.port, allowHalfOpen: true, noDelay: true });
    this.upstream = up;
    // Paused before the connect completes, so node never starts reading it: the splice thread may
    // take it over with nothing buffered in JavaScript.
    up.pause();
    if (t.endpoint !== null) t.endpoint.active++;
    const timer = setTimeout(() => up.destroy(new Error(`connect timeout after ${this.l.connectTimeout(t)} ms`)), this.l.connectTimeout(t));
    up.once('connect', () => {
      clearTimeout(timer);
      this.upConnected = true;
      this.l.stats[t.stats.cxTotal]!++;
      this.onUpstreamConnected();
    });
    up.on('error', (err) => {
      clearTimeout(timer);
      if (!this.upConnected) {
        this.l.stats[t.stats.cxConnectFail]!++;
        return this.finish('connect_fail', 'UF', err.message);
      }
      this.onSocketError('upstream', err);
    });
  }

  private onUpstreamConnected(): void {
    if (this.finished) return;
    const up = this.upstream!;
    const down = this.down;
    const peeked = this.peekedLength > 0 ? this.takePeeked() : null;
    if (peeked !== null) {
      // The inspected bytes go upstream first; count them here, the pump and the pipes count the rest.
      this.rx += peeked.length;
      this.l.stats[this.l.s.rxBytes]! += peeked.length;
    }
    if (this.l.useSplice) {
      // Hand over only once the replayed bytes are in the kernel and no JavaScript buffer holds data.
      const handOver = () => {
        if (this.finished) return;
        if (down.readableLength === 0 && up.readableLength === 0 && up.writableLength === 0 && !down.readableEnded) return this.splice();
        this.streamPipe(); // bytes in JavaScript buffers: keep them in order, stay in JavaScript
      };
      if (peeked !== null) up.write(peeked, (err) => { if (err == null) handOver(); });
      else handOver();
      return;
    }
    if (peeked !== null) up.write(peeked);
    this.streamPipe();
  }

  private splice(): void {
    const up = this.upstream!;
    const l = this.l;
    try {
      this.pumpId = startPump(this.down, up, l.config.idle_timeout_ms, (r) => this.onPumpDone(r));
    } catch (err) {
      log.warn('splice pump failed to start; piping in JavaScript', { listener: l.config.name, err });
      return this.streamPipe();
    }
    this.path = 'splice';
    l.stats[l.s.splice]!++;
    // The pump has its own copies of both fds: closing ours leaves the connections open.
    this.handedOver = true;
    l.addSpliced(this);
    this.down.destroy();
    up.destroy();
  }

  private onPumpDone(r: PumpResult): void {
    const l = this.l;
    this.pumpId = 0;
    this.catchUp(r.rx, r.tx);
    this.rx += r.rx;
    this.tx += r.tx;
    if (r.flushed) l.stats[l.s.upstreamFlush]!++;
    if (r.reason === 'idle_timeout') l.stats[l.s.idleTimeout]!++;
    if (r.reason === 'error') l.stats[l.s.errors]!++;
    const error = r.error === null ? null : `${r.errorSide}: ${r.error}`;
    this.finish(r.reason, r.reason === 'error' ? (r.errorSide === 'upstream' ? 'UR' : 'DR') : '', error);
  }

  /** Adds what the pump moved since the last look to the byte stats. */
  catchUp(rx: number, tx: number): void {
    const l = this.l;
    l.stats[l.s.rxBytes]! += rx - this.countedRx;
    l.stats[l.s.txBytes]! += tx - this.countedTx;
    this.countedRx = rx;
    this.countedTx = tx;
  }

  private streamPipe(): void {
    const l = this.l;
    const up = this.upstream!;
    const down = this.down;
    const st = l.stats;
    this.path = 'stream';
    st[l.s.streamPipe]!++;
    const s = l.s;
    down.on('data', (chunk: Buffer) => { this.rx += chunk.length; st[s.rxBytes]! += chunk.length; });
    up.on('data', (chunk: Buffer) => { this.tx += chunk.length; st[s.txBytes]! += chunk.length; });
    // pipe() ends the destination when the source ends: that is the half-close.
    down.pipe(up);
    up.pipe(down);
    startReading(down); // inspection may have stopped it (src/l4/sockets.ts)
    down.once('end', () => { if (up.writableLength > 0) st[s.upstreamFlush]!++; });
    if (l.config.idle_timeout_ms > 0) {
      // A socket's timeout is refreshed by reads and writes, and every byte either way is read or
      // written on the downstream socket: one timer covers both directions.
      down.setTimeout(l.config.idle_timeout_ms, () => {
        st[s.idleTimeout]!++;
        this.finish('idle_timeout', '', null);
      });
    }
    let closed = 0;
    const onClose = () => { if (++closed === 2) this.finish('done', '', null); };
    down.once('close', onClose);
    up.once('close', onClose);
  }

  private onSocketError(side: 'downstream' | 'upstream', err: Error): void {
    // After the hand-over the pump owns the connection: our closed copies report nothing of use.
    if (this.finished || this.handedOver) return;
    this.l.stats[this.l.s.errors]!++;
    this.finish('error', side === 'upstream' ? 'UR' : 'DR', `${side}: ${err.message}`);
  }

  /** Drain timeout or shutdown. */
  abort(reason: 'cancel'): void {
    if (this.pumpId !== 0) cancelPump(this.pumpId); // the pump's report finishes the session
    else this.finish(reason, '', null);
  }

  /** The one exit: sockets closed, endpoint released, stats and the record written. */
  private finish(reason: string, flags: string, error: string | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.inspectTimer !== null) clearTimeout(this.inspectTimer);
    const abortive = reason === 'error' || reason === 'cancel' || reason === 'connect_fail';
    for (const s of [this.down, this.upstream]) {
      if (s === null || s.destroyed) continue;
      if (abortive && !s.connecting) s.resetAndDestroy();
      else s.destroy();
    }
    const t = this.target;
    if (t !== null) {
      if (t.endpoint !== null) t.endpoint.active--;
      if (this.upConnected) this.l.stats[t.stats.cxDestroy]!++;
    }
    this.flags = flags;
    this.error = error;
    this.l.ended(this);
    if (accessLog !== null) accessLog(this.record(reason));
  }

  private record(reason: string): TcpAccessLogRecord {
    const c = this.l.config;
    const t = this.target;
    return {
      listener: c.name,
      stat_prefix: c.stat_prefix,
      start_time: new Date(this.startedAt).toISOString(),
      duration_ms: Date.now() - this.startedAt,
      downstream_remote_address: this.remote,
      downstream_local_address: this.local,
      original_dst: this.dst === null ? null : formatAddr(this.dst.address, this.dst.port),
      upstream_cluster: t?.cluster ?? null,
      upstream_host: t === null ? null : formatAddr(t.host, t.port),
      server_name: this.serverName,
      protocol: this.protocol,
      path: this.path,
      bytes_received: this.rx,
      bytes_sent: this.tx,
      end_reason: reason,
      response_flags: this.flags,
      error: this.error,
    };
  }
}

function formatAddr(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
