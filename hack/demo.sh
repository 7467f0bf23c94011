#!/usr/bin/env bash
# make demo: builds what the demo needs and runs it, with a line for every
# step and, while one compiles, a line every 15 seconds.
#
# The first run compiles about 1,400 CPU-seconds in all: the local control
# plane (etcd, kube-apiserver, kubectl; cached in ~/.cache/loyalty-operator)
# and then the operator, the points engine and the demo (cached by Go). That
# is 10-12 minutes on an idle 2-core machine and longer on a busy one. Later
# runs take about two minutes, most of it the demo's own timeline.
#
#   LOCALBIN  where the binaries go (default ./bin)
#   KEEP=1    keep the demo's working directory (API keys, admin kubeconfig,
#             ledger, logs) instead of removing it at the end
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/progress.sh
source hack/progress.sh
progress_prefix="make demo"
bin="${LOCALBIN:-$PWD/bin}"

progress "[1/5] local control plane: etcd, kube-apiserver and kubectl (built once, then cached)"
assets="$(hack/envtest-assets.sh --kubectl)"
progress "[2/5] building the operator"
with_progress manager env CGO_ENABLED=0 go build -o "$bin/manager" ./cmd/manager
progress "[3/5] building the points engine"
with_progress points-engine env CGO_ENABLED=0 go build -o "$bin/points-engine" ./cmd/points-engine
progress "[4/5] building the demo driver"
with_progress demo go build -o "$bin/demo" ./hack/demo
progress "[5/5] running the demo: about a minute and a half, paced by its campaign's window"
keep=()
if [[ -n "${KEEP:-}" && "${KEEP}" != 0 ]]; then keep=(--keep); fi
exec "$bin/demo" --assets="$assets" --bin="$bin" ${keep[@]+"${keep[@]}"}
