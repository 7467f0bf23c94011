package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/events"
)

// hookReceiver verifies each webhook's signature and keeps each event id
// once, with the sequences each member got, in arrival order.
type hookReceiver struct {
	secret []byte
	down   atomic.Bool
	slow   atomic.Bool

	mu       sync.Mutex
	seen     map[string]bool
	byMember map[string][]int64
	dups     int
	bad      int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || h.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if h.slow.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	if err := events.Verify(h.secret, r.Header, body, time.Now(), events.DefaultTolerance); err != nil {
		h.mu.Lock()
		h.bad++
		h.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID       string `json:"id"`
		Subject  string `json:"subject"`
		Sequence string `json:"sequence"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	seq, _ := strconv.ParseInt(ev.Sequence, 10, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[ev.ID] {
		h.dups++
		return
	}
	h.seen[ev.ID] = true
	h.byMember[ev.Subject] = append(h.byMember[ev.Subject], seq)
}

func (h *hookReceiver) unique() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

// TestEventsSurviveKill: events committed while the receiver is down, then
// the engine killed with SIGKILL before delivering them, arrive after the
// restart; a second SIGKILL in the middle of delivery may send some twice,
// and the receiver keeps each id once. Every member's events arrive in
// order.
func TestEventsSurviveKill(t *testing.T) {
	bin := buildEngine(t)
	rcv := &hookReceiver{secret: []byte("whsec-test"), seen: map[string]bool{}, byMember: map[string][]int64{}}
	rcv.down.Store(true)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	snapshot := strings.Replace(testSnapshot, `"points":`, fmt.Sprintf(`"events": {"webhooks": [{"name": "hook", "url": %q,
	  "secretFile": "SECRET"}]},
  "points":`, srv.URL), 1)
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook-secret")
	if err := os.WriteFile(secret, []byte("whsec-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir2 := engineDir(t, strings.Replace(snapshot, "SECRET", secret, 1))

	e := startEngine(t, bin, dir2)
	client := &http.Client{Timeout: 10 * time.Second}
	const members = 4
	written := 0
	send := func(n int, tag string) {
		for i := range n {
			m := fmt.Sprint("m", i%members)
			if i < members && tag == "a" {
				if st, body, _ := post(client, e.base, "/v1/members", map[string]any{"idempotencyKey": "enroll-" + m, "memberId": m}); st != 201 && st != 200 {
					t.Fatalf("enroll %s: %d %s", m, st, body)
				}
				written++
			}
			st, body, _ := post(client, e.base, "/v1/earn", map[string]any{"idempotencyKey": fmt.Sprint(tag, i), "memberId": m,
				"eventId": fmt.Sprint("order-", tag, i), "amount": "3.00", "occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
			if st != 200 {
				t.Fatalf("earn: %d %s", st, body)
			}
			written++
		}
	}
	send(40, "a")
	// Committed and answered, not delivered: the receiver is down.
	time.Sleep(300 * time.Millisecond)
	if n := rcv.unique(); n != 0 {
		t.Fatalf("%d events delivered to a receiver that is down", n)
	}
	kill(t, e)

	rcv.down.Store(false)
	rcv.slow.Store(true)
	e = startEngine(t, bin, dir2)
	send(40, "b")
	// Killed again while it delivers the backlog.
	waitUntil(t, 30*time.Second, func() bool { return rcv.unique() > 10 })
	kill(t, e)
	if n := rcv.unique(); n >= written {
		t.Logf("all %d delivered before the second kill", n)
	}

	rcv.slow.Store(false)
	e = startEngine(t, bin, dir2)
	waitUntil(t, 30*time.Second, func() bool { return rcv.unique() == written })
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
	t.Logf("%d events, each once after de-duplication (%d duplicates dropped)", written, rcv.dups)
	checkSQLite(t, dir2, "after the kills")
}

func kill(t *testing.T, e *engine) {
	t.Helper()
	if err := e.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-e.exited
	t.Logf("engine killed: %v", err)
}
