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

// unavailable says why err means the database is unreachable or cannot
// write for now (a lost connection, a server shutting down, a full disk, a
// read-only volume) rather than that the request or the ledger is at fault,
// and is empty otherwise: the client should retry later with the same
// idempotency key. Drivers are recognised by the methods their errors have,
// so that this package imports neither.
func unavailable(err error) string {
	const (
		unreachable = "the database cannot be reached"
		unwritable  = "the database cannot be written (full disk, file size limit or read-only volume)"
	)
	if err == nil {
		return ""
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO, syscall.EFBIG} {
		if errors.Is(err, errno) {
			return unwritable
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return unreachable
	}
	var pg interface{ SQLState() string } // PostgreSQL (pgconn.PgError)
	if errors.As(err, &pg) {
		return unavailableState(pg.SQLState())
	}
	var lite interface{ Code() int } // SQLite (modernc.org/sqlite.Error)
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqliteBusy:
			return "the database is locked by another process"
		case sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return unwritable
		}
	}
	return ""
}

// unavailableState says why a SQLSTATE means the server cannot serve now:
// connection exceptions (08), shutdown or startup (57P01-57P03),
// insufficient resources such as a full disk (53), system I/O errors (58)
// and a server in read-only mode (25006). It is empty for any other state.
func unavailableState(state string) string {
	switch {
	case strings.HasPrefix(state, "08"), state == "57P01", state == "57P02", state == "57P03":
		return "the database cannot be reached"
	case strings.HasPrefix(state, "53"), strings.HasPrefix(state, "58"), state == "25006":
		return "the database cannot be written (out of resources, I/O error or read-only)"
	}
	return ""
}

// classify marks an error that means the database is unavailable as
// ledger.ErrStoreUnavailable, with the reason and the cause for the log.
func classify(err error) error {
	if err == nil || errors.Is(err, ledger.ErrStoreUnavailable) {
		return err
	}
	why := unavailable(err)
	if why == "" {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ledger.ErrStoreUnavailable, why, err)
}

// storeUnavailable marks the failure of a step whose outcome is unknown
// (beginning or committing a batch) as ledger.ErrStoreUnavailable, whatever
// the error, with the reason when it is known. The cause is formatted, not
// wrapped, so that it is never taken for a failure that can be retried.
func storeUnavailable(step string, err error) error {
	if why := unavailable(err); why != "" {
		return fmt.Errorf("%w: %s: %s: %v", ledger.ErrStoreUnavailable, why, step, err)
	}
	return fmt.Errorf("%w: %s: %v", ledger.ErrStoreUnavailable, step, err)
}
