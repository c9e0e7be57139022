// The container that `pillion inject` adds. Same probes, resources and security context as the
// hand-written manifests in deploy/sidecar/ (test/deploy/inject.test.ts compares them); the reasons
// are in docs/deploy.md.

/** Annotation on the pod template: the mode inject used ("native" or "legacy"). */
export const ANNOTATION_INJECTED = 'pillion/injected';
/** Annotation with what inject changed beside adding the container, for uninject (JSON). */
export const ANNOTATION_RECORD = 'pillion/uninject';
/** `pillion/inject: disabled` on a pod template (or Pod) keeps inject away from it. */
export const ANNOTATION_OPT_OUT = 'pillion/inject';

export const CONTAINER_NAME = 'pillion';
export const CONFIG_VOLUME = 'pillion-config';
export const CONFIG_MOUNT = '/etc/pillion';
export const PROXY_PORT = 15001;
export const ADMIN_PORT = 15000;
export const ADMIN_PORT_NAME = 'pillion-admin';
/** The proxy port's name when the app's port had none to hand over. */
export const PROXY_PORT_NAME = 'pillion-http';

/** pillion's own shutdown: drain_time 5 s + drain_timeout 30 s (the defaults), plus a margin. */
export const NATIVE_GRACE_SECONDS = 40;
/** How long the legacy preStop waits for the app to stop listening before pillion drains. */
export const LEGACY_WAIT_APP_SECONDS = 30;
export const LEGACY_GRACE_SECONDS = LEGACY_WAIT_APP_SECONDS + NATIVE_GRACE_SECONDS;

export interface SidecarSpec {
  image: string;
  legacy: boolean;
  /** ConfigMap with the key pillion.yaml, or null for the embedded default config. */
  configMap: string | null;
  /** The app's port on 127.0.0.1, where the proxy forwards. */
  appPort: number;
  /** Pass --upstream even with a ConfigMap (the user gave --port). */
  upstreamFlag: boolean;
  proxyPortName: string;
}

export function sidecarContainer(s: SidecarSpec): Record<string, unknown> {
  const args = ['proxy'];
  if (s.configMap !== null) args.push('--config', `${CONFIG_MOUNT}/pillion.yaml`, '--watch');
  if (s.configMap === null || s.upstreamFlag) args.push('--upstream', `http://127.0.0.1:${s.appPort}`);
  // The admin binds 127.0.0.1 by default; the kubelet probes from the node (docs/deploy.md).
  args.push('--admin', `0.0.0.0:${ADMIN_PORT}`);
  const c: Record<string, unknown> = { name: CONTAINER_NAME, image: s.image };
  if (!s.legacy) c.restartPolicy = 'Always';
  c.args = args;
  c.ports = [
    { name: s.proxyPortName, containerPort: PROXY_PORT },
    { name: ADMIN_PORT_NAME, containerPort: ADMIN_PORT },
  ];
  if (s.legacy) {
    c.lifecycle = {
      postStart: { exec: { command: ['node', '/app/probe.mjs', 'wait-ready', `http://127.0.0.1:${ADMIN_PORT}/ready`, '30'] } },
      preStop: { exec: { command: ['node', '/app/probe.mjs', 'wait-closed', `127.0.0.1:${s.appPort}`, String(LEGACY_WAIT_APP_SECONDS)] } },
    };
  }
  c.startupProbe = { httpGet: { path: '/ready', port: ADMIN_PORT_NAME }, periodSeconds: 1, failureThreshold: 30 };
  c.readinessProbe = { httpGet: { path: '/ready', port: ADMIN_PORT_NAME }, periodSeconds: 5, failureThreshold: 2 };
  c.livenessProbe = { httpGet: { path: '/stats?format=json&filter=^$', port: ADMIN_PORT_NAME }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 };
  c.resources = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } };
  c.securityContext = {
    runAsNonRoot: true,
    runAsUser: 1000,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  if (s.configMap !== null) c.volumeMounts = [{ name: CONFIG_VOLUME, mountPath: CONFIG_MOUNT, readOnly: true }];
  return c;
}
