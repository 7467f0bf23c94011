package sqlite

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// SQLite primary result codes (the low byte of an extended code) of a
// database that cannot be written.
const (
	sqliteReadOnly = 8  // read-only file, directory or volume
	sqliteIOErr    = 10 // the disk refused a read or write (EIO, EFBIG, ...)
	sqliteFull     = 13 // disk full
	sqliteCantOpen = 14 // the file or its journal cannot be opened
)

// health is the store's write health (ledger.StoreHealth), from three
// conditions, each with its reason or empty:
//   - full: a write or checkpoint failed for lack of room. Writes are
//     refused until the volume has room again (see reserve.go), so that
//     the reserve released for the checkpoint is not written away.
//   - failed: the last write failed because the database cannot be
//     written for another reason (an I/O error, a read-only volume).
//     Writes are still tried; the first that commits clears it.
//   - stalled: the write-ahead log is over its limit and readers keep a
//     checkpoint from restarting it. Writes go on.
//
// The state is the first condition that holds, in that order. Each change
// of state is told to notify once, so that it is logged once and not per
// request.
type health struct {
	now    func() time.Time
	notify func(ledger.StoreHealth) // may be nil

	mu                    sync.Mutex
	full, failed, stalled string
	current               ledger.StoreHealth
}

func newHealth(now func() time.Time, notify func(ledger.StoreHealth)) *health {
	return &health{now: now, notify: notify, current: ledger.StoreHealth{State: ledger.StoreOK, Writable: true, Since: now()}}
}

// get is the health now.
func (h *health) get() ledger.StoreHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current
}

// writable refuses writes while the volume is full.
func (h *health) writable() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full == "" {
		return nil
	}
	return fmt.Errorf("%w: the volume is full (%s): writes are refused until it has room again", ledger.ErrStoreUnavailable, h.full)
}

func (h *health) isFull() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.full != ""
}

func (h *health) isFailed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed != ""
}

func (h *health) isStalled() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stalled != ""
}

func (h *health) setFull(why string)    { h.set(&h.full, why) }
func (h *health) setFailed(why string)  { h.set(&h.failed, why) }
func (h *health) setStalled(why string) { h.set(&h.stalled, why) }

// set records a condition's reason ("" when it no longer holds) and
// derives the state; a new state is told to notify.
func (h *health) set(cond *string, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*cond = why
	next := ledger.StoreHealth{State: ledger.StoreOK, Writable: true}
	switch {
	case h.full != "":
		next = ledger.StoreHealth{State: ledger.StoreDiskFull, Reason: h.full}
	case h.failed != "":
		next = ledger.StoreHealth{State: ledger.StoreWriteFailed, Reason: h.failed}
	case h.stalled != "":
		next = ledger.StoreHealth{State: ledger.StoreCheckpointStalled, Writable: true, Reason: h.stalled}
	}
	if next.State == h.current.State {
		return // the reason it was entered for stays
	}
	next.Since = h.now()
	h.current = next
	if h.notify != nil {
		h.notify(next)
	}
}

// writeFault sorts an error of a write or checkpoint: full when it failed
// for lack of room, unwritable when the database cannot be written for
// another reason, neither for anything else (a constraint, a cancelled
// request, an operation refused by the ledger's rules).
func writeFault(err error) (full, unwritable bool) {
	if err == nil {
		return false, false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true, false
	}
	var lite interface{ Code() int } // modernc.org/sqlite.Error
	if !errors.As(err, &lite) {
		return false, false
	}
	switch lite.Code() & 0xff {
	case sqliteFull:
		return true, false
	case sqliteReadOnly, sqliteIOErr, sqliteCantOpen:
		return false, true
	}
	return false, false
}
