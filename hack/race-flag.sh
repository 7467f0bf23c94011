#!/usr/bin/env bash
# Prints -race when Go's race detector can run here, for make test. It needs
# cgo, so a C compiler such as gcc; without one Go turns cgo off and
# "go test -race" fails with "-race requires cgo". Then this prints nothing
# and says on stderr that the tests run without the race detector.
set -euo pipefail
if [[ "$(go env CGO_ENABLED)" == 1 ]]; then
  echo -race
else
  echo "make test: cgo is off (no C compiler such as gcc found), so the tests run WITHOUT the race detector; install gcc to run them with it" >&2
fi
