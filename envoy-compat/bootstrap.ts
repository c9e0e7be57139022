// Bootstrap -> pillion's raw config: static_resources, filesystem xDS (dynamic_resources with a
// path_config_source for LDS and CDS, read as DiscoveryResponse-shaped `resources:` files), admin.
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { Ctx, type RawConfig, type TranslateOptions } from './context.js';
import { cluster } from './cluster.js';
import { listener } from './listener.js';
import { Node, readDoc, type Doc, type Report } from './source.js';

export const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';

export interface Translation {
  config: RawConfig;
  report: Report;
  /** LDS/CDS files the bootstrap named, to watch for changes. */
  files: string[];
  ctx: Ctx;
}

export function translateBootstrap(doc: Doc, options: TranslateOptions = {}): Translation {
  const report: Report = { dropped: [], notes: [] };
  const ctx = new Ctx(report, options);
  const root = new Node(report, doc, [], doc.value);
  if (!root.isMap()) root.fail('an Envoy bootstrap must be a mapping');

  const sr = root.get('static_resources');
  const clusterNodes: Node[] = [];
  const listenerNodes: Node[] = [];
  if (sr !== undefined) {
    listenerNodes.push(...sr.list('listeners'));
    clusterNodes.push(...sr.list('clusters'));
    sr.drop('secrets', 'static secrets (SDS): pillion has no TLS yet (issue 4)');
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

  // Clusters first: a translation error in a route then names clusters that exist.
  clusterNodes.forEach((c) => ctx.out.clusters.push(cluster(c, ctx, ctx.out.clusters.length)));
  listenerNodes.forEach((l) => listener(l, ctx));

  const admin = root.get('admin');
  if (admin !== undefined) {
    const sa = admin.get('address')?.get('socket_address');
    if (sa !== undefined) {
      const port = sa.int('port_value');
      if (port === undefined) return sa.fail('port_value is required');
      ctx.out.admin = { address: sa.str('address') ?? '0.0.0.0', port };
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

  if (ctx.out.listeners.length === 0) {
    const why = report.dropped.map((d) => `${d.line !== undefined ? `line ${d.line}: ` : ''}${d.path}: ${d.reason}`);
    root.fail(`no listener pillion can run${why.length > 0 ? `; not carried over:\n  ${why.join('\n  ')}` : ''}`);
  }
  return { config: ctx.out, report, files: ctx.files, ctx };
}

/**
 * An lds_config / cds_config. A path_config_source (or v2's bare `path`) names a file holding a
 * `resources:` list; anything else (ADS, API config sources) needs a management server.
 */
function fileResources(source: Node, type: string, ctx: Ctx): Node[] {
  const pcs = source.get('path_config_source');
  const path = pcs !== undefined ? pcs.str('path') : source.str('path');
  if (path === undefined) {
    source.dropSelf(`${String(source.path[source.path.length - 1])}: pillion reads xDS from files only (path_config_source); ADS and gRPC/REST config sources need a management server`);
    return [];
  }
  pcs?.skip('watched_directory'); // pillion watches the file itself
  pcs?.finish();
  source.skip('resource_api_version', 'initial_fetch_timeout');
  source.finish();
  // Envoy resolves a relative path against its working directory; so does pillion.
  const file = resolve(path);
  const read = ctx.options.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
  const doc = readDoc(file, read);
  ctx.files.push(file);
  const root = new Node(ctx.report, doc, [], doc.value);
  const out: Node[] = [];
  for (const r of root.list('resources')) {
    const t = r.typeName();
    if (t !== undefined && t !== type) {
      r.dropSelf(`a ${t} in a file for ${type} resources`);
      continue;
    }
    out.push(r);
  }
  root.skip('version_info', 'type_url');
  root.finish();
  return out;
}
