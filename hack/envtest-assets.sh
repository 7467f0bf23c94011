#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver and etcd) from the Go module
# proxy, because release downloads are not always reachable. Binaries are
# cached outside the repository, keyed by version, so fresh clones reuse them.
#
# Usage: hack/envtest-assets.sh            prints the assets directory (for KUBEBUILDER_ASSETS)
#        hack/envtest-assets.sh --kubectl  also builds kubectl into the same directory
#
# Honours KUBEBUILDER_ASSETS when it already points at a directory holding both binaries.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"
staging_version="v0.${KUBERNETES_VERSION#v1.}"
cache_root="${LOYALTY_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loyalty-operator/envtest}"
assets="$cache_root/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"

want_kubectl=false
[[ "${1:-}" == "--kubectl" ]] && want_kubectl=true

log() { echo "envtest-assets: $*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]] \
    && { ! $want_kubectl || [[ -x "$KUBEBUILDER_ASSETS/kubectl" ]]; }; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

mkdir -p "$assets"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# progress prints a dot every 15 seconds while a long build runs, so a first
# build (about ten minutes on two cores) is visibly alive.
with_progress() {
  local label="$1"; shift
  local started=$SECONDS
  ( while sleep 15; do log "$label: still building ($((SECONDS - started))s)"; done ) &
  local ticker=$!
  if ! "$@" >"$work/$label.log" 2>&1; then
    kill "$ticker" 2>/dev/null || true
    log "$label failed; last lines of its log:"
    tail -n 40 "$work/$label.log" >&2
    exit 1
  fi
  kill "$ticker" 2>/dev/null || true
  log "$label built in $((SECONDS - started))s"
}

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
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags=-s -o "$assets/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$assets/$cmd.tmp" "$assets/$cmd"
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
  CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$assets/etcd.tmp" .
  mv "$assets/etcd.tmp" "$assets/etcd"
}

if [[ ! -x "$assets/etcd" ]]; then
  log "building etcd ${ETCD_VERSION} (about a minute the first time)"
  with_progress etcd build_etcd
fi
if [[ ! -x "$assets/kube-apiserver" ]]; then
  log "building kube-apiserver ${KUBERNETES_VERSION} (about ten minutes the first time on two cores)"
  with_progress kube-apiserver build_kubernetes_cmds kube-apiserver
fi
if $want_kubectl && [[ ! -x "$assets/kubectl" ]]; then
  log "building kubectl ${KUBERNETES_VERSION}"
  with_progress kubectl build_kubernetes_cmds kubectl
fi
echo "$assets"
