#!/usr/bin/env bash
# Prints the operator's install manifests, config/default with the manager
# image set to IMG, without touching the tracked files: the image is set in a
# copy of config/ that is removed afterwards.
#
# Usage: hack/deploy-manifests.sh KUSTOMIZE IMG
set -euo pipefail
cd "$(dirname "$0")/.."
kustomize="$1" img="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R config "$work/"
(cd "$work/config/manager" && "$kustomize" edit set image "controller=$img")
"$kustomize" build "$work/config/default"
