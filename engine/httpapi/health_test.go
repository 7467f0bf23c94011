package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// healthOf reports the write health a test sets, in front of a real store.
type healthOf struct {
	ledger.Ledger
	health atomic.Pointer[ledger.StoreHealth]
}

func (l *healthOf) Health() ledger.StoreHealth { return *l.health.Load() }

// The store's write health decides readiness: a store that refuses or
// fails writes makes /readyz a 503 naming the state and the reason, a
// degraded one that still writes keeps it ready. /v1/status and the
// loyalty_engine_store_state metric say which state, and why.
func TestStoreHealthInProbes(t *testing.T) {
	h := &healthOf{}
	e := newEnvWith(t, testSnapshot, func(l ledger.Ledger) ledger.Ledger {
		h.Ledger = l
		return h
	})
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		health ledger.StoreHealth
		ready  bool
	}{
		{ledger.StoreHealth{State: ledger.StoreOK, Writable: true, Since: since}, true},
		{ledger.StoreHealth{State: ledger.StoreDiskFull, Reason: "a write failed: database or disk is full", Since: since}, false},
		{ledger.StoreHealth{State: ledger.StoreWriteFailed, Reason: "writes fail: disk I/O error", Since: since}, false},
		{ledger.StoreHealth{State: ledger.StoreCheckpointStalled, Writable: true, Reason: "readers keep the write-ahead log", Since: since}, true},
	}
	for _, tt := range tests {
		t.Run(tt.health.State, func(t *testing.T) {
			h.health.Store(&tt.health)
			r := e.do(t, "GET", "/readyz", "", nil)
			if tt.ready {
				if r.status != http.StatusOK {
					t.Errorf("readyz: %d %s, want 200", r.status, r.body)
				}
			} else {
				p := r.problem(t)
				if r.status != http.StatusServiceUnavailable || p.Code != "unavailable" || r.header.Get("Retry-After") == "" ||
					!strings.Contains(p.Detail, tt.health.State) || !strings.Contains(p.Detail, tt.health.Reason) {
					t.Errorf("readyz: %d %s, want 503 naming %s and its reason", r.status, r.body, tt.health.State)
				}
			}
			var st StatusReport
			e.do(t, "GET", "/v1/status", "", nil).decode(t, &st)
			if !st.Store.Reachable || st.Store.StoreHealth != tt.health {
				t.Errorf("status store = %+v, want reachable and %+v", st.Store, tt.health)
			}
			metrics := string(e.do(t, "GET", "/metrics", "", nil).body)
			for _, state := range storeStates {
				want := 0
				if state == tt.health.State {
					want = 1
				}
				if line := fmt.Sprintf("loyalty_engine_store_state{state=%q} %d\n", state, want); !strings.Contains(metrics, line) {
					t.Errorf("metrics lack %q", line)
				}
			}
		})
	}
}

// abortedExport fails its export after the first chunk, as the store does
// when the export held its snapshot past the maximum read age.
type abortedExport struct{ ledger.Ledger }

func (l abortedExport) Export(ctx context.Context, w io.Writer, _ ledger.ExportOptions) (ledger.ExportSummary, error) {
	if _, err := w.Write([]byte(`{"type":"header"}` + "\n")); err != nil {
		return ledger.ExportSummary{}, err
	}
	return ledger.ExportSummary{}, fmt.Errorf("export member records: %w: aborted after 1m0s", ledger.ErrReadAborted)
}

// An export that fails once its stream has begun cuts the connection: the
// client sees a failed transfer, not a stream that merely ends early.
func TestFailedExportCutsTheStream(t *testing.T) {
	e := newEnvWith(t, testSnapshot, func(l ledger.Ledger) ledger.Ledger { return abortedExport{l} })
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/v1/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("export failing mid-stream: status %d, read %q, %v; want 200 and an unexpected EOF", resp.StatusCode, body, err)
	}
}

// A read aborted at the maximum read age is a 503 saying so.
func TestProblemForAbortedRead(t *testing.T) {
	p := problemFor(fmt.Errorf("read aggregates: %w: aborted after 1m0s", ledger.ErrReadAborted))
	if p.Status != http.StatusServiceUnavailable || p.Code != "read_aborted" || p.retryAfter <= 0 || !strings.Contains(p.Detail, "--max-read-age") || p.cause == nil {
		t.Fatalf("problem %+v", p)
	}
}
