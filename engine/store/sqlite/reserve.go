package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// reserve is a file of room kept on the database's volume (the database
// path with "-reserve"): when the volume fills, the store deletes it, so
// that a checkpoint has room to copy the write-ahead log into the database
// file and then truncate the log, which gives back the log's room. The
// store makes it again once the volume has room for it and for the log
// besides (see volume.logRoom), and takes writes only while it holds it
// (see health).
//
// Its size is the log's limit: checkpointing a log of that size grows the
// database file by at most as much (when every frame is a new page).
type reserve struct {
	path string
	size int64
}

func newReserve(dbPath string, size int64) *reserve {
	return &reserve{path: dbPath + "-reserve", size: size}
}

// held reports whether the reserve is on the volume, whole.
func (r *reserve) held() bool {
	fi, err := os.Stat(r.path)
	return err == nil && fi.Size() >= r.size
}

// release deletes the reserve, making its room free.
func (r *reserve) release() error {
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: release the reserve: %w", err)
	}
	return nil
}

// take makes the reserve when the volume has room for it and logRoom
// besides, so that writes, which resume once the reserve is back, do not
// fill the volume again at once: a volume where writes failed has less
// room than that once the log is truncated, unless room was made. It is
// made under another name and renamed, so that a reserve on the volume is
// always whole.
func (r *reserve) take(logRoom int64) error {
	if r.held() {
		return nil
	}
	if free, err := freeSpace(filepath.Dir(r.path)); err == nil && free < r.size+logRoom {
		return fmt.Errorf("%s free: the %s reserve and room for the log need %s", mib(free), mib(r.size), mib(r.size+logRoom))
	}
	tmp := r.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create the reserve: %w", err)
	}
	err = allocate(f, r.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, r.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("create the %s reserve: %w", mib(r.size), err)
	}
	return syncDir(filepath.Dir(r.path))
}

// writeZeros fills f with size zero bytes, which a file system that cannot
// allocate without writing needs to hold the room.
func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// mib formats a size in MiB for messages.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
