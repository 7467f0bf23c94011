package sqlite

import (
	"os"
	"syscall"
)

// fdatasync syncs a file's data and the metadata needed to read it back
// (its size), not its times, as SQLite's own WAL sync does on Linux: an
// fsync would also write the inode for every commit's new mtime.
func fdatasync(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
