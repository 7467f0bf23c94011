#!/usr/bin/env bash
# make e2e: builds what the end-to-end suite needs, brings up a single-node
# cluster on this machine (hack/e2e/cluster.sh), runs the Ginkgo suite in
# test/e2e against it, and tears the cluster down on success, failure and
# Ctrl-C. Needs root and Linux. E2E_KEEP=1 leaves the cluster up after the
# suite (tear it down with hack/e2e/cluster.sh down); GINKGO_ARGS adds
# arguments to the suite, such as --ginkgo.focus=Scenario1.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=hack/progress.sh
source hack/progress.sh
progress_prefix=e2e

[[ $EUID -eq 0 ]] || { progress "make e2e needs root: it runs containerd, a kubelet and kube-proxy"; exit 1; }
[[ "$(uname -s)" == Linux ]] || { progress "make e2e needs Linux"; exit 1; }

LOCALBIN="${LOCALBIN:-$PWD/bin}"
out="$LOCALBIN/e2e"
IMG=loyaltyops.local/loyalty-operator:e2e
NEXT_IMG=loyaltyops.local/loyalty-operator:e2e-next
PAUSE_IMG=loyaltyops.local/pause:e2e

progress "control plane binaries (etcd, kube-apiserver, kubectl)"
k8s="$(hack/envtest-assets.sh --kubectl)"
progress "node binaries (kubelet, kube-controller-manager, kube-scheduler, kube-proxy, CoreDNS) and Argo CD"
node="$(hack/e2e-assets.sh)"

# build_images builds the manager, the engine and the pause process as static
# binaries and writes the images: the operator's (same binaries, user and
# entrypoint as the Dockerfile's), a second tag of it for the upgrade scenario,
# and the sandbox image.
build_images() {
  mkdir -p "$out"
  local tag
  for tag in "$IMG" "$NEXT_IMG"; do
    CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags="-s -w -X main.defaultEngineImage=$tag" -o "$out/${tag##*:}/manager" ./cmd/manager
    CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags="-s -w" -o "$out/${tag##*:}/points-engine" ./cmd/points-engine
  done
  CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags="-s -w" -o "$out/pause" ./hack/e2e/pause
  nice -n 19 go build -o "$out/image" ./hack/e2e/image
  for tag in "$IMG" "$NEXT_IMG"; do
    "$out/image" --tag "$tag" --out "$out/${tag##*:}.tar" --entrypoint /manager --user 65532:65532 \
      "/manager=$out/${tag##*:}/manager" "/points-engine=$out/${tag##*:}/points-engine"
  done
  "$out/image" --tag "$PAUSE_IMG" --out "$out/pause.tar" --entrypoint /pause --user 65532:65532 "/pause=$out/pause"
}
progress "building the operator, engine and pause images"
with_progress images build_images

progress "building the end-to-end suite"
with_progress suite nice -n 19 go test -c -tags e2e -o "$out/e2e.test" ./test/e2e

# Argo CD's repo server runs kustomize from its PATH.
mkdir -p "$out/kustomize"
ln -sfn "${KUSTOMIZE:?KUSTOMIZE (the Makefile sets it) must be set}" "$out/kustomize/kustomize"

export KUBECTL="$k8s/kubectl"
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "${E2E_KEEP:-}" ]]; then
    progress "E2E_KEEP set: the cluster stays up; KUBECONFIG=${E2E_STATE:-/var/lib/loyalty-e2e}/admin.kubeconfig; remove it with hack/e2e/cluster.sh down"
  else
    hack/e2e/cluster.sh down || status=1
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

progress "bringing up the cluster"
kubeconfig="$(KUBEBUILDER_ASSETS="$k8s" E2E_ASSETS="$node" hack/e2e/cluster.sh up "$out/pause.tar" "$out/e2e.tar" "$out/e2e-next.tar")"

progress "running the scenarios"
# The suite runs from the repository root, where make deploy and the samples are.
KUBECONFIG="$kubeconfig" E2E_DNS_SERVER=10.213.0.1:53 E2E_IMG="$IMG" E2E_NEXT_IMG="$NEXT_IMG" PATH="$k8s:$PATH" \
  E2E_ARGOCD="$node/argocd" E2E_ARGOCD_CRDS="$node/argocd-crds.yaml" E2E_KUSTOMIZE_DIR="$out/kustomize" \
  "$out/e2e.test" -test.v -test.timeout 40m --ginkgo.v ${GINKGO_ARGS:-}
