package tooling

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestEnvtestAssetsTakeTurns starts two first builds of the control plane
// binaries into one empty cache at once: the second must wait for the first
// and find the binaries built, so each is built once and no build overlaps
// another, which could leave a binary half written.
func TestEnvtestAssetsTakeTurns(t *testing.T) {
	t.Parallel()
	s := newStub(t)
	cache := t.TempDir()
	env := s.env("LOYALTY_ENVTEST_CACHE="+cache, "STUB_BUILD_SECONDS=1", "PROGRESS_INTERVAL=1")
	type result struct {
		stdout, stderr string
		err            error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			stdout, stderr, err := run(t, env, "hack/envtest-assets.sh")
			results[i] = result{stdout, stderr, err}
		})
	}
	wg.Wait()
	want := filepath.Join(cache, "k8s-v1.37.2-etcd-v3.6.8")
	waited := 0
	for i, r := range results {
		if r.err != nil || strings.TrimSpace(r.stdout) != want {
			t.Fatalf("run %d: %v, printed %q, want %q; stderr:\n%s", i, r.err, r.stdout, want, r.stderr)
		}
		if strings.Contains(r.stderr, "waiting for it") {
			waited++
		}
	}
	if waited != 1 {
		t.Errorf("%d runs said they wait for the other; want 1:\n%s\n---\n%s", waited, results[0].stderr, results[1].stderr)
	}
	var builds []string
	for _, line := range s.calls(t) {
		if strings.HasPrefix(line, "start ") || strings.HasPrefix(line, "end ") {
			builds = append(builds, line)
		}
	}
	if wantBuilds := []string{"start etcd", "end etcd", "start kube-apiserver", "end kube-apiserver"}; !slices.Equal(builds, wantBuilds) {
		t.Errorf("builds %q; want each binary built once, one after the other: %q", builds, wantBuilds)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if info, err := os.Stat(filepath.Join(want, name)); err != nil || info.Mode()&0o111 == 0 {
			t.Errorf("%s is not an executable in the cache: %v", name, err)
		}
	}

	// Once cached, nothing is built again.
	if err := os.Remove(s.log); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, err := run(t, env, "hack/envtest-assets.sh"); err != nil || strings.TrimSpace(stdout) != want {
		t.Fatalf("cached run: %v, printed %q; stderr:\n%s", err, stdout, stderr)
	}
	if calls := s.calls(t); len(calls) != 0 {
		t.Errorf("a cached run called go: %q", calls)
	}
}

// TestEnvtestAssetsProgress: a first build says what it builds and what it
// costs, and prints a line while each build runs.
func TestEnvtestAssetsProgress(t *testing.T) {
	t.Parallel()
	s := newStub(t)
	env := s.env("LOYALTY_ENVTEST_CACHE="+t.TempDir(), "STUB_BUILD_SECONDS=2", "PROGRESS_INTERVAL=1")
	_, stderr, err := run(t, env, "hack/envtest-assets.sh", "--kubectl")
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr)
	}
	for _, want := range []string{
		"building etcd, kube-apiserver, kubectl from the Go module proxy",
		"about 1,400 CPU-seconds the first time, 10-12 minutes on an idle 2-core machine",
		"etcd: still building", "etcd: done in",
		"kube-apiserver: still building", "kube-apiserver: done in",
		"kubectl: still building", "kubectl: done in",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
