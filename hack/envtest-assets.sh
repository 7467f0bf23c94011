#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver and etcd) from the Go module
# proxy, because release downloads are not always reachable. Binaries are
# cached outside the repository, keyed by version, so fresh clones reuse them.
#
# Usage: hack/envtest-assets.sh            prints the assets directory (for KUBEBUILDER_ASSETS)
#        hack/envtest-assets.sh --kubectl  also builds kubectl into the same directory
#
# Honours KUBEBUILDER_ASSETS when it already points at a directory holding both binaries.
#
# The first build compiles about 1,400 CPU-seconds: 10-12 minutes on an idle
# 2-core machine, longer on a busy one. Two first builds at once (two
# terminals, or make test beside make demo) take turns on a lock in the
# cache directory; the second then finds the binaries built.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"
staging_version="v0.${KUBERNETES_VERSION#v1.}"
cache_root="${LOYALTY_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loyalty-operator/envtest}"
assets="$cache_root/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"

want_kubectl=false
[[ "${1:-}" == "--kubectl" ]] && want_kubectl=true

# shellcheck source=hack/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"
progress_prefix=envtest-assets
log() { progress "$@"; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]] \
    && { ! $want_kubectl || [[ -x "$KUBEBUILDER_ASSETS/kubectl" ]]; }; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

# missing lists the binaries still to build.
missing() {
  local cmd
  for cmd in etcd kube-apiserver; do [[ -x "$assets/$cmd" ]] || echo "$cmd"; done
  if $want_kubectl && [[ ! -x "$assets/kubectl" ]]; then echo kubectl; fi
}

if [[ -z "$(missing)" ]]; then
  echo "$assets"
  exit 0
fi

mkdir -p "$assets"
# One build at a time per cache: the lock is released when this script exits.
lock="$cache_root/.lock"
if command -v flock >/dev/null; then
  exec 9>"$lock"
  if ! flock --nonblock 9; then
    log "another build of the control plane binaries is running; waiting for it (lock $lock)"
    flock 9
  fi
else
  log "flock (util-linux) not found: not locking $cache_root; do not run two first builds at once"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ -n "$(missing)" ]]; then
  log "building $(missing | paste -sd, - | sed 's/,/, /g') from the Go module proxy into $assets: about 1,400 CPU-seconds the first time, 10-12 minutes on an idle 2-core machine and longer on a busy one; later runs reuse them"
fi

build_kubernetes_cmds() {
  local mod="$work/kubernetes"
  mkdir -p "$mod"
  cd "$mod"
  go mod init envtest.local/kubernetes >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@${KUBERNETES_VERSION}"
  # Every staging module is a local path replace in kubernetes' own go.mod;
  # outside that tree each must point at its published version instead.
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local staging
  for staging in $(sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace="${staging}=${staging}@${staging_version}"
  done
  go mod edit -godebug=default=go1.26
  local pkgs=()
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd@${KUBERNETES_VERSION}"); done
  GOFLAGS=-mod=mod go get "${pkgs[@]}"
  for cmd in "$@"; do
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags=-s -o "$assets/$cmd.tmp.$$" "k8s.io/kubernetes/cmd/$cmd"
    mv "$assets/$cmd.tmp.$$" "$assets/$cmd"
  done
}

build_etcd() {
  local mod="$work/etcd"
  mkdir -p "$mod"
  cd "$mod"
  go mod init envtest.local/etcd >/dev/null 2>&1
  cat >main.go <<'GO'
// Command etcd is the etcd server, built from its published module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  GOFLAGS=-mod=mod go mod tidy
  CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$assets/etcd.tmp.$$" .
  mv "$assets/etcd.tmp.$$" "$assets/etcd"
}

if [[ ! -x "$assets/etcd" ]]; then
  log "building etcd ${ETCD_VERSION}"
  with_progress etcd build_etcd
fi
if [[ ! -x "$assets/kube-apiserver" ]]; then
  log "building kube-apiserver ${KUBERNETES_VERSION} (the longest step)"
  with_progress kube-apiserver build_kubernetes_cmds kube-apiserver
fi
if $want_kubectl && [[ ! -x "$assets/kubectl" ]]; then
  log "building kubectl ${KUBERNETES_VERSION}"
  with_progress kubectl build_kubernetes_cmds kubectl
fi
echo "$assets"
