package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Holder keeps the snapshot in effect. Readers call Current on every request
// and get a consistent snapshot without locking; Apply swaps in a new one only
// when it is valid, so a bad update never replaces the last good configuration.
type Holder struct {
	cur atomic.Pointer[Snapshot]
	log *slog.Logger

	mu     sync.Mutex
	status Status
	// changed is closed, and forgotten, when a new snapshot takes effect.
	changed chan struct{}
}

// Status describes the configuration in effect and the last failed update.
type Status struct {
	// Hash of the snapshot in effect; empty before the first valid one.
	Hash string `json:"hash,omitempty"`
	// Source the snapshot in effect came from, such as a file path or namespace/name of a ConfigMap.
	Source string `json:"source,omitempty"`
	// AppliedAt is when the snapshot in effect was applied.
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// LastError is why the most recent update was rejected; empty once a later update applies.
	LastError string `json:"lastError,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// NewHolder returns an empty holder that logs applied and rejected updates.
func NewHolder(log *slog.Logger) *Holder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Holder{log: log}
}

// Current is the snapshot in effect, or nil before the first valid one.
func (h *Holder) Current() *Snapshot { return h.cur.Load() }

// Changed returns a channel that is closed when a snapshot with another hash
// takes effect. Take it before reading Status, so no change slips between.
func (h *Holder) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	return h.changed
}

// Status reports the applied hash and the last error.
func (h *Holder) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// Apply parses data and, when valid, makes it the snapshot in effect. When
// invalid, the previous snapshot stays and the error is recorded for Status.
func (h *Holder) Apply(source string, data []byte) error {
	s, err := Parse(data)
	if err != nil {
		h.Reject(source, err)
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	hash := s.Hash()
	if hash == h.status.Hash {
		h.status.LastError, h.status.LastErrorAt = "", time.Time{}
		return nil
	}
	h.cur.Store(s)
	h.status = Status{Hash: hash, Source: source, AppliedAt: time.Now().UTC()}
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
	h.log.Info("configuration applied", "source", source, "hash", hash, "program", s.Program.Namespace+"/"+s.Program.Name)
	return nil
}

// Reject records a failed update, such as an unreadable file or a deleted
// ConfigMap, without touching the snapshot in effect.
func (h *Holder) Reject(source string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status.LastError = fmt.Sprintf("%s: %v", source, err)
	h.status.LastErrorAt = time.Now().UTC()
	h.log.Error("configuration rejected; keeping the last good one", "source", source, "error", err.Error(), "hash", h.status.Hash)
}

// WatchFile applies the snapshot at path now and then whenever its contents
// change, polling every interval until ctx ends. Polling the content hash
// (rather than relying on inotify) also catches the symlink swaps Kubernetes
// performs when a mounted ConfigMap changes. The first load's error is
// returned so that a misconfigured engine fails at start; later errors are
// recorded in the holder.
func WatchFile(ctx context.Context, h *Holder, path string, interval time.Duration) error {
	var last [sha256.Size]byte
	load := func() error {
		data, err := os.ReadFile(path)
		if err != nil {
			err = fmt.Errorf("read configuration: %w", err)
			last = [sha256.Size]byte{} // re-apply the file once it is back, clearing the error
			h.Reject(path, err)
			return err
		}
		sum := sha256.Sum256(data)
		if bytes.Equal(sum[:], last[:]) {
			return nil
		}
		last = sum
		return h.Apply(path, data)
	}
	if err := load(); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = load() // recorded in the holder and logged
			}
		}
	}()
	return nil
}
