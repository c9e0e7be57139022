// The embedded default: a drop-in sidecar in front of an app on 127.0.0.1:8080 (`pillion proxy` with no
// arguments). Written as raw input so that it goes through the same validation as a file.
export const DEFAULT_CONFIG_RAW = {
  admin: { address: '127.0.0.1', port: 15000 },
  listeners: [
    {
      name: 'ingress',
      address: '0.0.0.0',
      port: 15001,
      routes: [{ name: 'default', match: { prefix: '/' }, cluster: 'local_app' }],
    },
  ],
  clusters: [{ name: 'local_app', endpoints: ['http://127.0.0.1:8080'] }],
};
