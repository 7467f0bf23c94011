package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The syncer follows the WAL file at its path: a file put in its place is
// the one synced from then on, and a missing file is an error, never a
// sync of a file that no longer holds the commits. Only the syncs that
// succeeded are reported.
func TestWALSyncerFollowsTheFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ledger.db")
	var reported []time.Duration
	w := newWALSyncer(db, func(d time.Duration) { reported = append(reported, d) })
	defer func() {
		if err := w.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	write := func() os.FileInfo {
		t.Helper()
		if err := os.WriteFile(db+"-wal", []byte("frames"), 0o600); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(db + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	if err := w.sync(); err == nil {
		t.Fatal("sync of a missing WAL file succeeded")
	}
	first := write()
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(w.fi, first) {
		t.Fatal("the syncer holds another file than the WAL")
	}
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err == nil {
		t.Fatal("sync after the WAL file was removed succeeded")
	}
	second := write()
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(w.fi, second) || os.SameFile(second, first) {
		t.Fatal("the syncer did not reopen the new WAL file")
	}
	if len(reported) != 2 {
		t.Fatalf("%d syncs reported, want the 2 that succeeded", len(reported))
	}
}
