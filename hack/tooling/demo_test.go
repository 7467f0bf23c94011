package tooling

import (
	"strings"
	"testing"
)

// TestDemoSteps: make demo prints a numbered line for every step, a line
// while each build runs, and passes KEEP on to the demo as --keep.
func TestDemoSteps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		keep     string
		wantKeep bool
		// slow builds take two seconds, so each prints a progress line.
		slow bool
	}{{"", false, true}, {"0", false, false}, {"1", true, false}} {
		t.Run("KEEP="+tc.keep, func(t *testing.T) {
			t.Parallel()
			s := newStub(t)
			assets := fakeAssets(t, "kube-apiserver", "etcd", "kubectl")
			bin := t.TempDir()
			args := []string{"--no-print-directory", "demo", "LOCALBIN=" + bin}
			if tc.keep != "" {
				args = append(args, "KEEP="+tc.keep)
			}
			seconds := "0"
			if tc.slow {
				seconds = "2"
			}
			stdout, stderr, err := run(t, s.env("KUBEBUILDER_ASSETS="+assets, "STUB_BUILD_SECONDS="+seconds, "PROGRESS_INTERVAL=1"), "make", args...)
			if err != nil {
				t.Fatalf("%v; stderr:\n%s", err, stderr)
			}
			wants := []string{
				"make demo: [1/5] local control plane",
				"make demo: [2/5] building the operator", "make demo: manager: done in",
				"make demo: [3/5] building the points engine", "make demo: points-engine: done in",
				"make demo: [4/5] building the demo driver", "make demo: demo: done in",
				"make demo: [5/5] running the demo",
			}
			if tc.slow {
				wants = append(wants, "make demo: manager: still building", "make demo: points-engine: still building", "make demo: demo: still building")
			}
			for _, want := range wants {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			wantRun := "demo ran with: --assets=" + assets + " --bin=" + bin
			if tc.wantKeep {
				wantRun += " --keep"
			}
			if strings.TrimSpace(stdout) != wantRun {
				t.Errorf("stdout %q; want %q", stdout, wantRun)
			}
		})
	}
}
