package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEventsAfterReceiverOutage (LOYALTY_CHAOS=1, it takes minutes): the
// webhook receiver is down for two minutes while members keep earning;
// once it is up again the whole backlog arrives, each event once after
// de-duplication and every member's events in order.
func TestEventsAfterReceiverOutage(t *testing.T) {
	if os.Getenv("LOYALTY_CHAOS") != "1" {
		t.Skip("takes minutes: set LOYALTY_CHAOS=1 (make chaos-ingest runs it)")
	}
	const outage = 2 * time.Minute
	bin := buildEngine(t)
	rcv := &hookReceiver{secret: []byte("whsec-outage"), seen: map[string]bool{}, byMember: map[string][]int64{}}
	rcv.down.Store(true)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook-secret")
	if err := os.WriteFile(secret, []byte("whsec-outage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, bin, engineDirWithHook(t, srv.URL, secret))
	client := &http.Client{Timeout: 10 * time.Second}
	const members = 5
	written := 0
	for m := range members {
		id := fmt.Sprint("m", m)
		if st, body, _ := post(client, e.base, "/v1/members", map[string]any{"idempotencyKey": "enroll-" + id, "memberId": id}); st != 201 && st != 200 {
			t.Fatalf("enroll %s: %d %s", id, st, body)
		}
		written++
	}
	down := time.Now()
	for i := 0; time.Since(down) < outage; i++ {
		st, body, _ := post(client, e.base, "/v1/earn", map[string]any{"idempotencyKey": fmt.Sprint("earn-", i), "memberId": fmt.Sprint("m", i%members),
			"eventId": fmt.Sprint("order-", i), "amount": "3.00", "occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
		if st != 200 {
			t.Fatalf("earn: %d %s", st, body)
		}
		written++
		time.Sleep(100 * time.Millisecond)
	}
	if n := rcv.unique(); n != 0 {
		t.Fatalf("%d events delivered to a receiver that is down", n)
	}
	rcv.down.Store(false)
	up := time.Now()
	// The deliverer's backoff reaches about two minutes after two minutes of failures.
	waitUntil(t, 6*time.Minute, func() bool { return rcv.unique() == written })
	t.Logf("%d events committed during a %s outage arrived %s after the receiver came back (%d duplicates dropped)",
		written, outage, time.Since(up).Round(time.Second), rcv.dups)
	e.stop(t, 10*time.Second)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.bad != 0 {
		t.Fatalf("%d requests failed signature verification", rcv.bad)
	}
	for m, seqs := range rcv.byMember {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("member %s got sequences %v: out of order", m, seqs)
			}
		}
	}
}

// engineDirWithHook is engineDir with one webhook sink in the snapshot.
func engineDirWithHook(t *testing.T, url, secretFile string) string {
	t.Helper()
	return engineDir(t, strings.Replace(testSnapshot, `"points":`, fmt.Sprintf(`"events": {"webhooks": [{"name": "hook", "url": %q,
	  "secretFile": %q}]},
  "points":`, url, secretFile), 1))
}
