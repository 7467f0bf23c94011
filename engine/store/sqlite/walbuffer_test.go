package sqlite

import (
	"bufio"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeCalls is the process's count of write system calls so far.
func writeCalls(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("/proc/self/io has no syscw")
	return 0
}

func openWAL(t *testing.T, path, vfs, synchronous string) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + synchronous + ")&_pragma=wal_autocheckpoint(0)"
	if vfs != "" {
		dsn += "&vfs=" + vfs
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// insertRows inserts n rows of 3 KB in one transaction (about a page each)
// and returns the write calls it took.
func insertRows(t *testing.T, db *sql.DB, from, n int) int64 {
	t.Helper()
	before := writeCalls(t)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if _, err := tx.Exec(`INSERT INTO t (id, v) VALUES (?, randomblob(3000))`, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return writeCalls(t) - before
}

func countRows(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A commit's WAL frames go to the file in a few large writes instead of two
// per frame, and every commit is in the file when it returns: another
// connection (of the plain unix VFS) sees it at once, with synchronous FULL
// and also OFF, where no sync makes the buffer flush.
func TestWALBufferWritesCommitsTogether(t *testing.T) {
	if err := registerWALBuffer(); err != nil {
		t.Fatal(err)
	}
	plain := openWAL(t, filepath.Join(t.TempDir(), "plain.db"), "", "FULL")
	unbuffered := insertRows(t, plain, 0, 300)
	if unbuffered < 600 {
		t.Fatalf("the unix VFS took %d write calls for 300 pages; want at least 600 (two per frame), or the count is wrong", unbuffered)
	}

	for _, synchronous := range []string{"FULL", "OFF"} {
		path := filepath.Join(t.TempDir(), "buffered.db")
		writer := openWAL(t, path, walBufferVFS, synchronous)
		reader := openWAL(t, path, "", "FULL")
		for round := range 3 {
			calls := insertRows(t, writer, round*300, 300)
			if calls > 40 {
				t.Errorf("synchronous=%s, round %d: %d write calls for 300 pages; want at most 40", synchronous, round, calls)
			}
			if got, want := countRows(t, reader), (round+1)*300; got != want {
				t.Fatalf("synchronous=%s, round %d: another connection sees %d rows, want %d", synchronous, round, got, want)
			}
		}
		// A read of the writer's own uncommitted frames and a rolled-back
		// transaction leave the file consistent.
		tx, err := writer.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO t (id, v) VALUES (-1, randomblob(3000))`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 901 {
			t.Fatalf("synchronous=%s: the writer's transaction sees %d rows (%v), want 901", synchronous, n, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := writer.Close(); err != nil {
			t.Fatal(err)
		}
		var check string
		if err := reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("synchronous=%s: integrity_check = %q (%v)", synchronous, check, err)
		}
		if got := countRows(t, reader); got != 900 {
			t.Fatalf("synchronous=%s: %d rows after the writer closed, want 900", synchronous, got)
		}
	}
}

// Every commit is in the file when it returns, whatever its size: commits of
// 1 to 70 pages put the commit frame at every place relative to the
// buffer's end, including a header that fits and a page that does not.
// With synchronous NORMAL (the writer's setting) and OFF no sync flushes the
// buffer, so another connection reading a commit frame that is not in the
// file fails with a short read.
func TestWALBufferCommitOfEverySize(t *testing.T) {
	if err := registerWALBuffer(); err != nil {
		t.Fatal(err)
	}
	for _, synchronous := range []string{"NORMAL", "OFF"} {
		path := filepath.Join(t.TempDir(), "buffered.db")
		writer := openWAL(t, path, walBufferVFS, synchronous)
		reader := openWAL(t, path, "", "FULL")
		rows := 0
		for pages := 1; pages <= 70; pages++ {
			insertRows(t, writer, rows, pages)
			rows += pages
			var n int
			if err := reader.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != rows {
				t.Fatalf("synchronous=%s, a commit of about %d pages: another connection sees %d rows (%v), want %d", synchronous, pages, n, err, rows)
			}
		}
	}
}
