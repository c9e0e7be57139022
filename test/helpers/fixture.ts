// The common setup of the integration tests: an in-process origin and a proxy in front of it, with
// one listener on the chosen front (uWS, the default, or node:http).
import type { FrontKind } from '../../src/front/types.js';
import { Origin } from './origin.js';
import { indent, startProxy, yamlConfig, type Proxy, type ProxyOptions } from './proxy.js';

export const FRONTS: readonly FrontKind[] = ['uws', 'node'];

export interface Fixture {
  origin: Origin;
  proxy: Proxy;
  stop(): Promise<void>;
}

/**
 * Starts an origin and a proxy whose listener `ingress` routes everything to cluster `local_app`
 * (the origin). `routes` replaces the default catch-all route; `clusters` adds clusters.
 */
export async function startFixture(opts: {
  front?: FrontKind;
  routes?: string;
  clusters?: string;
  extra?: string;
  /** YAML added to the listener (access_log, filters...), unindented. */
  listenerExtra?: string;
  proxy?: ProxyOptions;
} = {}): Promise<Fixture> {
  const origin = new Origin();
  await origin.start();
  // `ORIGIN` in routes, clusters or extra stands for the origin's URL.
  const sub = (t: string | undefined) => t?.replaceAll('ORIGIN', origin.url);
  let proxy: Proxy;
  try {
    proxy = await startProxy({
      ...opts.proxy,
      config: yamlConfig({
        front: opts.front ?? 'uws',
        routes: sub(opts.routes) ?? `
          - name: default
            match: { prefix: / }
            cluster: local_app`,
        clusters: `- name: local_app\n  endpoints: [${origin.url}]\n${opts.clusters !== undefined ? indent(sub(opts.clusters)!, 0) : ''}`,
        extra: sub(opts.extra),
        listenerExtra: sub(opts.listenerExtra),
      }),
    });
  } catch (err) {
    await origin.stop();
    throw err;
  }
  return {
    origin,
    proxy,
    async stop() {
      await proxy.stop();
      await origin.stop();
    },
  };
}
