#!/bin/sh
# Builds the real image with buildah where no Docker engine runs and the official node image cannot
# be pulled (only Debian's and npm's registries are reachable), then runs it. Root, Debian bookworm,
# about 2 minutes and 3 GB of disk; not part of `npm test` (deploy/runtime-layout.mjs is).
#
#   sudo sh deploy/image-check.sh [REF]      (REF: the commit to build, default HEAD)
#
# 1. A stand-in for node:20-bookworm-slim: debootstrap bookworm (minbase) with this machine's node,
#    npm, corepack and Node headers where the official image has them (/usr/local/...), a `node` user
#    1000:1000, and yarn's /opt directory; committed as localhost/pillion-check-base:20-bookworm-slim.
# 2. buildah bud --pull=never --build-arg NODE_IMAGE=<that> of `git archive REF` (the committed
#    .dockerignore context). Both images and the work directory are removed at the end (KEEP=1 keeps).
# 3. The image in a chroot, as its USER with its ENTRYPOINT: pillion --version; the proxy in front of
#    an origin, its HEALTHCHECK command, a request through, SIGTERM -> DRAINING -> exit 0, both native
#    addons loaded; the agent as 65534 with host /proc and /sys, as the DaemonSet runs it.
set -eu
ref=${1:-HEAD}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pillion-image-check.XXXXXX)
B="buildah --storage-driver vfs"
fail() { echo "FAIL $*"; exit 1; }
ok() { echo "ok   $*"; }

command -v buildah >/dev/null && command -v debootstrap >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah debootstrap crun >/dev/null; }

# 1. the stand-in base
node=$(command -v node)
prefix=$(dirname "$(dirname "$(readlink -f "$node")")")
[ "$(node -p process.versions.node | cut -d. -f1)" = 20 ] || fail "this machine's node is not Node 20"
debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || fail "debootstrap (see $work/debootstrap.log)"
R=$work/rootfs
mkdir -p "$R/usr/local/bin" "$R/usr/local/lib/node_modules" "$R/usr/local/include" "$R/opt/yarn-v1.22.22/bin"
cp "$(readlink -f "$node")" "$R/usr/local/bin/node"
cp -a "$prefix/lib/node_modules/npm" "$prefix/lib/node_modules/corepack" "$R/usr/local/lib/node_modules/" 2>/dev/null ||
  cp -a "$prefix/lib/node_modules/npm" "$R/usr/local/lib/node_modules/"
cp -a "$prefix/include/node" "$R/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
ln -sf /opt/yarn-v1.22.22/bin/yarn "$R/usr/local/bin/yarn"
chroot "$R" sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/bash -m node'
# a TLS-intercepting egress proxy's CA, if this machine needs one to reach the npm registry
extra=""
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  mkdir -p "$R$(dirname "$NODE_EXTRA_CA_CERTS")" && cp "$NODE_EXTRA_CA_CERTS" "$R$NODE_EXTRA_CA_CERTS"
  extra="--env NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS"
fi
ctr=$($B from scratch)
mnt=$($B mount "$ctr")
cp -a "$R/." "$mnt/"
$B umount "$ctr" >/dev/null
# shellcheck disable=SC2086
$B config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin $extra --cmd node "$ctr"
BASE=localhost/pillion-check-base:20-bookworm-slim
$B commit -q "$ctr" "$BASE" >/dev/null
$B rm "$ctr" >/dev/null
ok "stand-in base $BASE (debootstrap bookworm + node $(node -v))"

# 2. the build
mkdir "$work/ctx"
git -C "$repo" archive "$ref" | tar -x -C "$work/ctx"
start=$(date +%s)
(cd "$work/ctx" && $B bud --pull=never --build-arg NODE_IMAGE="$BASE" --isolation chroot --format docker --layers=false -t localhost/pillion:check . >"$work/build.log" 2>&1) ||
  fail "buildah bud (see $work/build.log)"
ok "buildah bud: $(($(date +%s) - start)) s, $($B images --format '{{.Size}}' localhost/pillion:check) (base $($B images --format '{{.Size}}' "$BASE"))"

# 3. run it
ctr=$($B from localhost/pillion:check)
mnt=$($B mount "$ctr")
cleanup() {
  for m in "$mnt/host/proc" "$mnt/host/sys" "$mnt/proc" "$mnt/dev"; do umount "$m" 2>/dev/null || true; done
  for p in ${origin:-} ${proxy:-} ${agent:-}; do kill "$p" 2>/dev/null || true; done
  $B rm "$ctr" >/dev/null 2>&1 || true
  if [ -z "${KEEP:-}" ]; then
    $B rmi localhost/pillion:check "$BASE" >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mount -t proc proc "$mnt/proc"
mount --bind /dev "$mnt/dev"
user=$($B inspect --type image --format '{{.Docker.Config.User}}' localhost/pillion:check)
E="env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_ENV=production TINI_SUBREAPER=1"
in_image() { u=$1; shift; chroot --userspec="$u" "$mnt" sh -c "cd /app && exec $E $*"; }
[ "$(in_image "$user" /usr/bin/tini -s -- pillion --version 2>/dev/null)" = "$(node -p "require('$repo/package.json').version")" ] || fail "pillion --version"
ok "pillion --version as $user through tini"

node -e "require('http').createServer((q,s)=>s.end('origin saw '+q.url)).listen(28380,'127.0.0.1')" &
origin=$!
# chroot execs sh, which execs env, which execs tini: $! is tini, PID 1's stand-in, that gets SIGTERM
chroot --userspec="$user" "$mnt" sh -c "cd /app && exec $E /usr/bin/tini -s -- pillion proxy --upstream http://127.0.0.1:28380 --listen 127.0.0.1:25381 --admin 127.0.0.1:25380 --drain-time 1s" >"$work/proxy.log" 2>&1 &
proxy=$!
sleep 2
hc=$($B inspect --type image --format '{{.Docker.Config.Healthcheck.Test}}' localhost/pillion:check)
in_image "$user" node /app/probe.mjs ready http://127.0.0.1:25380/ready || fail "HEALTHCHECK command ($hc) on a live proxy"
ok "HEALTHCHECK $hc answers 0"
[ "$(curl -s http://127.0.0.1:25381/x?y=1)" = "origin saw /x?y=1" ] || fail "request through the proxy"
ok "a request through the proxy"
grep -q "uWS native binary" "$work/proxy.log" || fail "uWS native binary: $(cat "$work/proxy.log")"
grep -q "native addon loaded" "$work/proxy.log" || fail "pillion native addon: $(cat "$work/proxy.log")"
ok "uWS native binary and pillion's native addon loaded"
kill -TERM "$proxy"
sleep 0.3
[ "$(curl -s http://127.0.0.1:25380/ready)" = DRAINING ] || fail "/ready DRAINING after SIGTERM"
wait "$proxy" && ok "SIGTERM: DRAINING, then exit 0" || fail "exit code after SIGTERM: $?"

mkdir -p "$mnt/host/proc" "$mnt/host/sys"
mount --bind /proc "$mnt/host/proc"
mount --bind /sys "$mnt/host/sys"
chroot --userspec=65534:65534 "$mnt" sh -c "cd /app && exec $E /usr/bin/tini -s -- pillion agent --path.procfs=/host/proc --path.sysfs=/host/sys --web.listen-address=127.0.0.1:29180" >"$work/agent.log" 2>&1 &
agent=$!
sleep 1.5
n=$(curl -s http://127.0.0.1:29180/metrics | grep -c '^node_' || true)
kill -TERM "$agent"
wait "$agent" || fail "agent exit code after SIGTERM"
[ "$n" -gt 50 ] || fail "agent metrics: $n node_ lines"
ok "agent as 65534 with host /proc and /sys: $n node_ samples"
echo "image check: all steps passed"
