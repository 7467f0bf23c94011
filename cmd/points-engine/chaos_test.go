package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/postgres"
)

// The chaos tests take the engine's store away under load and check that the
// engine says so (503 with Retry-After, and an error logged), loses no
// acknowledged write and recovers by itself.

// missingTool skips the test, or fails it on CI where every chaos test must run.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// answer is the engine's reply to one request.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request with an API key; err is set when there was no answer.
func send(client *http.Client, method, url, key string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// problemCode checks that a is a problem+json document and returns its code.
func problemCode(a answer) (string, error) {
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		return "", fmt.Errorf("status %d with Content-Type %q, want application/problem+json: %s", a.status, ct, a.body)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		return "", fmt.Errorf("decode problem %s: %v", a.body, err)
	}
	if p.Status != a.status || p.Code == "" || p.Detail == "" {
		return "", fmt.Errorf("problem without status, code or detail: %s", a.body)
	}
	return p.Code, nil
}

// checkUnavailable checks a 503: a problem with code unavailable and a Retry-After.
func checkUnavailable(a answer) error {
	code, err := problemCode(a)
	if err != nil {
		return err
	}
	if code != "unavailable" {
		return fmt.Errorf("503 with code %q, want unavailable: %s", code, a.body)
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
		return fmt.Errorf("503 without a Retry-After of whole seconds (%q): %s", a.header.Get("Retry-After"), a.body)
	}
	return nil
}

// earnLoad sends earns with idempotency keys from several clients until
// stopped, and records what it learnt of each.
type earnLoad struct {
	t       *testing.T
	client  *http.Client
	base    string
	members int
	prefix  string // of idempotency keys and event ids, so that two loads do not share them

	mu      sync.Mutex
	writes  []*write
	acked   atomic.Int64
	refusal atomic.Int64 // writes refused with 503; any other answer but 200 fails the test
	stop    atomic.Bool
	wg      sync.WaitGroup
}

func (l *earnLoad) start(workers int) {
	occurredAt := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for w := range workers {
		l.wg.Go(func() {
			for i := 0; !l.stop.Load(); i++ {
				m := fmt.Sprint("m", (w+i)%l.members)
				wr := &write{member: m, path: "/v1/earn", body: map[string]any{
					"idempotencyKey": fmt.Sprintf("e%s-%d-%d", l.prefix, w, i), "memberId": m,
					"eventId": fmt.Sprintf("order%s-%d-%d", l.prefix, w, i), "amount": fmt.Sprintf("%d.50", 1+i%20), "occurredAt": occurredAt}}
				a, err := send(l.client, "POST", l.base+wr.path, testIngestKey, wr.body)
				switch {
				case err != nil:
					l.t.Errorf("earn %s: no answer from the engine: %v", wr.body["idempotencyKey"], err)
					l.stop.Store(true)
				case a.status == 200:
					var res struct {
						EntrySeq int64 `json:"entrySeq"`
						Points   int64 `json:"points"`
					}
					if err := json.Unmarshal(a.body, &res); err != nil {
						l.t.Errorf("decode %s: %v", a.body, err)
					}
					wr.acked, wr.seq, wr.points = true, res.EntrySeq, res.Points
					l.acked.Add(1)
				case a.status != 503:
					l.t.Errorf("earn %s: status %d, want 200 or 503: %s", wr.body["idempotencyKey"], a.status, a.body)
					l.stop.Store(true)
				default:
					if err := checkUnavailable(a); err != nil {
						l.t.Errorf("earn %s: %v", wr.body["idempotencyKey"], err)
						l.stop.Store(true)
					}
					l.refusal.Add(1)
					time.Sleep(20 * time.Millisecond) // a client backs off; the test need not spin
				}
				l.mu.Lock()
				l.writes = append(l.writes, wr)
				l.mu.Unlock()
			}
		})
	}
}

func (l *earnLoad) finish() {
	l.stop.Store(true)
	l.wg.Wait()
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if t.Failed() {
			t.FailNow() // the load found a fault already
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verify retries every write until answered: acknowledged ones must replay
// their original result, the others be applied now. Then each balance must
// be the sum of the applied earns.
func (l *earnLoad) verify(t *testing.T, base string) {
	t.Helper()
	earned := map[string]int64{}
	var replayed int
	for _, w := range l.writes {
		var a answer
		var err error
		deadline := time.Now().Add(20 * time.Second)
		for {
			a, err = send(l.client, "POST", base+w.path, testIngestKey, w.body)
			if err == nil && a.status < 500 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil || a.status != 200 {
			t.Fatalf("retry of %s %v: %d %s %v", w.path, w.body["idempotencyKey"], a.status, a.body, err)
		}
		var res struct {
			EntrySeq int64 `json:"entrySeq"`
			Points   int64 `json:"points"`
			Replayed bool  `json:"replayed"`
		}
		if err := json.Unmarshal(a.body, &res); err != nil {
			t.Fatalf("decode %s: %v", a.body, err)
		}
		if w.acked {
			replayed++
			if !res.Replayed || res.EntrySeq != w.seq || res.Points != w.points {
				t.Errorf("acknowledged %v lost or changed: %s (had seq %d, %d points)", w.body["idempotencyKey"], a.body, w.seq, w.points)
			}
		}
		earned[w.member] += res.Points
	}
	for m := range l.members {
		id := fmt.Sprint("m", m)
		a, err := send(l.client, "GET", base+"/v1/members/"+id, testReadKey, nil)
		if err != nil || a.status != 200 {
			t.Fatalf("read %s: %d %s %v", id, a.status, a.body, err)
		}
		var v ledger.MemberView
		if err := json.Unmarshal(a.body, &v); err != nil {
			t.Fatal(err)
		}
		if v.LifetimeEarned != earned[id] || v.Available != earned[id] {
			t.Errorf("%s: balance %+v, want %d earned and available", id, v.Balance, earned[id])
		}
	}
	t.Logf("%d writes, %d acknowledged before verification, all accounted for", len(l.writes), replayed)
}

func enrollMembers(t *testing.T, client *http.Client, base string, members int) {
	t.Helper()
	for m := range members {
		a, err := send(client, "POST", base+"/v1/members", testIngestKey, map[string]any{"idempotencyKey": fmt.Sprint("enroll-", m), "memberId": fmt.Sprint("m", m)})
		if err != nil || a.status != 201 {
			t.Fatalf("enroll: %d %s %v", a.status, a.body, err)
		}
	}
}

// readyStatus is the status of GET /readyz, 0 when there is no answer.
func readyStatus(client *http.Client, base string) int {
	a, err := send(client, "GET", base+"/readyz", "", nil)
	if err != nil {
		return 0
	}
	return a.status
}

// pgCluster is a PostgreSQL server of the test's own, so that the test can
// crash and restart it without disturbing the shared database.
type pgCluster struct {
	bin     string // directory of initdb and pg_ctl
	dir     string // holds the data directory, the socket and the log
	port    int
	cred    *syscall.Credential // the server's OS user when the test runs as root
	started bool
}

// postgresBinDir finds initdb and pg_ctl: pg_config's bindir, else the
// newest /usr/lib/postgresql/*/bin.
func postgresBinDir() string {
	var dirs []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range append(dirs, found...) {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startPostgres initialises and starts a private cluster. initdb refuses to
// run as root, so as root the cluster belongs to the postgres OS user.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	bin := postgresBinDir()
	if bin == "" {
		missingTool(t, "PostgreSQL server binaries (initdb, pg_ctl) not found via pg_config or in /usr/lib/postgresql/*/bin")
	}
	c := &pgCluster{bin: bin}
	dir, err := os.MkdirTemp("", "pg-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missingTool(t, "running as root and there is no postgres OS user to run a private PostgreSQL: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.command("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c.start(t)
	t.Cleanup(func() {
		if c.started {
			_ = c.command("pg_ctl", "stop", "-D", c.data(), "-m", "immediate", "-w").Run()
		}
	})
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", c.port)
}

func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// start starts the server and waits until it accepts connections. fsync is
// off: the test crashes the server, never the machine, so the kernel keeps
// every write the server made.
func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.port, c.dir)
	out, err := c.command("pg_ctl", "start", "-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	c.started = true
}

// crash stops the server the way a crash would: backends are killed and
// the next start runs crash recovery.
func (c *pgCluster) crash(t *testing.T) {
	t.Helper()
	if out, err := c.command("pg_ctl", "stop", "-D", c.data(), "-m", "immediate", "-w", "-t", "60").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	c.started = false
}

// TestChaosPostgresRestart crashes the engine's PostgreSQL under a steady
// load of earns: while it is down every write and /readyz answer 503 with
// Retry-After; once it is back the same engine process accepts writes again,
// every acknowledged write is there exactly once and the store's invariants
// hold.
func TestChaosPostgresRestart(t *testing.T) {
	pg := startPostgres(t)
	bin := buildEngine(t)
	dir := engineDir(t, testSnapshot)
	e := startEngineWith(t, bin, dir, "--config-file="+filepath.Join(dir, "snapshot.json"), "--store=postgres", "--postgres-url="+pg.url())
	client, load := underLoad(t, e, "100 acknowledged earns before the crash")

	pg.crash(t)
	ackedAtCrash := load.acked.Load()
	waitFor(t, 20*time.Second, "/readyz unready while PostgreSQL is down", func() bool { return readyStatus(client, e.base) == 503 })
	refusedAtCrash := load.refusal.Load()
	waitFor(t, 20*time.Second, "earns refused with 503 while PostgreSQL is down", func() bool { return load.refusal.Load() >= refusedAtCrash+20 })
	a, err := send(client, "GET", e.base+"/v1/members/m0", testReadKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 503 {
		t.Errorf("read while PostgreSQL is down: %d %s, want 503", a.status, a.body)
	} else if err := checkUnavailable(a); err != nil {
		t.Errorf("read while PostgreSQL is down: %v", err)
	}
	if a, err := send(client, "GET", e.base+"/readyz", "", nil); err == nil && a.status == 503 {
		if err := checkUnavailable(a); err != nil {
			t.Errorf("/readyz while PostgreSQL is down: %v", err)
		}
	}
	if !strings.Contains(e.logText(), `"status":503`) {
		t.Errorf("no 503 logged while PostgreSQL is down:\n%s", e.logText())
	}

	pg.start(t)
	waitFor(t, 30*time.Second, "/readyz ready after PostgreSQL restarted", func() bool { return readyStatus(client, e.base) == 200 })
	ackedAtRestart := load.acked.Load()
	waitFor(t, 30*time.Second, "earns acknowledged again after PostgreSQL restarted", func() bool { return load.acked.Load() >= ackedAtRestart+100 })
	load.finish()
	t.Logf("%d earns acknowledged before the crash, %d refused while down, %d acknowledged in all",
		ackedAtCrash, load.refusal.Load(), load.acked.Load())

	load.verify(t, e.base)
	store, err := postgres.Open(context.Background(), postgres.Options{URL: pg.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := store.CheckInvariants(context.Background()); err != nil {
		t.Errorf("invariants after the PostgreSQL crash: %v", err)
	}
}

// underLoad enrolls members into the engine and keeps four clients earning
// for them until the load is finished (at the latest when the test ends); it returns once 100 earns were
// acknowledged (what, in a failure). The engine's log is shown if the test
// fails.
func underLoad(t *testing.T, e *engine, what string) (*http.Client, *earnLoad) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine log:\n%s", e.logText())
		}
	})
	client := &http.Client{Timeout: 30 * time.Second}
	const members = 6
	enrollMembers(t, client, e.base, members)
	load := &earnLoad{t: t, client: client, base: e.base, members: members}
	load.start(4)
	t.Cleanup(load.finish) // idempotent: tests finish it themselves before checking
	waitFor(t, 20*time.Second, what, func() bool { return load.acked.Load() >= 100 })
	return client, load
}

// faultSQLite runs the embedded store under load, applies a fault that stops
// the database from being written, and checks that writes fail loudly (503
// problems with Retry-After, an error logged) while reads keep working, that
// writes succeed again once the fault is cleared, without a restart, and
// that no acknowledged write was lost.
func faultSQLite(t *testing.T, apply, undo func(e *engine, dir string) error) {
	bin := buildEngine(t)
	dir := engineDir(t, testSnapshot)
	e := startEngine(t, bin, dir)
	client, load := underLoad(t, e, "100 acknowledged earns before the fault")

	if err := apply(e, dir); err != nil {
		t.Fatal(err)
	}
	cleared := false
	defer func() {
		if !cleared {
			_ = undo(e, dir)
		}
	}()
	refusedAtFault := load.refusal.Load()
	waitFor(t, 20*time.Second, "earns refused while the database cannot be written", func() bool { return load.refusal.Load() >= refusedAtFault+20 })
	ackedDuringFault := load.acked.Load()
	a, err := send(client, "GET", e.base+"/v1/members/m0", testReadKey, nil)
	if err != nil || a.status != 200 {
		t.Errorf("read while the database cannot be written: %d %s %v, want 200", a.status, a.body, err)
	}
	if !strings.Contains(e.logText(), `"level":"ERROR","msg":"request failed","method":"POST","path":"/v1/earn","status":503`) ||
		!strings.Contains(e.logText(), "the database cannot be written") {
		t.Errorf("no error logged for the refused writes, or not saying why")
	}

	cleared = true
	if err := undo(e, dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "earns acknowledged again once the fault is cleared", func() bool { return load.acked.Load() >= ackedDuringFault+100 })
	load.finish()
	t.Logf("%d earns refused during the fault, %d acknowledged in all", load.refusal.Load(), load.acked.Load())
	load.verify(t, e.base)

	e.stop(t, 20*time.Second)
	checkSQLite(t, dir, "after the fault")
}

// TestChaosSQLiteDiskFull stands for a full disk by lowering the running
// engine's file size limit (RLIMIT_FSIZE, with prlimit) below the size of
// its database files: every write to them fails as it would on a full disk,
// without filling a real one. Go ignores the SIGXFSZ that comes with it.
// Only the soft limit changes, so that raising it again needs no privilege.
func TestChaosSQLiteDiskFull(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		missingTool(t, "prlimit (util-linux) is needed to limit the engine's file size: %v", err)
	}
	setLimit := func(e *engine, limit string) error {
		out, err := exec.Command(prlimit, "--pid", strconv.Itoa(e.cmd.Process.Pid), "--fsize="+limit).CombinedOutput()
		if err != nil {
			return fmt.Errorf("prlimit --fsize=%s: %v\n%s", limit, err, out)
		}
		return nil
	}
	faultSQLite(t,
		func(e *engine, _ string) error { return setLimit(e, "1:") },
		func(e *engine, _ string) error { return setLimit(e, "unlimited:") })
}

// TestChaosSQLiteReadOnly makes the database and its write-ahead log
// immutable (chattr +i), which refuses writes even to root and even through
// the descriptors the engine already holds, as a volume remounted read-only
// would.
func TestChaosSQLiteReadOnly(t *testing.T) {
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		missingTool(t, "chattr (e2fsprogs) is needed to make the database read-only: %v", err)
	}
	if os.Geteuid() != 0 {
		// Without root only permissions are left, and those are checked at
		// open: the descriptors the engine holds would keep writing.
		missingTool(t, "making the database immutable with chattr +i needs root")
	}
	files := func(dir string) []string {
		return []string{filepath.Join(dir, "ledger.db"), filepath.Join(dir, "ledger.db-wal")}
	}
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(chattr, "+i", probe).CombinedOutput(); err != nil {
		missingTool(t, "the temporary directory's file system does not take chattr +i: %v %s", err, out)
	}
	_ = exec.Command(chattr, "-i", probe).Run()
	faultSQLite(t,
		func(_ *engine, dir string) error {
			out, err := exec.Command(chattr, append([]string{"+i"}, files(dir)...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("chattr +i: %v %s", err, out)
			}
			return nil
		},
		func(_ *engine, dir string) error {
			out, err := exec.Command(chattr, append([]string{"-i"}, files(dir)...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("chattr -i: %v %s", err, out)
			}
			return nil
		})
}
