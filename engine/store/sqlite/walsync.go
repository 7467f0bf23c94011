package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// walSyncer makes the writer's commits durable after they return. The
// writer runs with synchronous=NORMAL, so a commit is in the WAL file but
// possibly only in the page cache; one fsync of the WAL file then makes
// every commit before it durable, and the store calls it beside the
// writer, which meanwhile applies its next batch (sqlstore's durability).
// A power loss before the fsync loses those commits together: WAL frames
// carry cumulative checksums, so recovery keeps a prefix of the commits
// and never a later one without an earlier one.
//
// It keeps a descriptor of its own on the WAL file and reopens it when the
// file at the path is another one (SQLite deletes the WAL when its last
// connection closes), syncing the directory then too, so that a new WAL
// file's name is durable as well as its content.
type walSyncer struct {
	path    string
	observe func(time.Duration) // told how long each successful sync took; may be nil
	// grown, if set, is told the WAL file's size at each sync, which
	// follows every group commit: the checkpointer hears of a log over
	// its limit at once.
	grown  func(size int64)
	f      *os.File
	fi     os.FileInfo
	synced atomic.Int64 // successful syncs
}

func newWALSyncer(dbPath string, observe func(time.Duration)) *walSyncer {
	return &walSyncer{path: dbPath + "-wal", observe: observe}
}

func (w *walSyncer) sync() error {
	fi, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("sqlite: sync WAL: %w", err)
	}
	if w.grown != nil {
		w.grown(fi.Size())
	}
	if w.f == nil || !os.SameFile(fi, w.fi) {
		if err := w.reopen(); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("sqlite: sync WAL: %w", err)
	}
	if w.observe != nil {
		w.observe(time.Since(start))
	}
	w.synced.Add(1)
	return nil
}

// count is the number of successful syncs so far; the store syncs after
// every group commit, so an unchanged count means no write was made.
func (w *walSyncer) count() int64 { return w.synced.Load() }

// reopen opens the file now at the path; should it have been replaced
// since the stat above, the newer one is the one to sync.
func (w *walSyncer) reopen() error {
	if w.f != nil {
		_ = w.f.Close() // only synced, never written through: nothing to lose
		w.f = nil
	}
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite: open WAL to sync it: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return errors.Join(fmt.Errorf("sqlite: open WAL to sync it: %w", err), f.Close())
	}
	dir, err := os.Open(filepath.Dir(w.path))
	if err != nil {
		return errors.Join(fmt.Errorf("sqlite: sync WAL directory: %w", err), f.Close())
	}
	if err := errors.Join(dir.Sync(), dir.Close()); err != nil {
		return errors.Join(fmt.Errorf("sqlite: sync WAL directory: %w", err), f.Close())
	}
	w.f, w.fi = f, fi
	return nil
}

// close releases the descriptor.
func (w *walSyncer) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
