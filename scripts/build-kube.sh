#!/usr/bin/env bash
# Build the Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) from Debian's `kubernetes` source package, once, and
# cache the binaries outside the repo under $HUMMER_CACHE/kubernetes/<version>/bin.
# Prints the bin directory on stdout. Idempotent: reuses a complete cache.
set -euo pipefail
CACHE=${HUMMER_CACHE:-$HOME/.cache/hummer}
BINS="kube-apiserver kube-controller-manager kube-scheduler kubectl"
log() { echo "build-kube: $*" >&2; }
script_start=$(date +%s)

have_all() { local d=$1; for b in $BINS; do [ -x "$d/$b" ] || return 1; done; }

# A complete cache of any version wins (newest first).
for d in $(ls -d "$CACHE"/kubernetes/*/bin 2>/dev/null | sort -rV); do
  if have_all "$d"; then echo "$d"; exit 0; fi
done

export DEBIAN_FRONTEND=noninteractive
if ! command -v go >/dev/null || ! command -v etcd >/dev/null || ! command -v rsync >/dev/null || ! command -v jq >/dev/null; then
  log "installing build dependencies (golang-go etcd-server rsync jq)"
  apt-get update -qq >&2
  apt-get install -y -qq golang-go etcd-server rsync jq >&2
fi

# A deb-src twin of the system's own Debian sources (same URIs, suites, components).
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    log "adding a deb-src twin of $src"
    sed 's/^Types: deb$/Types: deb-src/' "$src" > /etc/apt/sources.list.d/hummer-debian-src.sources
  elif [ -f /etc/apt/sources.list ]; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/hummer-debian-src.list
  fi
  apt-get update -qq >&2
fi

work="$CACHE/src"
mkdir -p "$work"
cd "$work"
if ! ls -d kubernetes-*/ >/dev/null 2>&1; then
  log "fetching the kubernetes source package"
  apt-get source --download-only kubernetes >&2
  dsc=$(ls kubernetes_*.dsc | head -1)
  command -v dpkg-source >/dev/null || apt-get install -y -qq dpkg-dev >&2
  dpkg-source --no-check -x "$dsc" >&2
fi
srcdir=$(ls -d "$work"/kubernetes-*/ | head -1)
srcdir=${srcdir%/}
version=$(basename "$srcdir" | sed 's/^kubernetes-//')
out="$CACHE/kubernetes/$version/bin"
cd "$srcdir"
export CGO_ENABLED=0 GOPATH="$srcdir/.go" HOME="${HOME:-/root}" GOFLAGS=-mod=vendor GO111MODULE=on
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s "$srcdir" .go/src/k8s.io/kubernetes
# A previous build without rsync leaves an empty generator behind.
if [ -d _output ] && find _output -type f -size 0 -name '*gen*' | grep -q .; then rm -rf _output; fi
log "building $BINS from $srcdir (about 8 minutes on 2 cores)"
start=$(date +%s)
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubectl" >&2
mkdir -p "$out"
for b in $BINS; do cp "_output/bin/$b" "$out/$b"; done
echo $(( $(date +%s) - start )) > "$out/../build-seconds"
# Everything this run took: build dependencies, source fetch and the build.
echo $(( $(date +%s) - script_start )) > "$out/../build-total-seconds"
log "built in $(cat "$out/../build-seconds") s ($(cat "$out/../build-total-seconds") s in all) into $out"
echo "$out"
