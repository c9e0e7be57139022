// Listener -> one pillion listener: its socket address, and the http_connection_manager of its first
// HTTP filter chain. pillion has one route table per listener, so a listener with several HTTP filter
// chains (SNI) keeps the first and reports the rest.
import type { Ctx, RawHeaderMatcher, RawListener } from './context.js';
import { lookup, type HttpFilterTranslator } from './extensions.js';
import { domainRegex, routeConfiguration } from './route-config.js';
import { HCM_NAME, HCM_TYPE, HTTP_FILTERS, httpConnectionManager } from './http-connection-manager.js';
import { transportSocket } from './transport-sockets/tls.js';
import { isTcpProxy, tcpListener } from './tcp-proxy.js';
import { Node } from './source.js';

const HARMLESS_LISTENER_FILTERS = ['envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector'];

export function listener(l: Node, ctx: Ctx): void {
  const index = ctx.out.listeners.length;
  const envoyName = l.str('name');
  const sa = l.get('address')?.get('socket_address');
  if (sa === undefined) {
    if (l.has('address')) l.get('address')!.dropSelf('listener not carried over: pillion listens on TCP socket addresses only');
    else l.dropSelf('listener not carried over: it has no address');
    return;
  }
  const address = sa.str('address') ?? '0.0.0.0';
  const port = sa.int('port_value');
  if (port === undefined) return sa.fail('port_value is required');
  const protocol = sa.str('protocol');
  if (protocol !== undefined && protocol !== 'TCP') {
    sa.get('protocol')!.dropSelf(`listener not carried over: pillion listens on TCP only (not ${protocol})`);
    return;
  }
  sa.skip('ipv4_compat');
  sa.finish();

  const chains = l.list('filter_chains');
  const def = l.get('default_filter_chain');
  if (def !== undefined) chains.push(def);
  const isHttp = (fc: Node) =>
    fc.isMap() && fc.has('filters') && ([] as unknown[]).concat((fc.value as Record<string, unknown>).filters).some((f) => isHcm(f));
  const httpChain = chains.find(isHttp);
  if (httpChain === undefined) {
    const tcp = chains.length > 0 && chains.every((fc) => fc.isMap() && ([] as unknown[]).concat((fc.value as Record<string, unknown>).filters).some(isTcpProxy));
    if (tcp && tcpListener(l, chains, address, port, ctx, envoyName)) {
      listenerRest(l);
      return;
    }
    l.dropSelf(`listener ${envoyName ?? `${address}:${port}`} not carried over: it has neither an http_connection_manager nor a tcp_proxy pillion can run`);
    return;
  }
  const out: RawListener = { name: envoyName ?? `listener_${index}`, address, port, routes: [] };
  ctx.origin(['listeners', index], l);
  ctx.origin(['listeners', index, 'port'], sa);
  ctx.origin(['listeners', index, 'address'], sa);

  // The first HTTP chain gives the routes and the listener's TLS. Other HTTP chains that pick by server
  // name and terminate TLS add their certificates (pillion's SNI); their routes are carried only when
  // they are the first chain's.
  for (const fc of chains) {
    if (fc !== httpChain) {
      sniChain(fc, out, httpChain, ctx, index);
      continue;
    }
    const ts = fc.get('transport_socket');
    if (ts !== undefined) {
      const tls = transportSocket(ts, 'downstream', ctx, out);
      if (tls !== undefined) out.tls = tls;
    }
    const match = fc.get('filter_chain_match');
    if (match !== undefined) primaryMatch(match);
    fc.skip('name');
    for (const f of fc.list('filters')) {
      const config = f.get('typed_config');
      const type = config?.typeName();
      if (isHcm(f.value)) {
        f.skip('name');
        if (config === undefined) return f.fail('http_connection_manager needs its typed_config');
        httpConnectionManager(config, out, index, ctx);
        config.finish();
        f.finish();
      } else {
        f.dropSelf(`network filter ${f.str('name') ?? type ?? '(unnamed)'}: pillion has the HTTP connection manager only`, true);
      }
    }
    fc.drop('transport_socket_connect_timeout', 'pillion has no TLS handshake timeout setting');
    fc.finish();
  }
  const sans = ctx.listenerSans.get(out);
  if (sans !== undefined) for (const r of out.routes) r.allowed_client_sans ??= [...sans];

  listenerRest(l);
  ctx.out.listeners.push(out);
}

/** What a listener has besides its filter chains. */
function listenerRest(l: Node): void {
  for (const lf of l.list('listener_filters')) {
    const name = lf.str('name');
    if (name !== undefined && HARMLESS_LISTENER_FILTERS.includes(name)) {
      lf.skip('typed_config');
      lf.note(`${name}: nothing to carry (it only feeds filter_chain_match)`);
      lf.finish();
    } else lf.dropSelf(`listener filter ${name ?? '(unnamed)'}: pillion has none`);
  }
  l.drop('access_log', 'listener (connection-level) access log: pillion logs requests, in the HCM\'s access_log');
  l.drop('per_connection_buffer_limit_bytes', 'pillion streams bodies with its own backpressure');
  l.drop('connection_balance_config', 'pillion\'s workers share the port with SO_REUSEPORT');
  l.skip('traffic_direction', 'stat_prefix'); // informational; the HCM's stat_prefix names the listener
  l.typeName(); // `@type` of a Listener in an xDS resource file
  l.finish();
}

function isHcm(f: unknown): boolean {
  if (f === null || typeof f !== 'object') return false;
  const o = f as Record<string, unknown>;
  const tc = (o.typed_config ?? o.typedConfig) as Record<string, unknown> | undefined;
  const type = typeof tc?.['@type'] === 'string' ? (tc['@type'] as string) : '';
  return type.endsWith(`/${HCM_TYPE}`) || o.name === HCM_NAME || o.name === 'envoy.http_connection_manager';
}

const SNI_MATCH = ['server_names', 'transport_protocol', 'application_protocols'];

/** The first HTTP chain's filter_chain_match: pillion serves that chain to every connection. */
function primaryMatch(match: Node): void {
  for (const k of match.keys()) {
    const snake = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (SNI_MATCH.includes(snake)) {
      match.drop(k, `${snake}: pillion serves this chain to every connection (Envoy closes connections that no chain matches)`);
    } else {
      match.drop(k, `${snake}: pillion does not select filter chains by address or port; this chain would serve every client`, true);
    }
  }
  match.finish();
}

/** Another filter chain: an SNI certificate when it terminates TLS for given server names. */
function sniChain(fc: Node, out: RawListener, first: Node, ctx: Ctx, index: number): void {
  const match = fc.get('filter_chain_match');
  const names = match?.get('server_names');
  const ts = fc.has('transport_socket') ? fc : undefined;
  const isHttp = fc.isMap() && ([] as unknown[]).concat((fc.value as Record<string, unknown>).filters).some((f) => isHcm(f));
  if (!isHttp || names === undefined || !Array.isArray(names.value) || ts === undefined || out.tls === undefined) {
    fc.dropSelf('filter chain not carried over: pillion serves one filter chain per listener (the first HTTP one), plus SNI certificates of TLS chains');
    return;
  }
  const tls = transportSocket(fc.get('transport_socket')!, 'downstream', ctx, out);
  if (tls === undefined) return;
  const rest = (t: Record<string, unknown>) => JSON.stringify({ ...t, cert: undefined, key: undefined, passphrase: undefined });
  if (rest(tls) !== rest(out.tls)) {
    fc.get('transport_socket')!.note('TLS settings besides the certificate differ from the first chain\'s: pillion applies the first chain\'s to every server name');
    if (tls.ca !== undefined && out.tls.ca === undefined) fc.get('transport_socket')!.dropSelf('client certificates required for these server names only: pillion cannot require them per name', true);
  }
  const entry: Record<string, unknown> = { server_names: (names.value as unknown[]).map(String), cert: tls.cert, key: tls.key };
  if (tls.passphrase !== undefined) entry.passphrase = tls.passphrase;
  ((out.tls.sni ??= []) as unknown[]).push(entry);
  match!.skip('transport_protocol');
  match!.finish();
  const filters = fc.get('filters')!;
  const same = JSON.stringify(filters.value) === JSON.stringify((first.value as Record<string, unknown>).filters);
  if (!same && !sniRoutes(filters, first, out, ctx, index, entry.server_names as string[])) {
    filters.dropSelf('the routes and filters of this SNI chain: pillion has one route table per listener (the first chain\'s); only the chain\'s certificate is carried');
  }
  fc.skip('name');
  fc.finish();
}

/** An HCM's config without what may differ between SNI chains that pillion can still merge. */
function hcmShape(filters: unknown): string | undefined {
  const list = ([] as unknown[]).concat(filters);
  if (list.length !== 1 || !isHcm(list[0])) return undefined;
  const f = list[0] as Record<string, unknown>;
  const tc = (f.typed_config ?? f.typedConfig) as Record<string, unknown>;
  if (tc.route_config === undefined && tc.routeConfig === undefined) return undefined;
  return JSON.stringify({ ...tc, route_config: undefined, routeConfig: undefined, stat_prefix: undefined, statPrefix: undefined });
}

/**
 * An SNI chain whose HCM differs from the first chain's only in its routes (the tls-sni example):
 * its routes go first, each with a `host` matcher on the chain's server names, and end in a 404 for
 * those hosts. Envoy picks the chain by SNI, pillion the routes by Host: the same for clients that
 * send the same name in both.
 */
function sniRoutes(filters: Node, first: Node, out: RawListener, ctx: Ctx, index: number, serverNames: string[]): boolean {
  const shape = hcmShape(filters.value);
  if (shape === undefined || shape !== hcmShape((first.value as Record<string, unknown>).filters)) return false;
  const hcmEntry = Array.isArray(filters.value) ? new Node(filters.report, filters.doc, [...filters.path, 0], (filters.value as unknown[])[0]) : filters;
  const hcm = hcmEntry.get('typed_config')!;
  hcm.typeName();
  const rc = hcm.get('route_config')!;
  // SNI has no port; a Host header has one when the listener is not on 443.
  const sniHost: RawHeaderMatcher = { name: 'host', regex: `(?:${serverNames.map(domainRegex).join('|')})(?::[0-9]+)?` };
  const tmp: RawListener = { name: out.name, address: out.address, port: out.port, routes: [] };
  if (out.filters !== undefined) tmp.filters = out.filters;
  const byName = new Map<string, HttpFilterTranslator>();
  for (const x of ([] as unknown[]).concat((hcm.value as Record<string, unknown>).http_filters ?? (hcm.value as Record<string, unknown>).httpFilters ?? [])) {
    const o = x as Record<string, unknown>;
    const t = lookup(HTTP_FILTERS, typeof o.name === 'string' ? o.name : undefined, undefined);
    if (t !== undefined && typeof o.name === 'string') byName.set(o.name, t);
  }
  routeConfiguration(rc, { ctx, listener: tmp, listenerIndex: index, filtersByName: byName, allFilters: HTTP_FILTERS, sniHost });
  tmp.routes.push({ name: `sni_${serverNames[0]}_no_route`, match: { prefix: '/', headers: [{ ...sniHost }] }, direct_response: { status: 404 } });
  const sans = ctx.listenerSans.get(out);
  if (sans !== undefined) for (const r of tmp.routes) r.allowed_client_sans ??= [...sans];
  ctx.shiftRoutes(index, tmp.routes.length);
  out.routes.unshift(...tmp.routes);
  // Everything else in this HCM is the first chain's, already read and reported there.
  for (const k of hcm.keys()) if (k !== 'route_config' && k !== 'routeConfig') hcm.skip(k);
  hcm.finish();
  hcmEntry.skip('name');
  hcmEntry.finish();
  rc.note(`routes of the SNI chain for ${serverNames.join(', ')}: carried with a host header matcher (pillion routes by Host, Envoy by SNI; the same for clients that send one name)`);
  return true;
}
