package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/httpapi"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

// The volume tests put the engine's database on a small tmpfs, fill it and
// check that the engine says so (writes 503, /readyz 503 naming disk_full,
// /v1/status and the metric, one log line per change of state) and
// recovers by itself once there is room again, also across a restart on
// the full volume, losing no acknowledged write.

const testAdminKey = "crash-test-admin-key-01234"

// testWALLimit is the engine's --sqlite-wal-limit in these tests, so that
// a small volume holds the log, the reserve and the database.
const testWALLimit = "2Mi"

// smallVolume mounts a tmpfs of mib MiB at dir/volume until the test ends.
// Mounting needs root: without it the test fails on CI and is skipped
// elsewhere.
func smallVolume(t *testing.T, dir string, mib int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		missingTool(t, "mounting a %d MiB tmpfs for the database needs root", mib)
	}
	vol := filepath.Join(dir, "volume")
	if err := os.Mkdir(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", vol, "tmpfs", 0, fmt.Sprintf("size=%dm", mib)); err != nil {
		missingTool(t, "mount a tmpfs at %s: %v", vol, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(vol, syscall.MNT_DETACH) })
	return vol
}

// fillVolume writes a file into vol until the volume has no room left, as
// another program's data would, and returns its path.
func fillVolume(t *testing.T, vol string) string {
	t.Helper()
	path := filepath.Join(vol, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
			return path
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// volumeEngineFlags run the engine on the volume with a small log limit.
func volumeEngineFlags(dir, vol string, more ...string) []string {
	return append([]string{"--config-file=" + filepath.Join(dir, "snapshot.json"), "--sqlite-path=" + filepath.Join(vol, "ledger.db"),
		"--sqlite-wal-limit=" + testWALLimit}, more...)
}

// storeStatus is the store part of GET /v1/status.
func storeStatus(t *testing.T, client *http.Client, base string) httpapi.StoreHealth {
	t.Helper()
	a, err := send(client, "GET", base+"/v1/status", "", nil)
	if err != nil || a.status != 200 {
		t.Fatalf("status: %d %s %v", a.status, a.body, err)
	}
	var st httpapi.StatusReport
	if err := json.Unmarshal(a.body, &st); err != nil {
		t.Fatal(err)
	}
	return st.Store
}

// unreadyFor reports whether /readyz answers a 503 problem with
// Retry-After that names the state.
func unreadyFor(client *http.Client, base, state string) bool {
	a, err := send(client, "GET", base+"/readyz", "", nil)
	return err == nil && a.status == 503 && checkUnavailable(a) == nil && strings.Contains(string(a.body), "("+state+")")
}

// checkUnwritable checks everything the engine says while its store
// refuses writes for lack of room: the status, the metric, one log line
// for the change of state however many writes were refused, and reads
// still served.
func checkUnwritable(t *testing.T, e *engine, client *http.Client, load *earnLoad) {
	t.Helper()
	waitFor(t, 20*time.Second, "20 earns refused", func() bool { return load.refusal.Load() >= 20 })
	st := storeStatus(t, client, e.base)
	if !st.Reachable || st.State != "disk_full" || st.Writable || st.Reason == "" || st.Since.IsZero() {
		t.Errorf("status while the volume is full: %+v", st)
	}
	a, err := send(client, "GET", e.base+"/metrics", "", nil)
	if err != nil || !strings.Contains(string(a.body), `loyalty_engine_store_state{state="disk_full"} 1`) {
		t.Errorf("metrics while the volume is full lack loyalty_engine_store_state{state=\"disk_full\"} 1 (%v)", err)
	}
	if a, err := send(client, "GET", e.base+"/v1/members/m0", testReadKey, nil); err != nil || a.status != 200 {
		t.Errorf("read while the volume is full: %d %s %v, want 200", a.status, a.body, err)
	}
	logged := strings.Count(e.logText(), `"msg":"ledger store cannot take writes","state":"disk_full"`)
	if refused := load.refusal.Load(); logged < 1 || logged > 2 || refused < 20 {
		t.Errorf("%d log lines saying the store cannot take writes for %d refused writes: want one per change of state", logged, refused)
	}
}

// TestChaosSQLiteVolumeFills fills the database's volume under a load of
// earns: writes are refused with 503 and the engine turns unready saying
// disk_full; once room is made it is ready again by itself and takes writes.
func TestChaosSQLiteVolumeFills(t *testing.T) {
	bin := buildEngine(t)
	dir := engineDir(t, testSnapshot)
	vol := smallVolume(t, dir, 32)
	e := startEngineWith(t, bin, dir, volumeEngineFlags(dir, vol)...)
	client, load := underLoad(t, e, "100 acknowledged earns before the volume fills")

	filler := fillVolume(t, vol)
	waitFor(t, 10*time.Second, "/readyz unready naming disk_full", func() bool { return unreadyFor(client, e.base, "disk_full") })
	checkUnwritable(t, e, client, load)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitFor(t, 20*time.Second, "/readyz ready once the volume has room", func() bool { return readyStatus(client, e.base) == 200 })
	t.Logf("ready again %v after room was made", time.Since(freed).Round(10*time.Millisecond))
	acked := load.acked.Load()
	waitFor(t, 20*time.Second, "earns acknowledged again", func() bool { return load.acked.Load() >= acked+100 })
	if st := storeStatus(t, client, e.base); st.State != "ok" || !st.Writable {
		t.Errorf("status once the volume has room: %+v", st)
	}
	if !strings.Contains(e.logText(), `"msg":"ledger store healthy again: writes are taken"`) {
		t.Error("no log line saying the store takes writes again")
	}
	load.finish()
	load.verify(t, e.base)
	e.stop(t, 20*time.Second)
	checkSQLiteAt(t, sqlite.Options{Path: filepath.Join(vol, "ledger.db"), WALLimit: 2 << 20}, "after the volume filled")
}

// stalledExport starts GET /v1/export and reads nothing once the response
// has begun, as a client that hangs would; its small receive buffer makes
// the engine's writes to it block soon. close ends the connection.
func stalledExport(t *testing.T, base string) (stop func()) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /v1/export HTTP/1.1\r\nHost: engine\r\nAuthorization: Bearer %s\r\n\r\n", testAdminKey)
	status, err := bufio.NewReaderSize(conn, 256).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("export: %q %v (close: %v)", status, err, conn.Close())
	}
	// stop may run twice: deferred, and where the test ends the export.
	return func() {
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("close the stalled export: %v", err)
		}
	}
}

// seedLedger earns 10,000 events in batches for members of its own, so that
// an export outlasts what the sockets between the engine and a stalled
// client hold.
func seedLedger(t *testing.T, client *http.Client, base string) {
	t.Helper()
	for m := range 6 {
		a, err := send(client, "POST", base+"/v1/members", testIngestKey, map[string]any{"idempotencyKey": fmt.Sprint("enroll-seed-", m), "memberId": fmt.Sprint("seed-", m)})
		if err != nil || a.status != 201 {
			t.Fatalf("enroll: %d %s %v", a.status, a.body, err)
		}
	}
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for b := range 10 {
		events := make([]map[string]any, 1000)
		for i := range events {
			id := fmt.Sprintf("seed-%d-%d", b, i)
			events[i] = map[string]any{"idempotencyKey": id, "memberId": fmt.Sprint("seed-", i%6), "eventId": id, "amount": "1.00", "occurredAt": at}
		}
		a, err := send(client, "POST", base+"/v1/earn/batch", testIngestKey, map[string]any{"events": events})
		if err != nil || a.status != 200 {
			t.Fatalf("seed batch %d: %d %.300s %v", b, a.status, a.body, err)
		}
	}
}

// TestChaosSQLiteLogFillsVolume lets an export whose client stopped reading
// pin the write-ahead log under a load of earns until the log fills the
// volume. With a short --max-read-age the export is aborted and the engine
// is ready again by itself; with a long one the engine is killed while the
// volume is full, and a restart on the same volume recovers by itself.
// Every acknowledged write is there at the end.
func TestChaosSQLiteLogFillsVolume(t *testing.T) {
	bin := buildEngine(t)
	dir := engineDir(t, testSnapshot)
	if err := os.WriteFile(filepath.Join(dir, "keys", "admin"), []byte(testAdminKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := smallVolume(t, dir, 48)

	// The reader is aborted at its maximum age: the log is truncated.
	e := startEngineWith(t, bin, dir, volumeEngineFlags(dir, vol, "--max-read-age=4s")...)
	client, load := underLoad(t, e, "100 acknowledged earns before the export")
	seedLedger(t, client, e.base)
	stalled := time.Now()
	closeExport := stalledExport(t, e.base)
	waitFor(t, 30*time.Second, "the pinned log fills the volume: /readyz unready naming disk_full", func() bool { return unreadyFor(client, e.base, "disk_full") })
	full := time.Now()
	checkUnwritable(t, e, client, load)
	waitFor(t, 30*time.Second, "/readyz ready once the export is aborted", func() bool { return readyStatus(client, e.base) == 200 })
	t.Logf("the volume filled %v after the export stalled; ready again %v later", full.Sub(stalled).Round(10*time.Millisecond), time.Since(full).Round(10*time.Millisecond))
	if a, err := send(client, "GET", e.base+"/metrics", "", nil); err != nil || metricValue(string(a.body), "loyalty_engine_store_reads_aborted_total") != 1 {
		t.Errorf("loyalty_engine_store_reads_aborted_total is not 1 after the export was aborted (%v)", err)
	}
	acked := load.acked.Load()
	waitFor(t, 20*time.Second, "earns acknowledged again", func() bool { return load.acked.Load() >= acked+100 })
	load.finish()
	// The export's snapshot was released while it still waited for its
	// client; it ends, saying why, once the client goes.
	closeExport()
	waitFor(t, 10*time.Second, "a log line saying the export was aborted", func() bool {
		return strings.Contains(e.logText(), `"msg":"export failed","error":"read aborted`)
	})
	e.stop(t, 20*time.Second)

	// Killed while the volume is full; restarted on it.
	e = startEngineWith(t, bin, dir, volumeEngineFlags(dir, vol, "--max-read-age=10m")...)
	again := &earnLoad{t: t, client: client, base: e.base, members: load.members, prefix: "-again"}
	again.start(4)
	t.Cleanup(again.finish)
	waitFor(t, 20*time.Second, "100 acknowledged earns after the restart", func() bool { return again.acked.Load() >= 100 })
	closeExport = stalledExport(t, e.base)
	defer closeExport()
	waitFor(t, 30*time.Second, "the pinned log fills the volume again", func() bool { return unreadyFor(client, e.base, "disk_full") })
	again.finish()
	if err := e.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("engine killed: %v", <-e.exited)
	closeExport()
	t.Logf("killed with a %.1f MiB log on the full volume", float64(fileSize(filepath.Join(vol, "ledger.db-wal")))/(1<<20))

	restarted := time.Now()
	e = launchEngine(t, bin, dir, volumeEngineFlags(dir, vol)...)
	waitFor(t, 30*time.Second, "/readyz ready after a restart on the full volume", func() bool { return readyStatus(client, e.base) == 200 })
	t.Logf("ready %v after the restart on the full volume; log now %.1f MiB", time.Since(restarted).Round(10*time.Millisecond),
		float64(fileSize(filepath.Join(vol, "ledger.db-wal")))/(1<<20))
	all := &earnLoad{t: t, client: client, base: e.base, members: load.members, writes: append(load.writes, again.writes...)}
	all.verify(t, e.base)
	e.stop(t, 20*time.Second)
	checkSQLiteAt(t, sqlite.Options{Path: filepath.Join(vol, "ledger.db"), WALLimit: 2 << 20}, "after the restart on the full volume")
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
