package sqlite

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// liteErr stands for a modernc.org/sqlite error with its result code.
type liteErr int

func (e liteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e liteErr) Code() int     { return int(e) }

func TestWriteFault(t *testing.T) {
	tests := []struct {
		name             string
		err              error
		full, unwritable bool
	}{
		{"committed", nil, false, false},
		{"SQLITE_FULL", fmt.Errorf("commit: %w", liteErr(13)), true, false},
		{"ENOSPC", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true, false},
		{"EDQUOT", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, true, false},
		{"SQLITE_IOERR_WRITE", liteErr(778), false, true},
		{"SQLITE_READONLY", liteErr(8), false, true},
		{"SQLITE_CANTOPEN", liteErr(14), false, true},
		{"SQLITE_CONSTRAINT", liteErr(19), false, false},
		{"refused by the ledger", ledger.ErrInsufficientPoints, false, false},
		{"cancelled", errors.New("context canceled"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full, unwritable := writeFault(tt.err)
			if full != tt.full || unwritable != tt.unwritable {
				t.Errorf("full %v, unwritable %v; want %v, %v", full, unwritable, tt.full, tt.unwritable)
			}
		})
	}
}

// The state is the first condition that holds (full, failed, stalled);
// each change of state is told once, with the reason it was entered for,
// and only a full volume refuses writes up front.
func TestHealthStates(t *testing.T) {
	var told []ledger.StoreHealth
	h := newHealth(time.Now, func(s ledger.StoreHealth) { told = append(told, s) })
	steps := []struct {
		set       func()
		state     string
		reason    string
		writable  bool
		refusing  bool
		announced bool
	}{
		{func() { h.setStalled("log 80 MiB") }, ledger.StoreCheckpointStalled, "log 80 MiB", true, false, true},
		{func() { h.setStalled("log 90 MiB") }, ledger.StoreCheckpointStalled, "log 80 MiB", true, false, false},
		{func() { h.setFailed("writes fail: I/O") }, ledger.StoreWriteFailed, "writes fail: I/O", false, false, true},
		{func() { h.setFull("a write failed: full") }, ledger.StoreDiskFull, "a write failed: full", false, true, true},
		{func() { h.setFailed("") }, ledger.StoreDiskFull, "a write failed: full", false, true, false},
		{func() { h.setFull("") }, ledger.StoreCheckpointStalled, "log 90 MiB", true, false, true},
		{func() { h.setStalled("") }, ledger.StoreOK, "", true, false, true},
		{func() { h.setStalled("") }, ledger.StoreOK, "", true, false, false},
	}
	for i, s := range steps {
		before := len(told)
		s.set()
		got := h.get()
		if got.State != s.state || got.Reason != s.reason || got.Writable != s.writable {
			t.Fatalf("step %d: %+v, want %s (%q), writable %v", i, got, s.state, s.reason, s.writable)
		}
		if refused := h.writable() != nil; refused != s.refusing {
			t.Fatalf("step %d: writes refused %v, want %v", i, refused, s.refusing)
		}
		if announced := len(told) > before; announced != s.announced {
			t.Fatalf("step %d: told %v, want told %v", i, announced, s.announced)
		}
	}
	var states []string
	for _, s := range told {
		states = append(states, s.State)
	}
	want := []string{ledger.StoreCheckpointStalled, ledger.StoreWriteFailed, ledger.StoreDiskFull, ledger.StoreCheckpointStalled, ledger.StoreOK}
	if !slices.Equal(states, want) {
		t.Fatalf("told %v, want %v", states, want)
	}
	if err := (&health{full: "x"}).writable(); !errors.Is(err, ledger.ErrStoreUnavailable) {
		t.Fatalf("refusal %v is not ErrStoreUnavailable", err)
	}
}
