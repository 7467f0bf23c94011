package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// SQLite primary result codes (the low byte of an extended code) that mean
// the database cannot be written now rather than that a request is wrong.
const (
	sqliteBusy     = 5  // locked by another process past the busy timeout
	sqliteReadOnly = 8  // read-only file, directory or volume
	sqliteIOErr    = 10 // the disk refused a read or write (EIO, EFBIG, ...)
	sqliteFull     = 13 // disk full
	sqliteCantOpen = 14 // the file or its journal cannot be opened
)

// unavailable reports whether err says the database is unreachable or
// cannot write for now (a lost connection, a server shutting down, a full
// disk, a read-only volume) rather than that the request or the ledger is
// at fault: the client should retry later with the same idempotency key.
// Drivers are recognised by the methods their errors have, so that this
// package imports neither.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO, syscall.EFBIG,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var pg interface{ SQLState() string } // PostgreSQL (pgconn.PgError)
	if errors.As(err, &pg) {
		return unavailableState(pg.SQLState())
	}
	var lite interface{ Code() int } // SQLite (modernc.org/sqlite.Error)
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqliteBusy, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
	}
	return false
}

// unavailableState is true for the SQLSTATEs of a server that cannot serve
// now: connection exceptions (08), insufficient resources such as a full
// disk (53), shutdown or startup (57P01-57P03), system I/O errors (58) and a
// server in read-only mode (25006).
func unavailableState(state string) bool {
	switch {
	case strings.HasPrefix(state, "08"), strings.HasPrefix(state, "53"), strings.HasPrefix(state, "58"):
		return true
	case state == "57P01", state == "57P02", state == "57P03", state == "25006":
		return true
	}
	return false
}

// classify marks an error that means the database is unavailable as
// ledger.ErrStoreUnavailable, keeping the cause for the log.
func classify(err error) error {
	if err == nil || errors.Is(err, ledger.ErrStoreUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ledger.ErrStoreUnavailable, err)
}
