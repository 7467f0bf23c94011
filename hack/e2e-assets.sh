#!/usr/bin/env bash
# Builds the node binaries of the end-to-end cluster (kubelet,
# kube-controller-manager, kube-scheduler, kube-proxy) and CoreDNS from the Go
# module proxy, the way hack/envtest-assets.sh builds kube-apiserver, and
# prints the directory that holds them. They are cached beside the envtest
# assets, keyed by version, so fresh clones reuse them.
#
# It also builds Argo CD's multi-call binary (argocd-<version>) and gathers its
# CRDs (argocd-<version>-crds.yaml).
#
# The first build compiles for about 12 minutes on an idle 2-core machine
# (kubelet 6.4, kube-controller-manager 4.5, kube-scheduler 0.7, kube-proxy
# 0.75, CoreDNS about 1) plus Argo CD's, longer on a busy one. It runs at the lowest CPU
# priority; two first builds at once take turns on a lock in the cache.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.37.2}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
# Argo CD v3.2 is the newest line that builds from the Go module proxy with Go
# 1.26: v3.3 and later replace gitops-engine by a directory of their own
# repository, which is no published module, and v3.6 needs Go 1.27. v3.2.12
# does not compile (controller/cache calls a function util/settings lacks).
ARGOCD_VERSION="${ARGOCD_VERSION:-v3.2.11}"
staging_version="v0.${KUBERNETES_VERSION#v1.}"
cache_root="${LOYALTY_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loyalty-operator/e2e}"
assets="$cache_root/k8s-${KUBERNETES_VERSION}-coredns-${COREDNS_VERSION}"
kube_cmds=(kube-scheduler kube-proxy kube-controller-manager kubelet)

# shellcheck source=hack/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"
progress_prefix=e2e-assets
log() { progress "$@"; }

missing() {
  local cmd
  for cmd in "${kube_cmds[@]}" coredns "argocd-${ARGOCD_VERSION}"; do [[ -x "$assets/$cmd" ]] || echo "$cmd"; done
}

# link_argocd points argocd and argocd-crds.yaml at this version's files.
link_argocd() {
  ln -sfn "argocd-${ARGOCD_VERSION}" "$assets/argocd"
  ln -sfn "argocd-${ARGOCD_VERSION}-crds.yaml" "$assets/argocd-crds.yaml"
}

if [[ -z "$(missing)" ]]; then
  link_argocd
  echo "$assets"
  exit 0
fi

mkdir -p "$assets"
# One build at a time per cache: the lock is released when this script exits.
exec 9>"$cache_root/.lock"
if ! flock --nonblock 9; then
  log "another build of the node binaries is running; waiting for it (lock $cache_root/.lock)"
  flock 9
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ -n "$(missing)" ]]; then
  log "building $(missing | paste -sd, - | sed 's/,/, /g') from the Go module proxy into $assets: about 12 minutes on an idle 2-core machine the first time, longer on a busy one; later runs reuse them"
fi

# kube_module prepares a module that requires k8s.io/kubernetes with every
# staging module pointed at its published version, as hack/envtest-assets.sh does.
kube_module() {
  local mod="$work/kubernetes"
  [[ -f "$mod/go.mod" ]] && { cd "$mod"; return; }
  mkdir -p "$mod"
  cd "$mod"
  go mod init e2e.local/kubernetes >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@${KUBERNETES_VERSION}"
  local gomod staging
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  for staging in $(sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace="${staging}=${staging}@${staging_version}"
  done
  go mod edit -godebug=default=go1.26
  local pkgs=() cmd
  for cmd in "${kube_cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd@${KUBERNETES_VERSION}"); done
  GOFLAGS=-mod=mod go get "${pkgs[@]}"
}

build_kube_cmd() {
  kube_module
  CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 19 go build -trimpath -ldflags=-s -o "$assets/$1.tmp.$$" "k8s.io/kubernetes/cmd/$1"
  mv "$assets/$1.tmp.$$" "$assets/$1"
}

build_coredns() {
  local mod="$work/coredns"
  mkdir -p "$mod"
  cd "$mod"
  go mod init e2e.local/coredns >/dev/null 2>&1
  GOFLAGS=-mod=mod go get "github.com/coredns/coredns@${COREDNS_VERSION}"
  CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 19 go build -trimpath -ldflags=-s -o "$assets/coredns.tmp.$$" github.com/coredns/coredns
  mv "$assets/coredns.tmp.$$" "$assets/coredns"
}

# build_argocd builds Argo CD's one binary for every component, with the
# module replacements of its own go.mod, which a dependent module must repeat.
build_argocd() {
  local mod="$work/argocd" gomod dir replacement
  mkdir -p "$mod"
  cd "$mod"
  go mod init e2e.local/argocd >/dev/null 2>&1
  go mod edit -require="github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION}"
  gomod="$(go mod download -json "github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  for replacement in $(sed -n '/^replace (/,/^)/p; /^replace [^(]/p' "$gomod" | sed -n 's/^\(replace\)\{0,1\}\s*\([^ ]*\) => \([^ ]*\) \(v[^ ]*\)$/\2=\3@\4/p'); do
    go mod edit -replace="$replacement"
  done
  GOFLAGS=-mod=mod go get "github.com/argoproj/argo-cd/v3/cmd@${ARGOCD_VERSION}"
  CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 19 go build -trimpath -ldflags=-s -o "$assets/argocd.tmp.$$" github.com/argoproj/argo-cd/v3/cmd
  dir="$(go mod download -json "github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  cat "$dir/manifests/crds/application-crd.yaml" <(echo ---) "$dir/manifests/crds/appproject-crd.yaml" >"$assets/argocd-${ARGOCD_VERSION}-crds.yaml"
  mv "$assets/argocd.tmp.$$" "$assets/argocd-${ARGOCD_VERSION}"
}

for cmd in "${kube_cmds[@]}"; do
  if [[ ! -x "$assets/$cmd" ]]; then
    log "building $cmd ${KUBERNETES_VERSION}"
    with_progress "$cmd" build_kube_cmd "$cmd"
  fi
done
if [[ ! -x "$assets/coredns" ]]; then
  log "building CoreDNS ${COREDNS_VERSION}"
  with_progress coredns build_coredns
fi
if [[ ! -x "$assets/argocd-${ARGOCD_VERSION}" ]]; then
  log "building Argo CD ${ARGOCD_VERSION}"
  with_progress argocd build_argocd
fi
link_argocd
echo "$assets"
