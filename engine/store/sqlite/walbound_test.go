package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// walSize is the size of the store's WAL file, 0 when there is none.
func walSize(path string) int64 {
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// walWatch samples the WAL file's size every few milliseconds: the largest
// size seen, and how often it went from above the limit back to at most
// the limit: the log was started again from its beginning and the file
// trimmed (journal_size_limit), or truncated.
type walWatch struct {
	peak, restarts atomic.Int64
	stop           chan struct{}
	done           chan struct{}
}

func watchWAL(path string, limit int64) *walWatch {
	w := &walWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		over := false
		for {
			n := walSize(path)
			w.peak.Store(max(w.peak.Load(), n))
			switch {
			case n > limit:
				over = true
			case over:
				over = false
				w.restarts.Add(1)
			}
			select {
			case <-w.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *walWatch) close() {
	close(w.stop)
	<-w.done
}

// enrollMembers enrolls m0..m(n-1).
func enrollMembers(t *testing.T, s ledger.Ledger, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprint("m", i)
		if _, err := s.Enroll(context.Background(), ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// earnFlatOut earns from writers goroutines as fast as answered until stop
// is closed, and returns how many earns were acknowledged and a wait for
// the writers to end, which a test calls before it closes the store so
// that no earn is still in flight then.
func earnFlatOut(t *testing.T, s ledger.Ledger, writers, members int, stop <-chan struct{}) (*atomic.Int64, func()) {
	var acked atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := fmt.Sprintf("w%d-%d", w, i)
				_, err := s.Earn(context.Background(), ledger.EarnRequest{IdempotencyKey: ev, MemberID: fmt.Sprint("m", (w+i)%members), EventID: ev, Points: 1 + int64(i%50)})
				if err != nil {
					t.Errorf("earn %s: %v", ev, err)
					return
				}
				acked.Add(1)
			}
		})
	}
	return &acked, wg.Wait
}

// Sixteen writers flat out, with readers beside them, never let the WAL
// file grow far past its limit: the checkpointer pauses writes and has
// the log started again each time it outgrows the limit. Without that the log
// never starts again from its beginning while writes go on. The bound
// allows the limit again for what the writer appends while the checkpoint
// waits for the group commit in progress.
func TestWALBoundedUnderSustainedWrites(t *testing.T) {
	const limit = 4 << 20
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, WALLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	enrollMembers(t, s, 64)
	watch := watchWAL(path, limit)
	stop := make(chan struct{})
	start := time.Now()
	acked, writersDone := earnFlatOut(t, s, 16, 64, stop)
	var reads atomic.Int64
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Member(ctx, fmt.Sprint("m", (r+i)%64), time.Time{}); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				reads.Add(1)
			}
		})
	}
	// Until the log outgrew its limit a few times, however slow the machine.
	for watch.restarts.Load() < 5 && time.Since(start) < time.Minute && !t.Failed() {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	readers.Wait()
	writersDone()
	watch.close()
	t.Logf("%d earns and %d reads in %v; WAL peak %.1f MiB, started again %d times over its %d MiB limit",
		acked.Load(), reads.Load(), time.Since(start).Round(time.Second), float64(watch.peak.Load())/(1<<20), watch.restarts.Load(), limit>>20)
	if watch.restarts.Load() < 5 {
		t.Fatalf("the WAL was started again %d times in a minute of writes: the load did not outgrow the limit repeatedly", watch.restarts.Load())
	}
	if peak := watch.peak.Load(); peak > 2*limit {
		t.Fatalf("WAL peaked at %d bytes, over twice its %d-byte limit", peak, limit)
	}
	if err := s.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// Once writes stop the WAL file is truncated to nothing within a couple of
// checkpoint passes; what was written is in the database file and survives
// reopening.
func TestWALTruncatedWhenWritesStop(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	enrollMembers(t, s, 16)
	stop := make(chan struct{})
	acked, writersDone := earnFlatOut(t, s, 8, 16, stop)
	time.Sleep(time.Second)
	close(stop)
	writersDone()
	if walSize(path) == 0 {
		t.Fatal("no WAL after a second of writes: nothing to truncate")
	}
	stopped := time.Now()
	for walSize(path) > 0 {
		if time.Since(stopped) > 5*time.Second {
			t.Fatalf("WAL still %d bytes 5 s after the last write", walSize(path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d earns; WAL truncated %v after the writes stopped", acked.Load(), time.Since(stopped).Round(10*time.Millisecond))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := s.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
	var lifetime int64
	for i := range 16 {
		v, err := s.Member(ctx, fmt.Sprint("m", i), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		lifetime += v.LifetimeEarned
	}
	if lifetime == 0 {
		t.Fatal("no earned points after reopening")
	}
}

// An export whose client stops reading holds a snapshot, which keeps the
// WAL from being restarted while writes go on: the store reports the
// checkpoint stalled, aborts the read at the maximum read age, and the
// WAL is truncated back under its limit while the writes still go on.
func TestStalledExportAbortedAndWALTruncated(t *testing.T) {
	// Small enough that even a starved machine's writes outgrow it well
	// within the maximum read age, so the stall is always seen.
	const limit = 256 << 10
	const maxAge = 1500 * time.Millisecond
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	var mu sync.Mutex
	var states []string
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, WALLimit: limit, MaxReadAge: maxAge, OnHealth: func(h ledger.StoreHealth) {
		mu.Lock()
		states = append(states, h.State)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	enrollMembers(t, s, 16)
	release, exported := storetest.StalledExport(t, s, 16)
	stalledAt := time.Now()
	stop := make(chan struct{})
	acked, writersDone := earnFlatOut(t, s, 8, 16, stop)
	defer writersDone() // before the store closes: deferred calls run last first
	defer close(stop)

	// The snapshot is released at the maximum read age even though the
	// export still waits for its client; the WAL is truncated after it.
	var truncatedAfter time.Duration
	for truncatedAfter == 0 {
		switch elapsed := time.Since(stalledAt); {
		case elapsed > maxAge+500*time.Millisecond && walSize(path) <= limit:
			truncatedAfter = elapsed
		case elapsed > maxAge+5*time.Second:
			t.Fatalf("WAL still %d bytes %v after the export stalled, with a %v maximum read age", walSize(path), elapsed, maxAge)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()
	select {
	case err = <-exported:
	case <-time.After(10 * time.Second):
		t.Fatal("the export did not end once its client read again")
	}
	if !errors.Is(err, ledger.ErrReadAborted) {
		t.Fatalf("export of a stalled client: %v, want ledger.ErrReadAborted", err)
	}
	t.Logf("%d earns meanwhile; WAL back under its limit %v after the export stalled: %v", acked.Load(), truncatedAfter.Round(10*time.Millisecond), err)
	if n := s.Stats().ReadsAborted; n != 1 {
		t.Errorf("%d reads aborted counted, want 1", n)
	}
	// The store reported the stall, and its end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(states)
		mu.Unlock()
		if slices.Equal(got, []string{ledger.StoreCheckpointStalled, ledger.StoreOK}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health states %v, want checkpoint_stalled then ok", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h := s.Health(); h.State != ledger.StoreOK || !h.Writable {
		t.Errorf("health after the stall: %+v", h)
	}
	if _, err := s.Member(ctx, "m0", time.Time{}); err != nil {
		t.Fatalf("read after the abort: %v", err)
	}
}
