# Progress lines for long build steps, sourced by hack/envtest-assets.sh and
# hack/demo.sh. The caller sets progress_prefix, which starts every line.
# Lines go to stderr, so a script's stdout stays its answer.
#
# PROGRESS_INTERVAL is the seconds between "still building" lines (default 15).

progress() { echo "${progress_prefix:-build}: $*" >&2; }

# with_progress LABEL COMMAND...: runs COMMAND with its output in a log,
# printing a line every PROGRESS_INTERVAL seconds while it runs and how long
# it took at the end. On failure it prints the end of the log and returns
# the command's status. COMMAND may be a shell function.
with_progress() {
  local label="$1"; shift
  local started=$SECONDS log status=0
  log="$(mktemp)"
  # The ticker stops when told to, and on its own once this script is gone,
  # so an interrupted build leaves no line printer behind.
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    while kill -0 "$$" 2>/dev/null; do
      sleep "${PROGRESS_INTERVAL:-15}" & sleeper=$!
      wait "$sleeper"
      progress "$label: still building ($((SECONDS - started))s)"
    done
  ) &
  local ticker=$!
  # In a subshell with errexit on, so a failing step inside a function stops
  # it; bash would ignore errexit inside "cmd || ...".
  local errexit=false
  [[ $- == *e* ]] && errexit=true
  set +e
  (set -e; "$@") >"$log" 2>&1
  status=$?
  if $errexit; then set -e; fi
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if ((status != 0)); then
    progress "$label failed after $((SECONDS - started))s; last lines of its output:"
    tail -n 40 "$log" >&2
    rm -f "$log"
    return "$status"
  fi
  rm -f "$log"
  progress "$label: done in $((SECONDS - started))s"
}
