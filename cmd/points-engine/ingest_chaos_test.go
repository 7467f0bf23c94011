package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// ingestCount is how many purchases TestIngestSurvivesKills publishes with
// LOYALTY_CHAOS=1 (make chaos-ingest); without it, 2,000.
var ingestCount = flag.Int("ingest-count", 100_000, "purchases TestIngestSurvivesKills publishes when LOYALTY_CHAOS=1")

// natsURL is the JetStream server of the tests (TEST_NATS_URL): CI must
// run them, elsewhere they are skipped without one.
func natsURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TEST_NATS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_NATS_URL is not set; CI must run the NATS tests")
		}
		t.Skip("TEST_NATS_URL is not set")
	}
	return u
}

// TestIngestSurvivesKills publishes purchases for a few members to a fresh
// stream, lets the engine consume them and kills it with SIGKILL twice
// midway (a third and two thirds of the way through), then restarts it
// until the consumer has caught up. Every purchase must be applied exactly
// once: each member's balance is the sum of its purchases, the ledger
// holds one event and one earn entry per message, nothing was parked and
// the store's invariants hold.
func TestIngestSurvivesKills(t *testing.T) {
	n := 2_000
	if os.Getenv("LOYALTY_CHAOS") == "1" {
		n = *ingestCount
	}
	url := natsURL(t)
	bin := buildEngine(t)
	js, stream, park := ingestStreams(t, url)

	snapshot := strings.Replace(testSnapshot, `"points":`, fmt.Sprintf(`"events": {"ingest": [{"name": "chaos", "url": %q,
	  "stream": %q, "parkSubject": %q}]},
  "points":`, url, stream, park+".parked"), 1)
	dir := engineDir(t, snapshot)
	e := startEngine(t, bin, dir)
	const members = 7
	client := &http.Client{Timeout: 10 * time.Second}
	for m := range members {
		id := fmt.Sprint("m", m)
		if st, body, _ := post(client, e.base, "/v1/members", map[string]any{"idempotencyKey": "enroll-" + id, "memberId": id}); st != 201 && st != 200 {
			t.Fatalf("enroll %s: %d %s", id, st, body)
		}
	}
	start := time.Now()
	want := publishPurchases(t, js, stream, n, members)
	t.Logf("published %d purchases in %s", n, time.Since(start).Round(time.Millisecond))

	// The budget is generous: the machine the tests run on may be loaded.
	budget := 2*time.Minute + time.Duration(n)*20*time.Millisecond
	for _, at := range []uint64{uint64(n) / 3, uint64(n) * 2 / 3} {
		waitAcked(t, js, stream, at, budget)
		kill(t, e)
		e = startEngine(t, bin, dir)
	}
	waitAcked(t, js, stream, uint64(n), budget)
	t.Logf("%d purchases applied in %s with two kills", n, time.Since(start).Round(time.Millisecond))

	for m, points := range want {
		if v := memberView(t, client, e.base, m); v.LifetimeEarned != points || v.Available != points {
			t.Errorf("%s: balance %+v, want lifetime and available %d", m, v.Balance, points)
		}
	}
	e.stop(t, 15*time.Second)
	if info, err := js.Stream(context.Background(), park); err != nil {
		t.Fatal(err)
	} else if parked := info.CachedInfo().State.Msgs; parked != 0 {
		t.Errorf("%d purchases parked", parked)
	}
	countApplied(t, dir, n)
	checkSQLite(t, dir, "after ingestion with two kills")
}

// ingestStreams creates a fresh purchase stream and a park stream, removed
// when the test ends.
func ingestStreams(t *testing.T, url string) (js jetstream.JetStream, stream, park string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(time.Now().UnixNano())
	stream, park = "CHAOS_PURCHASES_"+id, "CHAOS_PARKED_"+id
	ctx := context.Background()
	for name, subject := range map[string]string{stream: stream + ".>", park: park + ".>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Duplicates: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	}
	return js, stream, park
}

// publishPurchases publishes n purchases, each with its own Nats-Msg-Id,
// spread over the members, and returns the points each member must earn
// (2 per euro).
func publishPurchases(t *testing.T, js jetstream.JetStream, stream string, n, members int) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for i := range n {
		m := fmt.Sprint("m", i%members)
		euros := int64(i%9 + 1)
		want[m] += 2 * euros
		data, _ := json.Marshal(map[string]any{"memberId": m, "eventId": fmt.Sprint("order-", i), "amount": fmt.Sprint(euros, ".00"), "occurredAt": at})
		msg := nats.NewMsg(stream + ".purchase")
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprint("purchase-", i))
		if _, err := js.PublishMsgAsync(msg); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			waitPublished(t, js)
		}
	}
	waitPublished(t, js)
	info, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != uint64(n) {
		t.Fatalf("stream holds %d messages, want %d", got, n)
	}
	return want
}

func waitPublished(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("publishing did not complete within a minute")
	}
}

// waitAcked waits until the engine's durable consumer has acknowledged
// every message up to stream sequence seq.
func waitAcked(t *testing.T, js jetstream.JetStream, stream string, seq uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var floor uint64
	for time.Now().Before(deadline) {
		cons, err := js.Consumer(context.Background(), stream, "chaos")
		if err == nil {
			info, err := cons.Info(context.Background())
			if err == nil {
				if floor = info.AckFloor.Stream; floor >= seq {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("consumer acknowledged up to %d within %s, want %d", floor, within, seq)
}

func memberView(t *testing.T, client *http.Client, base, id string) ledger.MemberView {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/members/"+id, nil)
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

// countApplied checks that the ledger the engine left in dir holds n
// purchase events and n earn entries: none lost, none applied twice.
func countApplied(t *testing.T, dir string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "ledger.db")+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read only: nothing to lose
	for what, query := range map[string]string{
		"purchase events": "SELECT COUNT(*) FROM events",
		"earn entries":    "SELECT COUNT(*) FROM entries WHERE kind = 'earn'",
	} {
		var got int
		if err := db.QueryRow(query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != n {
			t.Errorf("%d %s, want %d", got, what, n)
		}
	}
}
