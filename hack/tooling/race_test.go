package tooling

import (
	"slices"
	"strings"
	"testing"
)

// TestTestWithoutCgo: without a C compiler Go turns cgo off, and -race
// would fail with "-race requires cgo"; make test then runs the tests
// without it and says so. With cgo, it runs them with -race.
func TestTestWithoutCgo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cgo      string
		wantRace bool
	}{{"0", false}, {"1", true}} {
		t.Run("CGO_ENABLED="+tc.cgo, func(t *testing.T) {
			s := newStub(t)
			assets := fakeAssets(t, "kube-apiserver", "etcd")
			_, stderr, err := run(t, s.env("STUB_CGO_ENABLED="+tc.cgo, "KUBEBUILDER_ASSETS="+assets), "make", "--no-print-directory", "test")
			if err != nil {
				t.Fatalf("%v; stderr:\n%s", err, stderr)
			}
			var goTest string
			for _, call := range s.calls(t) {
				if strings.HasPrefix(call, "call test ") {
					goTest = call
				}
			}
			if goTest == "" {
				t.Fatalf("make test did not run go test: %q", s.calls(t))
			}
			if race := slices.Contains(strings.Fields(goTest), "-race"); race != tc.wantRace {
				t.Errorf("go test ran as %q; want -race %v", goTest, tc.wantRace)
			}
			said := strings.Contains(stderr, "the tests run WITHOUT the race detector; install gcc")
			if said == tc.wantRace {
				t.Errorf("stderr says it runs without the race detector: %v, want %v:\n%s", said, !tc.wantRace, stderr)
			}
		})
	}
}
