package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

const (
	testIngestKey = "crash-test-ingest-key-0123"
	testReadKey   = "crash-test-read-key-012345"
)

// testSnapshot earns 2 points per euro, available at once, expiring after a
// year, so that balances are plain sums of what the test sent.
const testSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "2", "pendingPeriod": "0s", "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"}
}`

// engine is a running points-engine process.
type engine struct {
	cmd    *exec.Cmd
	base   string
	logs   *bytes.Buffer
	logsMu *sync.Mutex
	exited chan error
}

var (
	buildOnce sync.Once
	binDir    string
	binErr    error
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildEngine builds the engine binary once for all tests of the package.
func buildEngine(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "points-engine-test-"); binErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "points-engine"), ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "points-engine")
}

// engineDir lays out a snapshot file and API keys for an engine.
func engineDir(t *testing.T, snapshot string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "snapshot.json"), []byte(snapshot), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	for scope, key := range map[string]string{"ingest": testIngestKey, "read": testReadKey} {
		if err := os.WriteFile(filepath.Join(dir, "keys", scope), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startEngine(t *testing.T, bin, dir string) *engine {
	t.Helper()
	return startEngineWith(t, bin, dir, "--config-file="+filepath.Join(dir, "snapshot.json"))
}

// startEngineWith starts the engine on dir's database and keys with a
// config source flag (and any other flags, which win over the defaults),
// and waits until it is ready.
func startEngineWith(t *testing.T, bin, dir string, configFlags ...string) *engine {
	t.Helper()
	e := launchEngine(t, bin, dir, configFlags...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine not ready:\n%s", e.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launchEngine starts the engine like startEngineWith and returns once it
// listens, ready or not.
func launchEngine(t *testing.T, bin, dir string, configFlags ...string) *engine {
	t.Helper()
	cmd := exec.Command(bin, append([]string{
		"--listen=127.0.0.1:0",
		"--sqlite-path=" + filepath.Join(dir, "ledger.db"),
		"--api-keys-dir=" + filepath.Join(dir, "keys"),
		"--due-interval=100ms",
		"--shutdown-timeout=10s",
		"--log-level=info"}, configFlags...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{cmd: cmd, logs: &bytes.Buffer{}, logsMu: &sync.Mutex{}, exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			e.logsMu.Lock()
			e.logs.WriteString(line + "\n")
			e.logsMu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "points engine listening" {
				addr <- rec.Addr
			}
		}
		e.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case a := <-addr:
		e.base = "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatalf("engine did not start:\n%s", e.logText())
	}
	return e
}

func (e *engine) logText() string {
	e.logsMu.Lock()
	defer e.logsMu.Unlock()
	return e.logs.String()
}

// post sends a write; ok is false when the outcome is unknown (no answer or a 5xx).
func post(client *http.Client, base, path string, body any) (status int, resp []byte, ok bool) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testIngestKey)
	req.Header.Set("Content-Type", "application/json")
	r, err := client.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer r.Body.Close()
	resp, err = io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, false
	}
	return r.StatusCode, resp, r.StatusCode < 500
}

// write is one write the test sent, with what it knows of the outcome.
type write struct {
	path   string
	body   map[string]any
	member string
	acked  bool  // answered 200
	seq    int64 // entry sequence of the acknowledged result
	points int64
}

// TestCrashRecovery kills the engine with SIGKILL under concurrent writes,
// restarts it on the same database and checks that every acknowledged write
// survived exactly once, that retrying unanswered writes converges, that
// balances equal the sums of the applied writes and that the store's
// invariants hold.
func TestCrashRecovery(t *testing.T) {
	bin := buildEngine(t)
	dir := engineDir(t, testSnapshot)

	e := startEngine(t, bin, dir)
	client := &http.Client{Timeout: 10 * time.Second}
	const members = 8
	for m := range members {
		if st, body, _ := post(client, e.base, "/v1/members", map[string]any{"idempotencyKey": fmt.Sprint("enroll-", m), "memberId": fmt.Sprint("m", m)}); st != 201 {
			t.Fatalf("enroll: %d %s", st, body)
		}
	}

	// Concurrent load; the engine is killed while it runs.
	occurredAt := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var (
		mu     sync.Mutex
		writes []*write
		acked  atomic.Int64
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; !killed.Load(); i++ {
				m := fmt.Sprint("m", rng.IntN(members))
				wr := &write{member: m}
				if rng.IntN(5) == 0 {
					wr.path = "/v1/redeem"
					wr.body = map[string]any{"idempotencyKey": fmt.Sprintf("r-%d-%d", w, i), "memberId": m, "points": 1 + rng.IntN(5)}
				} else {
					wr.path = "/v1/earn"
					wr.body = map[string]any{"idempotencyKey": fmt.Sprintf("e-%d-%d", w, i), "memberId": m,
						"eventId": fmt.Sprintf("order-%d-%d", w, i), "amount": fmt.Sprintf("%d.%02d", 1+rng.IntN(50), rng.IntN(100)), "occurredAt": occurredAt}
				}
				st, body, ok := post(client, e.base, wr.path, wr.body)
				if ok && st != 200 {
					if st == 422 && wr.path == "/v1/redeem" {
						continue // insufficient points: answered, not applied, key not kept
					}
					t.Errorf("%s: %d %s", wr.path, st, body)
					return
				}
				if ok {
					var res struct {
						EntrySeq int64 `json:"entrySeq"`
						Points   int64 `json:"points"`
					}
					if err := json.Unmarshal(body, &res); err != nil {
						t.Errorf("decode %s: %v", body, err)
						return
					}
					wr.acked, wr.seq, wr.points = true, res.EntrySeq, res.Points
					acked.Add(1)
				}
				mu.Lock()
				writes = append(writes, wr)
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for acked.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("engine killed: %v", <-e.exited)
	killed.Store(true)
	wg.Wait()
	if t.Failed() {
		t.Fatalf("engine log:\n%s", e.logText())
	}
	var unknown int
	for _, w := range writes {
		if !w.acked {
			unknown++
		}
	}
	t.Logf("killed after %d acknowledged writes, %d unanswered", acked.Load(), unknown)
	if acked.Load() < 100 {
		t.Fatalf("only %d writes acknowledged before the kill", acked.Load())
	}

	// Restart on the same database. Every acknowledged write must replay with
	// its original result; every unanswered one is retried until answered.
	e = startEngine(t, bin, dir)
	earned := map[string]int64{}
	redeemed := map[string]int64{}
	for _, w := range writes {
		st, body, ok := post(client, e.base, w.path, w.body)
		if !ok {
			t.Fatalf("retry %s %v: no answer", w.path, w.body)
		}
		var res struct {
			EntrySeq int64 `json:"entrySeq"`
			Points   int64 `json:"points"`
			Replayed bool  `json:"replayed"`
		}
		_ = json.Unmarshal(body, &res)
		switch {
		case w.acked && (st != 200 || !res.Replayed || res.EntrySeq != w.seq || res.Points != w.points):
			t.Errorf("acknowledged %s %v lost or changed after the crash: %d %s (had seq %d, %d points)", w.path, w.body["idempotencyKey"], st, body, w.seq, w.points)
			continue
		case !w.acked && st == 422 && w.path == "/v1/redeem":
			continue // never applied, and now refused
		case st != 200:
			t.Errorf("retry of unanswered %s %v: %d %s", w.path, w.body["idempotencyKey"], st, body)
			continue
		}
		if w.path == "/v1/earn" {
			earned[w.member] += res.Points
		} else {
			redeemed[w.member] += res.Points
		}
	}

	// Balances are exactly the sums of the applied writes.
	for m := range members {
		id := fmt.Sprint("m", m)
		req, _ := http.NewRequest("GET", e.base+"/v1/members/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+testReadKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v ledger.MemberView
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if v.LifetimeEarned != earned[id] || v.Available != earned[id]-redeemed[id] || v.Pending != 0 {
			t.Errorf("%s: balance %+v, want lifetime %d and available %d", id, v.Balance, earned[id], earned[id]-redeemed[id])
		}
	}

	// SIGTERM drains and exits cleanly.
	e.stop(t, 15*time.Second)
	// The store's own invariant checker on the database the engine left.
	checkSQLite(t, dir, "after crash and recovery")
	if t.Failed() {
		t.Logf("engine log:\n%s", e.logText())
	}
}

// stop sends SIGTERM and waits for the engine to drain and exit cleanly.
func (e *engine) stop(t *testing.T, within time.Duration) {
	t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-e.exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, e.logText())
		}
	case <-time.After(within):
		t.Fatal("engine did not stop after SIGTERM")
	}
}

// checkSQLite runs the store's own invariant checker on the database an
// engine left in dir.
func checkSQLite(t *testing.T, dir, when string) {
	t.Helper()
	checkSQLiteAt(t, sqlite.Options{Path: filepath.Join(dir, "ledger.db")}, when)
}

// checkSQLiteAt is checkSQLite for the store the options open.
func checkSQLiteAt(t *testing.T, opts sqlite.Options, when string) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := store.CheckInvariants(context.Background()); err != nil {
		t.Errorf("invariants %s: %v", when, err)
	}
}
