package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// gatedSync is a SyncCommits that reports each call and returns only when
// the test releases it, with the error the test gives.
type gatedSync struct {
	called  chan struct{}
	release chan error
	stop    chan struct{} // closed when the test ends, so that Close cannot hang
}

func (g *gatedSync) sync() error {
	select {
	case g.called <- struct{}{}:
	case <-g.stop:
		return errors.New("the test ended")
	}
	select {
	case err := <-g.release:
		return err
	case <-g.stop:
		return errors.New("the test ended")
	}
}

// waitCalled returns once a sync has started.
func (g *gatedSync) waitCalled(t *testing.T) {
	t.Helper()
	select {
	case <-g.called:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync started")
	}
}

// openGated opens a store whose syncs the test holds and releases, with
// member m1 enrolled.
func openGated(t *testing.T) (*Store, *gatedSync) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "ledger.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	g := &gatedSync{called: make(chan struct{}), release: make(chan error), stop: make(chan struct{})}
	s, err := New(context.Background(), Config{
		Dialect: &Dialect{Name: "sqlite", Migrations: os.DirFS("../sqlite/migrations"), CacheStatements: true, SyncCommits: g.sync},
		WriteDB: db, ReadDB: db,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	t.Cleanup(func() { close(g.stop) }) // runs first
	// Member m1, enrolled through a held sync: even the first write waits.
	enrolled := result(func() error {
		_, err := s.Enroll(context.Background(), ledger.EnrollRequest{IdempotencyKey: "enroll", MemberID: "m1"})
		return err
	})
	g.waitCalled(t)
	pending(t, "enroll", enrolled)
	g.release <- nil
	if err := received(t, "enroll", enrolled); err != nil {
		t.Fatal(err)
	}
	return s, g
}

// result runs f in the background; its error arrives on the channel.
func result(f func() error) chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

// pending fails the test if c delivers within a short while.
func pending(t *testing.T, what string, c chan error) {
	t.Helper()
	select {
	case err := <-c:
		t.Fatalf("%s returned (%v) before its commit was synced", what, err)
	case <-time.After(100 * time.Millisecond):
	}
}

func received(t *testing.T, what string, c chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return after the sync", what)
		return nil
	}
}

// A write is answered, and a read that saw it returns, only after a sync
// that began after the commit; the writer does not wait for the sync to
// apply its next batch.
func TestCommitsAnsweredOnceSynced(t *testing.T) {
	s, g := openGated(t)
	ctx := context.Background()

	earned := result(func() error {
		_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e1", MemberID: "m1", EventID: "o1", Points: 10})
		return err
	})
	g.waitCalled(t) // the earn is committed and visible, not yet durable
	read := result(func() error {
		v, err := s.Member(ctx, "m1", s.now())
		if err == nil && v.Available != 10 {
			err = errors.New("the read did not see the earn")
		}
		return err
	})
	replayed := result(func() error {
		a, err := s.Replay(ctx, []ledger.ReplayQuery{{Key: "e1"}})
		if err == nil && !a[0].Found {
			err = errors.New("the replay did not find the earn's key")
		}
		return err
	})
	// A key not found shows nothing, so its lookup does not wait.
	if a, err := s.Replay(ctx, []ledger.ReplayQuery{{Key: "unknown"}}); err != nil || a[0].Found {
		t.Fatalf("replay of an unknown key: %+v %v", a, err)
	}
	pending(t, "earn", earned)
	pending(t, "a read that sees the earn", read)
	pending(t, "a replay of the earn's key", replayed)
	// While the sync is in progress the writer applies the next batch; its
	// commit waits for the sync before it, then gets one of its own.
	second := result(func() error {
		_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e2", MemberID: "m1", EventID: "o2", Points: 5})
		return err
	})
	pending(t, "the second earn", second)
	g.release <- nil
	for what, c := range map[string]chan error{"earn": earned, "read": read, "replay": replayed} {
		if err := received(t, what, c); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	g.waitCalled(t)
	pending(t, "the second earn", second)
	g.release <- nil
	if err := received(t, "the second earn", second); err != nil {
		t.Fatal(err)
	}
}

// A failed sync stops the store: the writes it covered get ErrStoreUnavailable
// (their outcome is unknown), and later writes, reads and Ping are refused.
func TestFailedSyncStopsTheStore(t *testing.T) {
	s, g := openGated(t)
	ctx := context.Background()
	earned := result(func() error {
		_, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e1", MemberID: "m1", EventID: "o1", Points: 10})
		return err
	})
	g.waitCalled(t)
	g.release <- errors.New("EIO")
	if err := received(t, "earn", earned); !errors.Is(err, ledger.ErrStoreUnavailable) {
		t.Fatalf("earn whose sync failed: %v, want ErrStoreUnavailable", err)
	}
	// No further sync is attempted: the store has stopped.
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "e2", MemberID: "m1", EventID: "o2", Points: 10}); !errors.Is(err, ledger.ErrStoreUnavailable) {
		t.Fatalf("earn after the failed sync: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.Member(ctx, "m1", s.now()); !errors.Is(err, ledger.ErrStoreUnavailable) {
		t.Fatalf("read after the failed sync: %v, want ErrStoreUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ledger.ErrStoreUnavailable) {
		t.Fatalf("Ping after the failed sync: %v, want ErrStoreUnavailable", err)
	}
}
