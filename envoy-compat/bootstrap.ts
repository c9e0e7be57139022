// Bootstrap -> pillion's raw config: static_resources, filesystem xDS (dynamic_resources with a
// path_config_source for LDS and CDS, read as DiscoveryResponse-shaped `resources:` files), admin.
import { Ctx, type RawConfig, type RawListener, type TranslateOptions } from './context.js';
import { HTTP_FILTERS } from './http-connection-manager.js';
import { routeConfiguration } from './route-config.js';
import { cluster } from './cluster.js';
import { listener } from './listener.js';
import { Node, type Doc, type Report } from './source.js';
import { CLUSTER_TYPE, LISTENER_TYPE, fileResources, resourceList } from './xds-files.js';


export interface Translation {
  config: RawConfig;
  report: Report;
  /** LDS/CDS files the bootstrap named, to watch for changes. */
  files: string[];
  ctx: Ctx;
}


export function translateBootstrap(doc: Doc, options: TranslateOptions = {}): Translation {
  return translateDocs([doc], options);
}

/**
 * Translates a bootstrap, or xDS resource files (a YAML list of Listener / Cluster /
 * RouteConfiguration, or a DiscoveryResponse-shaped `resources:` file), or a bootstrap plus such files.
 */
export function translateDocs(docs: Doc[], options: TranslateOptions = {}): Translation {
  const report: Report = { dropped: [], notes: [] };
  const ctx = new Ctx(report, options);
  const clusterNodes: Node[] = [];
  const listenerNodes: Node[] = [];
  let root: Node | undefined;
  for (const doc of docs) {
    const n = new Node(report, doc, [], doc.value);
    if (Array.isArray(doc.value) || (n.isMap() && n.has('resources') && !n.has('static_resources'))) {
      const r = resourceList(n, ctx);
      listenerNodes.push(...r.listeners);
      clusterNodes.push(...r.clusters);
    } else if (root === undefined) {
      root = n;
    } else n.fail('only one bootstrap can be given (the other files must be xDS resource lists)');
  }
  if (root !== undefined) bootstrapResources(root, ctx, listenerNodes, clusterNodes);

  // Clusters first: a translation error in a route then names clusters that exist.
  clusterNodes.forEach((c) => ctx.out.clusters.push(cluster(c, ctx, ctx.out.clusters.length)));
  listenerNodes.forEach((l) => listener(l, ctx));
  if (root !== undefined) bootstrapRest(root, ctx);
  for (const [name, rc] of ctx.routeConfigs) {
    if (ctx.usedRouteConfigs.has(rc)) continue;
    if (options.allowNoListener) standInListener(name, rc, ctx);
    else rc.dropSelf('route configuration that no listener names in rds: not carried over');
  }

  for (const [name, at] of ctx.rdsClusters) {
    if (ctx.out.clusters.some((c) => c.name === name)) continue;
    ctx.out.clusters.push({ name, endpoints: [] });
    at.note(`cluster '${name}' is defined nowhere: Envoy answers 503 for routes to it (RDS does not check names); pillion gets an empty cluster that answers 503`);
  }

  const suppressing = ctx.routers.filter((r) => r.suppress);
  if (suppressing.length > 0 && suppressing.length === ctx.routers.length) ctx.out.envoy_headers = false;
  else {
    for (const r of suppressing) {
      r.at.dropSelf('suppress_envoy_headers on some HTTP listeners only: pillion turns x-envoy-* response headers off for all listeners or none, so they stay on');
    }
  }

  // A bootstrap must give pillion something to run; resource files alone (`check` on a CDS file) need not.
  if (ctx.out.listeners.length === 0 && (root !== undefined || !options.allowNoListener)) {
    const why = report.dropped.map((d) => `${d.line !== undefined ? `line ${d.line}: ` : ''}${d.path}: ${d.reason}`);
    const at = root ?? new Node(report, docs[0]!, [], docs[0]!.value);
    const what = (ctx.out.tcp_listeners?.length ?? 0) > 0
      ? 'only tcp_proxy listeners: pillion needs at least one HTTP listener to run (its tcp_listeners run beside HTTP listeners)'
      : 'no listener pillion can run';
    at.fail(`${what}${why.length > 0 ? `; not carried over:\n  ${why.join('\n  ')}` : ''}`);
  }
  return { config: ctx.out, report, files: ctx.files, ctx };
}

/** `check` on a file of RouteConfigurations: show their routes under a listener of their own. */
function standInListener(name: string, rc: Node, ctx: Ctx): void {
  const index = ctx.out.listeners.length;
  const l: RawListener = { name: `rds_${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`, address: '127.0.0.1', port: 0, routes: [] };
  rc.note(`route configuration no listener names: shown under the stand-in listener '${l.name}'`);
  ctx.usedRouteConfigs.add(rc);
  routeConfiguration(rc, { ctx, listener: l, listenerIndex: index, filtersByName: new Map(), allFilters: HTTP_FILTERS, fromRds: true });
  if (l.routes.length === 0) l.routes.push({ name: 'no_route', match: { prefix: '/' }, direct_response: { status: 404 } });
  ctx.out.listeners.push(l);
}

function bootstrapResources(root: Node, ctx: Ctx, listenerNodes: Node[], clusterNodes: Node[]): void {
  const sr = root.get('static_resources');
  if (sr !== undefined) {
    listenerNodes.push(...sr.list('listeners'));
    clusterNodes.push(...sr.list('clusters'));
    sr.drop('secrets', 'static secrets (SDS): pillion reads certificates from files or inline data', true);
    sr.finish();
  }

  const dr = root.get('dynamic_resources');
  if (dr !== undefined) {
    const lds = dr.get('lds_config');
    if (lds !== undefined) listenerNodes.push(...fileResources(lds, LISTENER_TYPE, ctx));
    const cds = dr.get('cds_config');
    if (cds !== undefined) clusterNodes.push(...fileResources(cds, CLUSTER_TYPE, ctx));
    dr.drop('ads_config', 'ADS over gRPC: pillion has no xDS client (use static_resources or path_config_source files)');
    dr.finish();
  }
}

function bootstrapRest(root: Node, ctx: Ctx): void {
  const admin = root.get('admin');
  if (admin !== undefined) {
    const sa = admin.get('address')?.get('socket_address');
    if (sa !== undefined) {
      const port = sa.int('port_value');
      if (port === undefined) return sa.fail('port_value is required');
      ctx.out.admin = { address: sa.str('address') ?? '0.0.0.0', port };
      if (!/^(127\.|::1$|localhost$)/.test(ctx.out.admin.address)) {
        sa.note(`admin on ${ctx.out.admin.address}: reachable from the network, as in Envoy (pillion's admin can drain and stop the proxy); --admin 127.0.0.1:${port} keeps it local`);
      }
      ctx.origin(['admin'], sa);
      sa.skip('protocol');
      sa.finish();
    } else if (admin.has('address')) {
      admin.get('address')!.dropSelf('admin on a pipe: pillion\'s admin listens on TCP; it stays on 127.0.0.1:15000');
    }
    admin.drop('access_log', 'admin access log: pillion logs no admin requests');
    admin.drop('access_log_path', 'admin access log: pillion logs no admin requests');
    admin.skip('profile_path');
    admin.finish();
  } else {
    root.note('no admin in the bootstrap: Envoy runs without one; pillion serves its admin API on 127.0.0.1:15000');
  }

  root.skip('node'); // identity for a management server; pillion has none to talk to
  root.drop('layered_runtime', 'runtime layers: pillion has no runtime (overrides such as connection limits are not applied)');
  root.drop('overload_manager', 'overload manager: pillion has no heap-based load shedding');
  root.drop('stats_sinks', 'stat sinks: pillion exposes stats on the admin port only');
  root.drop('stats_config', 'stat tags and matchers: pillion\'s stat names are fixed');
  root.drop('stats_flush_interval', 'pillion has no stat sinks to flush');
  root.drop('tracing', 'pillion does no tracing');
  root.drop('cluster_manager', 'cluster manager options: pillion has none');
  root.drop('watchdog', 'pillion has no watchdog');
  root.drop('watchdogs', 'pillion has no watchdog');
  root.drop('hds_config', 'health discovery: pillion has no xDS client');
  root.finish();
}

