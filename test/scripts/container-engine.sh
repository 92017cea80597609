#!/usr/bin/env bash
# (nftables: podman 5's netavark, Debian 13's, writes its port mappings with the nft command.)
# A container engine for the tests, on a machine with no Docker engine and no reachable registry:
# podman (which builds Dockerfiles unchanged and serves the docker client on its API socket) and the
# docker client. Root needed.
#
#   container-engine.sh setup DIR   installs what is missing (podman buildah runc debootstrap, the
#                                   docker client from docker.io), writes DIR/containers.conf with the
#                                   two settings this kind of machine needs (no global change), mounts
#                                   cgroup2 where nothing is mounted (a namespaced fresh root; said in
#                                   DIR/mounted-cgroup), makes the base image debian:12-slim once with
#                                   debootstrap (its tarball cached in /var/cache/toolbox), and prints
#                                   CONTAINERS_CONF=… for the caller's environment.
#   container-engine.sh teardown DIR  unmounts the cgroup2 it mounted.
# One clear line and a non-zero exit when any step fails.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh" # apt_install_missing
die() { echo "container-engine: error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (podman and apt-get)"
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: container-engine.sh setup|teardown DIR"
mkdir -p "$dir"
CACHE=/var/cache/toolbox
BASE_TAR=$CACHE/debian-12-minbase.tar

setup() {
  local want=(podman buildah runc debootstrap iptables nftables)
  # The docker client: Debian packages it with the engine (docker.io; trixie also as docker-cli).
  # Only the client is used: the engine is never started.
  if ! command -v docker > /dev/null; then
    if apt-cache show docker-cli > /dev/null 2>&1; then want+=(docker-cli); else want+=(docker.io); fi
  fi
  apt_install_missing --tag container-engine "${want[@]}" || exit 1
  command -v podman > /dev/null || die "podman is not installable here"
  command -v docker > /dev/null || die "no docker client after installing ${want[*]}"
  # crun cannot set RLIMIT_NOFILE here (root lacks CAP_SYS_RESOURCE) and does not do hybrid cgroups:
  # runc, and limits podman may set. No pids limit: a namespaced root may lack the pids controller.
  cat > "$dir/containers.conf" << 'EOF'
[containers]
default_ulimits = [ "nofile=20000:20000", "nproc=32768:32768" ]
pids_limit = 0
[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF=$dir/containers.conf
  if ! grep -q ' /sys/fs/cgroup ' /proc/self/mountinfo; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup || die "no cgroup file system and cannot mount cgroup2 on /sys/fs/cgroup"
    echo 1 > "$dir/mounted-cgroup"
  fi
  if ! podman image exists docker.io/library/debian:12-slim; then
    if [ ! -s "$BASE_TAR" ]; then
      local mirror root
      mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2> /dev/null | grep -v security | head -n 1)
      [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2> /dev/null)
      [ -n "$mirror" ] || die "no Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
      root=$(mktemp -d /var/tmp/debian-12-minbase.XXXXXX)
      timeout 900 debootstrap --variant=minbase bookworm "$root" "$mirror" > "$dir/debootstrap.log" 2>&1 \
        || { rm -rf "$root"; die "debootstrap bookworm from $mirror failed (log: $dir/debootstrap.log)"; }
      mkdir -p "$CACHE"
      tar -C "$root" --numeric-owner -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
      rm -rf "$root"
    fi
    podman import "$BASE_TAR" localhost/debian:12 > /dev/null || die "podman import of $BASE_TAR failed"
    podman tag localhost/debian:12 docker.io/library/debian:12 docker.io/library/debian:12-slim
  fi
  echo "CONTAINERS_CONF=$dir/containers.conf"
}

teardown() {
  if [ -e "$dir/mounted-cgroup" ]; then
    umount /sys/fs/cgroup 2> /dev/null || true
    rm -f "$dir/mounted-cgroup"
  fi
}

case "$cmd" in
  setup) setup ;;
  teardown) teardown ;;
  *) die "unknown command '$cmd' (setup or teardown)" ;;
esac
