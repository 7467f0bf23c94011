#!/usr/bin/env bash
# Runs every fuzz target of the module (func FuzzXxx(f *testing.F) in a
# _test.go file) in turn for FUZZTIME each (default 30s), prints a line per
# target and fails if any target fails. Go fuzzes one target per run, hence
# the loop; a failing input is written to the package's
# testdata/fuzz/FuzzXxx/ and re-runs with plain `go test` from then on.
#
#   FUZZTIME=20s hack/fuzz.sh      (or: make fuzz FUZZTIME=20s)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-30s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

targets="$(git grep -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' -- '*_test.go' |
	sed -E 's/^([^:]+):func (Fuzz[A-Za-z0-9_]*).*/\1 \2/' | sort)"
if [[ -z "$targets" ]]; then
	echo "no fuzz targets found" >&2
	exit 1
fi

failed=0
while read -r file name; do
	pkg="./$(dirname "$file")"
	start=$SECONDS
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
		# The fuzzer's last progress line says how much it tried.
		stats="$(grep -E '^fuzz: elapsed' "$log" | tail -n 1 | sed -E 's/^fuzz: elapsed: [^,]*, //')"
		printf 'ok    %-14s %-18s %4ds  %s\n' "$name" "$pkg" $((SECONDS - start)) "$stats"
	else
		printf 'FAIL  %-14s %-18s %4ds\n' "$name" "$pkg" $((SECONDS - start))
		grep -vE '^fuzz: elapsed' "$log" | sed 's/^/      /'
		failed=$((failed + 1))
	fi
done <<<"$targets"

if ((failed > 0)); then
	echo "$failed fuzz target(s) failed; failing inputs are in the packages' testdata/fuzz/" >&2
	exit 1
fi
