package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
)

// Commits leave checkpoints to the store's own connection: committed
// writes reach the database file without a commit doing it, and what
// was written survives closing and opening again. The passes and the WAL
// syncs are reported to the store's hooks.
func TestWALCheckpointedBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	var syncs, passes atomic.Int64
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path,
		OnWALSync:    func(d time.Duration) { observed(t, &syncs, d) },
		OnCheckpoint: func(d time.Duration) { observed(t, &passes, d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	time.Sleep(1500 * time.Millisecond) // the migrations' frames are copied first (passes run every second)
	before := size()
	for i := range 2000 {
		id := fmt.Sprintf("member-%05d", i)
		if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: id, MemberID: id, Tags: []string{"a-tag-to-fill-pages"}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes after 2000 enrollments: the WAL is not checkpointed", before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every enrollment was answered after a sync; a pass that copied
	// frames is reported once it is done.
	if syncs.Load() == 0 {
		t.Fatal("2000 enrollments answered without a WAL sync reported")
	}
	for passes.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the database file grew but no checkpoint pass was reported")
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	if _, err := s.Member(ctx, "member-01999", time.Now()); err != nil {
		t.Fatalf("last enrollment after reopening: %v", err)
	}
	if err := s.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// observed counts a reported duration, which must be positive and short
// on a test's idle volume.
func observed(t *testing.T, n *atomic.Int64, d time.Duration) {
	if d <= 0 || d > time.Minute {
		t.Errorf("reported duration %v", d)
	}
	n.Add(1)
}
