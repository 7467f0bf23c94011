package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/httpapi"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// TestPendingReleaseAndReload runs the binary with a one-second pending
// period: the due-processing job must make earned points available without
// any request, and a changed snapshot file must take effect without a restart
// while an invalid one is refused.
func TestPendingReleaseAndReload(t *testing.T) {
	pending := strings.Replace(testSnapshot, `"pendingPeriod": "0s"`, `"pendingPeriod": "1s"`, 1)
	dir := engineDir(t, pending)
	e := startEngine(t, buildEngine(t), dir)
	client := &http.Client{Timeout: 5 * time.Second}

	if st, body, _ := post(client, e.base, "/v1/members", map[string]any{"idempotencyKey": "enroll", "memberId": "ana"}); st != 201 {
		t.Fatalf("enroll: %d %s", st, body)
	}
	st, body, _ := post(client, e.base, "/v1/earn", map[string]any{"idempotencyKey": "earn", "memberId": "ana", "eventId": "o1",
		"amount": "10", "occurredAt": time.Now().UTC().Format(time.RFC3339)})
	var res ledger.EarnResult
	if err := json.Unmarshal(body, &res); st != 200 || err != nil || !res.Pending || res.Balance.Pending != 20 {
		t.Fatalf("earn: %d %s", st, body)
	}
	member := func() ledger.MemberView {
		req, _ := http.NewRequest("GET", e.base+"/v1/members/ana", nil)
		req.Header.Set("Authorization", "Bearer "+testReadKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v ledger.MemberView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	waitUntil(t, 5*time.Second, func() bool { v := member(); return v.Available == 20 && v.Pending == 0 })

	status := func() httpapi.StatusReport {
		resp, err := client.Get(e.base + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s httpapi.StatusReport
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := status().Config.Hash
	path := filepath.Join(dir, "snapshot.json")
	replace := func(content string) {
		if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	replace(strings.Replace(pending, `"earnRate": "2"`, `"earnRate": "3"`, 1))
	waitUntil(t, 5*time.Second, func() bool { return status().Config.Hash != first })
	st, body, _ = post(client, e.base, "/v1/earn", map[string]any{"idempotencyKey": "earn2", "memberId": "ana", "eventId": "o2",
		"amount": "10", "occurredAt": time.Now().UTC().Format(time.RFC3339)})
	if err := json.Unmarshal(body, &res); st != 200 || err != nil || res.Points != 30 {
		t.Fatalf("earn after reload: %d %s", st, body)
	}

	second := status().Config.Hash
	replace(`{"version": "loyaltyops.io/snapshot/v1"}`)
	waitUntil(t, 5*time.Second, func() bool { return status().Config.LastError != "" })
	if s := status(); s.Config.Hash != second || !s.ConfigLoaded || !strings.Contains(s.Config.LastError, "program.name: required") {
		t.Errorf("after an invalid file: %+v", s)
	}
	resp, err := client.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Released points depend on whether the second earn's pending second has passed.
	for name, min := range map[string]float64{
		"loyalty_engine_points_issued_total":          50,
		"loyalty_engine_points_released_total":        20,
		"loyalty_engine_store_commits_total":          1,
		"loyalty_engine_store_committed_writes_total": 3,
	} {
		if v := metricValue(string(metrics), name); v < min {
			t.Errorf("%s = %v, want at least %v", name, v, min)
		}
	}
	resp, err = client.Get(e.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readyz with the last good configuration: %d", resp.StatusCode)
	}
}

// metricValue reads an unlabelled sample from the Prometheus text format; -1 when absent.
func metricValue(text, name string) float64 {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
