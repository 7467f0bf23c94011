package tooling

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository, where make and the scripts run.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// stubGo stands in for the go command: it records every call in
// $STUB_GO_LOG, answers the queries the scripts make, and "builds" by
// writing a small executable that prints its name and arguments, after
// $STUB_BUILD_SECONDS.
const stubGo = `#!/usr/bin/env bash
set -euo pipefail
echo "call $*" >>"$STUB_GO_LOG"
case "${1:-} ${2:-}" in
"env CGO_ENABLED") echo "${STUB_CGO_ENABLED:-1}"; exit 0 ;;
"mod download") echo '{"GoMod": "/dev/null"}'; exit 0 ;;
esac
[[ "${1:-}" == build ]] || exit 0
out=""
while (($#)); do
  if [[ "$1" == -o ]]; then out="$2"; shift; fi
  shift
done
name="$(basename "$out")"
name="${name%%.tmp.*}"
echo "start $name" >>"$STUB_GO_LOG"
sleep "${STUB_BUILD_SECONDS:-0}"
printf '#!/bin/sh\necho "%s ran with: $*"\n' "$name" >"$out"
chmod +x "$out"
echo "end $name" >>"$STUB_GO_LOG"
`

// stub is a directory with the stand-in go and the log of its calls.
type stub struct {
	bin, log string
}

func newStub(t *testing.T) stub {
	t.Helper()
	dir := t.TempDir()
	s := stub{bin: filepath.Join(dir, "bin"), log: filepath.Join(dir, "go.log")}
	if err := os.Mkdir(s.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.bin, "go"), []byte(stubGo), 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// calls returns the lines the stand-in go logged.
func (s stub) calls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(s.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// env is this process's environment with the stand-in go first on PATH,
// without the variables an outer make or test run would leak in, and with
// extra set.
func (s stub) env(extra ...string) []string {
	drop := map[string]bool{"MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true, "KUBEBUILDER_ASSETS": true, "PATH": true, "KEEP": true, "LOCALBIN": true}
	for _, kv := range extra {
		key, _, _ := strings.Cut(kv, "=")
		drop[key] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if key, _, _ := strings.Cut(kv, "="); !drop[key] {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+s.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "STUB_GO_LOG="+s.log)
	return append(env, extra...)
}

// fakeAssets is a directory holding stand-ins for the control plane binaries.
func fakeAssets(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs a command in the repository and returns its stdout and stderr.
func run(t *testing.T, env []string, name string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
