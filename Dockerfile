# syntax=docker/dockerfile:1
# pillion's image: `docker build -t pillion:0.1.0 .` (the tag the manifests in deploy/ use).
#
# Three stages. The uWS binary in @trufflesuite/uws-js-unofficial is prebuilt for glibc and Node 20's
# ABI, so every stage is Debian bookworm with Node 20 (alpine's musl cannot load it); only the build
# stage has a compiler (for native/). test/deploy/dockerfile.test.ts checks this file's properties;
# deploy/runtime-layout.mjs builds the same layout without Docker and starts it (npm test runs it);
# deploy/image-check.sh builds this file with buildah and runs the image (by hand, as root).
# docs/deploy.md explains the choices.
ARG NODE_IMAGE=node:20-bookworm-slim

# build: dev dependencies (typescript) and tsc. `npm ci --ignore-scripts` skips our own `prepare`
# (tsc on every source, tests included); deploy/tsconfig.image.json compiles src/ without *.test.ts.
FROM ${NODE_IMAGE} AS build
# A compiler for native/ (the N-API addon: SO_ORIGINAL_DST for transparent listeners, splice(2) for
# L4); only this stage has one. node-gyp comes with npm, Node's headers with the node image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# The context is an allow-list (.dockerignore): package files, tsconfig.json, src/, envoy-compat/
# (src/config/load.ts imports it) without tests and fixtures, native/ without its build/, and the
# two deploy/ files used here.
# tsc compiles src/ and whatever src/ imports, into dist/.
COPY . .
RUN npx tsc -p deploy/tsconfig.image.json
# native/build.mjs never fails (without the addon pillion falls back to JavaScript and says so at
# start); the image must have it, so check.
RUN node native/build.mjs && test -f native/build/Release/pillion_native.node

# deps: production dependencies only, and tini. `--ignore-scripts` again: `prepare` needs typescript,
# which --omit=dev leaves out. tini comes from Debian as a static binary, so the final stage needs
# no apt at all.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
# uWS ships 18 binaries (every platform and Node ABI, 92 MB of the 121 MB of node_modules): keep the
# one this image loads, and fail the build if it is not there.
RUN keep="uws_linux_$(node -p process.arch)_$(node -p process.versions.modules).node" \
 && cd node_modules/@trufflesuite/uws-js-unofficial/binaries \
 && test -f "$keep" \
 && find . -name 'uws_*.node' ! -name "$keep" -delete

# runtime: node, tini, iptables, production node_modules, the compiled dist/ and native addon, the
# probe script. npm, npx, corepack and yarn are removed: nothing installs at run time.
FROM ${NODE_IMAGE} AS runtime
# iptables (Debian's, nft backend by default, iptables-legacy beside it; about 3 MB with its
# libraries) for `pillion iptables install` in the transparent variant's init container
# (deploy/transparent/): one image for the rules and the proxy, as Istio's proxyv2. It grants
# nothing by itself: the proxy containers drop every capability; only that init container adds
# NET_ADMIN. The only package installed here (a test holds it to that). `apt-get clean` and the
# .bin caches: the official image's apt config already skips them, a plain Debian base does not
# (106 MB measured in deploy/image-check.sh's stand-in).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
COPY --from=deps /usr/bin/tini-static /usr/bin/tini
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build/Release/pillion_native.node ./native/build/Release/pillion_native.node
COPY deploy/probe.mjs ./probe.mjs
RUN chmod 0755 dist/src/cli.js probe.mjs \
 && ln -s /app/dist/src/cli.js /usr/local/bin/pillion
ENV NODE_ENV=production
# The node image's unprivileged user, numeric so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# 15001 proxy listener, 15000 admin (bound to 127.0.0.1 unless --admin says otherwise), 9100 agent.
EXPOSE 15001 15000 9100
# Runs inside the container, so the default 127.0.0.1 admin answers. For `pillion agent` (no admin
# port) run the container with --no-healthcheck or override it (deploy/compose.yaml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "/app/probe.mjs", "ready", "http://127.0.0.1:15000/ready"]
# tini is PID 1: it forwards SIGTERM to pillion (which drains, then exits 0) and reaps zombies.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "pillion"]
CMD ["proxy"]
