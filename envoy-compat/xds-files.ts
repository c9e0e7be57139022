// Filesystem xDS: resource files (a YAML list of resources, or a DiscoveryResponse-shaped
// `resources:` file) named by a ConfigSource's path_config_source, as Envoy's dynamic-config-fs
// example uses them for LDS and CDS; RDS files work the same way. Resources are told apart by
// `@type`, or by their fields when untyped.
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Ctx } from './context.js';
import { Node, readDoc } from './source.js';

export const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
export const ROUTE_CONFIG_TYPE = 'envoy.config.route.v3.RouteConfiguration';

/** A file of xDS resources, each `@type`d or recognised by its fields. */
export function resourceList(n: Node, ctx: Ctx): { listeners: Node[]; clusters: Node[] } {
  const items: Node[] = [];
  if (Array.isArray(n.value)) {
    (n.value as unknown[]).forEach((v, i) => items.push(new Node(ctx.report, n.doc, [i], v)));
  } else {
    items.push(...n.list('resources'));
    n.skip('version_info', 'type_url', 'nonce');
    n.finish();
  }
  const listeners: Node[] = [];
  const clusters: Node[] = [];
  for (const r of items) {
    const kind = resourceKind(r);
    if (kind === LISTENER_TYPE) listeners.push(r);
    else if (kind === CLUSTER_TYPE) clusters.push(r);
    else if (kind === ROUTE_CONFIG_TYPE) {
      r.typeName();
      const name = r.str('name') ?? '';
      ctx.routeConfigs.set(name, r);
    } else r.dropSelf(`resource ${kind ?? '(of unknown type)'}: pillion reads Listener, Cluster and RouteConfiguration resources`);
  }
  return { listeners, clusters };
}

function resourceKind(r: Node): string | undefined {
  if (!r.isMap()) return undefined;
  const t = (r.value as Record<string, unknown>)['@type'];
  if (typeof t === 'string') return t.slice(t.lastIndexOf('/') + 1);
  if (r.has('filter_chains') || r.has('default_filter_chain') || r.has('address')) return LISTENER_TYPE;
  if (r.has('virtual_hosts')) return ROUTE_CONFIG_TYPE;
  if (r.has('load_assignment') || r.has('type') || r.has('connect_timeout') || r.has('eds_cluster_config') || r.has('lb_policy')) return CLUSTER_TYPE;
  return undefined;
}

/**
 * An lds_config / cds_config. A path_config_source (or v2's bare `path`) names a file holding a
 * `resources:` list; anything else (ADS, API config sources) needs a management server.
 */
export function fileResources(source: Node, type: string, ctx: Ctx): Node[] {
  const r = readConfigSource(source, ctx);
  if (r === undefined) return [];
  const wanted = type === LISTENER_TYPE ? r.listeners : r.clusters;
  for (const other of type === LISTENER_TYPE ? r.clusters : r.listeners) other.dropSelf(`a ${type === LISTENER_TYPE ? 'Cluster' : 'Listener'} in the ${type === LISTENER_TYPE ? 'LDS' : 'CDS'} file`);
  return wanted;
}

/** Reads the file a ConfigSource names (RouteConfigurations in it are registered for rds); undefined when it names none. */
export function readConfigSource(source: Node, ctx: Ctx): { listeners: Node[]; clusters: Node[] } | undefined {
  const pcs = source.get('path_config_source');
  const path = pcs !== undefined ? pcs.str('path') : source.str('path');
  if (path === undefined) {
    source.dropSelf(`${String(source.path[source.path.length - 1])}: pillion reads xDS from files only (path_config_source); ADS and gRPC/REST config sources need a management server`);
    return undefined;
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
  return resourceList(new Node(ctx.report, doc, [], doc.value), ctx);
}
