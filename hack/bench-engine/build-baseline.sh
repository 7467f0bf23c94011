#!/usr/bin/env bash
# Builds the points engine of a git revision into a binary, for
# `make bench-engine BASELINE=<rev>`: the revision's tree is exported into a
# temporary directory outside the repository (git archive, so the working
# tree, the index and the branches stay untouched), built there and removed.
#
# usage: hack/bench-engine/build-baseline.sh <rev> <output binary>
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 <git revision> <output binary>" >&2
	exit 2
fi
rev=$1
out=$2
commit=$(git rev-parse --verify --quiet "$rev^{commit}") || {
	echo "BASELINE=$rev: not a commit of this repository" >&2
	exit 2
}
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

dir=$(mktemp -d -t bench-baseline-XXXXXX)
trap 'rm -rf "$dir"' EXIT
git archive --format=tar "$commit" | tar -x -C "$dir"
mkdir -p "$(dirname "$out")"
(cd "$dir" && CGO_ENABLED=0 go build -o "$out" ./cmd/points-engine)
echo "built $out from $rev ($commit)" >&2
