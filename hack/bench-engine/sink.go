package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loyaltyops/loyalty-operator/hack/internal/benchinfo"
)

// A sink comparison (--sink slow|failing) measures one engine binary with
// and without a webhook sink in its snapshot, alternately in one run, the
// way --baseline measures two builds: A is the engine without events, B the
// same engine delivering every event to a loopback receiver the bench runs,
// which answers each request after 200 ms (slow) or at once with 500
// (failing). The outbox is written in the earn's own transaction and
// delivered from another goroutine, so B's earn rate should stay within
// 10% of A's.

// sinkDelay is how long the slow receiver takes to answer.
const sinkDelay = 200 * time.Millisecond

// sinkTarget is the project's bound: with a sink attached, at least 90% of
// the earn rate without one.
const sinkTarget = 0.9

// sinkReceiver is the webhook endpoint of a sink comparison.
type sinkReceiver struct {
	mode     string
	srv      *http.Server
	url      string
	requests atomic.Int64
}

// startSinkReceiver serves on a loopback port until close.
func startSinkReceiver(mode string) (*sinkReceiver, error) {
	if mode != "slow" && mode != "failing" {
		return nil, fmt.Errorf("--sink %q: want none, slow or failing", mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink receiver: %w", err)
	}
	r := &sinkReceiver{mode: mode, url: "http://" + ln.Addr().String() + "/events"}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }() // ends with close
	return r, nil
}

func (r *sinkReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.requests.Add(1)
	if r.mode == "failing" {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	time.Sleep(sinkDelay)
	w.WriteHeader(http.StatusNoContent)
}

func (r *sinkReceiver) close() { _ = r.srv.Close() }

// withSink adds an events section with one webhook sink to snapshot,
// writing its signing secret into dir.
func withSink(snapshot []byte, dir, url string) ([]byte, error) {
	secret := filepath.Join(dir, "sink-secret")
	if err := os.WriteFile(secret, []byte(randomKey()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("sink secret: %w", err)
	}
	var snap map[string]any
	if err := json.Unmarshal(snapshot, &snap); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	snap["events"] = map[string]any{"webhooks": []map[string]any{{
		"name": "bench-sink", "url": url, "secretFile": secret, "timeout": "5s",
	}}}
	return json.MarshalIndent(snap, "", "  ")
}

// printSinkRatios writes each earn scenario's rate with the sink ÷ without,
// against the target.
func printSinkRatios(w io.Writer, rows []compareRow, mode string) {
	fmt.Fprintf(w, "\nearn rate with the %s sink ÷ without (target ≥ %.2f):\n", mode, sinkTarget)
	for _, r := range rows {
		if !strings.HasSuffix(r.Scenario, "-earn") {
			continue
		}
		q := ratio(r.B.Rate, r.A.Rate)
		fmt.Fprintf(w, "  %s %s, %d campaigns: %s %s\n", r.Store, r.Scenario, r.Campaigns, ratioCell(q), benchinfo.MetOrMissed(q >= sinkTarget))
	}
}
