package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

// benchSnapshot is a program with a three-rung tier ladder and campaigns
// active campaigns open to every member: half a purchase bonus, half a
// multiplier, like the make bench-engine snapshot.
func benchSnapshot(b testing.TB, campaigns int) string {
	now := time.Now().UTC()
	var camps []map[string]any
	for i := range campaigns {
		rules := map[string]any{"purchaseBonus": map[string]any{"points": 5, "minimumSpend": "10"}}
		if i%2 == 1 {
			rules = map[string]any{"pointsMultiplier": "1.01"}
		}
		camps = append(camps, map[string]any{
			"name": fmt.Sprintf("campaign-%04d", i), "displayName": "c",
			"schedule": map[string]any{"start": now.Add(-24 * time.Hour).Format(time.RFC3339),
				"end": now.Add(30 * 24 * time.Hour).Format(time.RFC3339), "timeZone": "UTC"},
			"rules": rules, "stacking": "Stack", "priority": i,
		})
	}
	tiers := []map[string]any{
		{"name": "bronze", "displayName": "Bronze", "rank": 0, "qualification": map[string]any{"minQualifyingPoints": 0, "window": "365d"}, "earnMultiplier": "1"},
		{"name": "silver", "displayName": "Silver", "rank": 1, "qualification": map[string]any{"minQualifyingPoints": 1000, "window": "365d"}, "earnMultiplier": "1.25", "downgradeGracePeriod": "30d"},
		{"name": "gold", "displayName": "Gold", "rank": 2, "qualification": map[string]any{"minQualifyingPoints": 2000, "window": "365d"}, "earnMultiplier": "1.5", "downgradeGracePeriod": "30d"},
	}
	snap := map[string]any{
		"version": config.Version,
		"program": map[string]any{"name": "bench", "namespace": "bench", "displayName": "Bench", "currency": "EUR"},
		"points": map[string]any{"earnRate": "2.5", "rounding": "Nearest", "pendingPeriod": "1d",
			"expiry": map[string]any{"afterEarn": "365d"}, "lateEventGracePeriod": "72h"},
		"tiers": tiers, "campaigns": camps,
	}
	data, err := json.Marshal(snap)
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

// BenchmarkEarnBatch serves batch earns of 100 events from 16 concurrent
// clients, in process (no sockets), on SQLite: the engine's own cost of a
// batch, for profiles (-cpuprofile). make bench-engine measures over HTTP.
func BenchmarkEarnBatch(b *testing.B) {
	for _, campaigns := range []int{0, 50} {
		b.Run(fmt.Sprintf("campaigns=%d", campaigns), func(b *testing.B) {
			benchmarkEarnBatch(b, benchSnapshot(b, campaigns))
		})
	}
}

// BenchmarkEarn serves single earns from 64 concurrent clients, in
// process, on SQLite, with three tiers and no campaigns.
func BenchmarkEarn(b *testing.B) {
	h, store := benchServer(b, benchSnapshot(b, 0))
	var seq atomic.Int64
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	b.SetParallelism(32) // 64 clients on 2 cores
	start := startBench(b, store)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			h.post(b, "/v1/earn", fmt.Appendf(nil, `{"idempotencyKey":"k-%d","memberId":"member-%06d","eventId":"e-%d","amount":"%d.%02d","occurredAt":"%s"}`,
				n, rand.IntN(benchMembers), n, 1+rand.IntN(50), rand.IntN(100), at))
		}
	})
	start.report(b, b.N)
}

const benchMembers = 5000

type benchHandler struct{ http.Handler }

func (h benchHandler) post(b *testing.B, path string, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ingestKey)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
		b.Errorf("%s: %d %s", path, rec.Code, rec.Body)
	}
}

// benchServer serves the snapshot over a SQLite store with benchMembers
// members enrolled.
func benchServer(b *testing.B, snapshot string) (benchHandler, *sqlstore.Store) {
	holder := config.NewHolder(nil)
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg, holder)
	store, err := sqlite.Open(b.Context(), sqlite.Options{Path: filepath.Join(b.TempDir(), "ledger.db"), OnCommit: metrics.ObserveCommit})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := store.Close(); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	if err := holder.Apply("bench", []byte(snapshot)); err != nil {
		b.Fatal(err)
	}
	keys, err := auth.NewKeys(map[auth.Scope][]string{auth.ScopeIngest: {ingestKey}})
	if err != nil {
		b.Fatal(err)
	}
	h := benchHandler{New(Options{Ledger: store, Config: holder, Auth: auth.NewAuthenticator(keys, nil, nil), Registry: reg, Metrics: metrics}).Handler()}
	// Enrolled from many goroutines, so that group commits batch them and
	// the setup stays out of profiles.
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Go(func() {
			for i := c; i < benchMembers; i += 32 {
				h.post(b, "/v1/members", fmt.Appendf(nil, `{"idempotencyKey":"enroll-%d","memberId":"member-%06d"}`, i, i))
			}
		})
	}
	wg.Wait()
	return h, store
}

func benchmarkEarnBatch(b *testing.B, snapshot string) {
	h, store := benchServer(b, snapshot)
	var seq atomic.Int64
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	b.SetParallelism(8) // 16 clients on 2 cores
	start := startBench(b, store)
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			h.post(b, "/v1/earn/batch", batchBody(&buf, &seq, at))
		}
	})
	start.report(b, b.N*100)
}

// BenchmarkEarnBatchOneClient sends one batch of 100 events at a time, in
// process, on SQLite: ns/op is the latency of a batch request in an
// otherwise idle engine.
func BenchmarkEarnBatchOneClient(b *testing.B) {
	h, store := benchServer(b, benchSnapshot(b, 0))
	var seq atomic.Int64
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var buf bytes.Buffer
	start := startBench(b, store)
	for b.Loop() {
		h.post(b, "/v1/earn/batch", batchBody(&buf, &seq, at))
	}
	start.report(b, b.N*100)
}

// batchBody writes a batch of 100 purchases of random members to buf.
func batchBody(buf *bytes.Buffer, seq *atomic.Int64, at string) []byte {
	buf.Reset()
	buf.WriteString(`{"events":[`)
	for k := range 100 {
		n := seq.Add(1)
		if k > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(buf, `{"idempotencyKey":"k-%d","memberId":"member-%06d","eventId":"e-%d","amount":"%d.%02d","occurredAt":"%s"}`,
			n, rand.IntN(benchMembers), n, 1+rand.IntN(50), rand.IntN(100), at)
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// benchStart is what the process had used when the timed part began.
type benchStart struct {
	cpu   time.Duration
	stats sqlstore.Stats
	io    ioCounters
	store *sqlstore.Store
}

// startBench records the process's counters and starts the timer.
func startBench(b *testing.B, store *sqlstore.Store) benchStart {
	start := benchStart{cpu: cpuTime(), stats: store.Stats(), io: readIO(), store: store}
	b.ResetTimer()
	return start
}

// report reports the rate of events, and, steadier than the rate on a
// shared machine, the process's CPU time per event, the writes per group
// commit, and the write system calls and bytes written per event (the
// WAL's frames and the checkpoints copying them back).
func (s benchStart) report(b *testing.B, events int) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-s.cpu).Microseconds())/float64(events), "cpu-µs/event")
	stats := s.store.Stats()
	b.ReportMetric(float64(stats.Ops-s.stats.Ops)/float64(max(stats.Commits-s.stats.Commits, 1)), "writes/commit")
	if io := readIO(); io.ok && s.io.ok {
		b.ReportMetric(float64(io.syscw-s.io.syscw)/float64(events), "write-calls/event")
		b.ReportMetric(float64(io.wchar-s.io.wchar)/float64(events), "write-B/event")
	}
}

// ioCounters are the process's write system calls and bytes written so
// far, from /proc/self/io (Linux only; ok is false elsewhere).
type ioCounters struct {
	syscw, wchar int64
	ok           bool
}

func readIO() ioCounters {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return ioCounters{}
	}
	var c ioCounters
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "syscw":
			c.syscw = n
		case "wchar":
			c.wchar = n
		}
	}
	c.ok = true
	return c
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStoredEarnSize measures what a 50-campaign earn stores with its
// idempotency key: the record with the summary of its explanation, against
// the full explanation the record held before (the response to
// explain=full), as JSON and as the store keeps a large result (s2:, then
// base64 of its S2 compression). Run with -v to see the sizes.
func TestStoredEarnSize(t *testing.T) {
	e := newEnv(t, benchSnapshot(t, 50))
	e.enroll(t, "m1")
	body := map[string]any{"idempotencyKey": "k1", "memberId": "m1", "eventId": "e1", "amount": "25.00",
		"occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}
	full := e.do(t, "POST", "/v1/earn?explain=full", ingestKey, body)
	replay := e.do(t, "POST", "/v1/earn", ingestKey, body)
	stored, ok := bytes.CutSuffix(bytes.TrimSpace(replay.body), []byte(`,"replayed":true}`))
	if full.status != 200 || !ok {
		t.Fatalf("earn %d %s, replay %s", full.status, full.body, replay.body)
	}
	stored = append(stored, '}')
	before := bytes.TrimSpace(full.body)
	var res struct {
		Explanation struct{ Campaigns []json.RawMessage }
	}
	if err := json.Unmarshal(stored, &res); err != nil || len(res.Explanation.Campaigns) != 50 {
		t.Fatalf("stored record %s: %v", stored, err)
	}
	packed := func(b []byte) int { return len("s2:") + base64.RawStdEncoding.EncodedLen(len(s2.Encode(nil, b))) }
	t.Logf("50-campaign earn, stored record: full explanation %d bytes JSON (%d kept), summary %d bytes JSON (%d kept)",
		len(before), packed(before), len(stored), packed(stored))
	if len(stored)*2 > len(before) {
		t.Errorf("the stored record is %d bytes, more than half the full %d", len(stored), len(before))
	}
}
