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

// An operation that fails after it wrote is undone by rolling the batch back
// and running it again without that operation; business failures in the same
// batch write nothing, and the other operations apply once.
func TestBatchFailureAfterWrite(t *testing.T) {
	ctx := context.Background()
	s, db := openSQLiteStore(t)
	for _, id := range []string{"m1", "m2"} {
		if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
			t.Fatal(err)
		}
	}
	earn := func(id, ev string) *job {
		j, err := s.earnJob(context.Background(), ledger.EarnRequest{IdempotencyKey: id + ev, MemberID: id, EventID: ev, Points: 10})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	errLate := errors.New("failed after writing")
	late := &job{memberID: "m1", done: make(chan jobResult, 1), apply: func(ctx context.Context, tx *txn) (any, []byte, error) {
		if _, err := tx.exec(ctx, `INSERT INTO members (id, tags, enrolled_at) VALUES ('ghost', '[]', 0)`); err != nil {
			return nil, nil, err
		}
		m, err := tx.member(ctx, "m1")
		if err != nil {
			return nil, nil, err
		}
		if _, _, err := changeBalance(ctx, tx, m, entry{kind: ledger.EntryAdjust, available: 1, lifetime: 1}); err != nil {
			return nil, nil, err
		}
		return nil, nil, errLate
	}}
	batch := []*job{earn("m1", "o1"), late, earn("m1", "o1"), earn("m2", "o1"), earn("m1", "o2")}
	s.writers[0].commit(batch)
	for i, want := range []error{nil, errLate, errReplay, nil, nil} {
		r := <-batch[i].done
		if !errors.Is(r.err, want) && !(want == nil && r.err == nil) {
			t.Fatalf("job %d: error %v, want %v", i, r.err, want)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM members WHERE id = 'ghost'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the failed operation's write survived: %d rows, %v", n, err)
	}
	for id, want := range map[string]int64{"m1": 20, "m2": 10} {
		v, err := s.Member(ctx, id, ledger.NormTime(s.cfg.Now()))
		if err != nil || v.Available != want {
			t.Fatalf("%s: %+v %v, want %d available", id, v.Balance, err, want)
		}
	}
	if err := s.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// An operation that adds a lot to a member whose lots the batch already
// read (a redemption's prefetch, or a second operation of a hot member)
// must be seen by the member's later operations in the same batch.
func TestBatchSeesLotsAddedBeforeLaterOperations(t *testing.T) {
	ctx := context.Background()
	s, _ := openSQLiteStore(t)
	now := s.cfg.Now()
	later := now.Add(24 * time.Hour)
	for _, id := range []string{"m1", "m2"} {
		if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-" + id, MemberID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "m1-o0", MemberID: "m1", EventID: "o0", Points: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Earn(ctx, ledger.EarnRequest{IdempotencyKey: "m2-p0", MemberID: "m2", EventID: "p0", Points: 30, AvailableAt: later}); err != nil {
		t.Fatal(err)
	}
	jobs := func(j *job, err error) *job {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	batch := []*job{
		// m1: the batch reads m1's available lots (10) for its redemptions.
		jobs(s.redeemJob(ledger.RedeemRequest{IdempotencyKey: "m1-r1", MemberID: "m1", Points: 10})),
		jobs(s.earnJob(ctx, ledger.EarnRequest{IdempotencyKey: "m1-o1", MemberID: "m1", EventID: "o1", Points: 50})),
		jobs(s.redeemJob(ledger.RedeemRequest{IdempotencyKey: "m1-r2", MemberID: "m1", Points: 40})),
		// m2: a reversal reads m2's pending lots, then a pending earn adds one.
		jobs(s.reverseJob(ctx, ledger.ReverseRequest{IdempotencyKey: "m2-v0", MemberID: "m2", EventID: "p0", Points: 10})),
		jobs(s.earnJob(ctx, ledger.EarnRequest{IdempotencyKey: "m2-p1", MemberID: "m2", EventID: "p1", Points: 50, AvailableAt: later})),
		jobs(s.reverseJob(ctx, ledger.ReverseRequest{IdempotencyKey: "m2-v1", MemberID: "m2", EventID: "p1"})),
	}
	s.writers[0].commit(batch)
	for i, j := range batch {
		if r := <-j.done; r.err != nil {
			t.Fatalf("job %d: %v", i, r.err)
		}
	}
	if r, err := s.Reverse(ctx, ledger.ReverseRequest{IdempotencyKey: "m2-v1", MemberID: "m2", EventID: "p1"}); err != nil || r.FromPending != 50 || r.Shortfall != 0 {
		t.Fatalf("reversal of the lot added in the batch: %+v %v, want 50 from pending and no shortfall", r, err)
	}
	for id, want := range map[string]ledger.Balance{"m1": {Available: 10, LifetimeEarned: 60}, "m2": {Pending: 20, LifetimeEarned: 20}} {
		v, err := s.Member(ctx, id, ledger.NormTime(now))
		if err != nil || v.Balance != want {
			t.Fatalf("%s: %+v %v, want %+v", id, v.Balance, err, want)
		}
	}
	if err := s.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// openSQLiteStore opens a store on a fresh SQLite file with one connection.
func openSQLiteStore(t *testing.T) (*Store, *sql.DB) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "ledger.db")+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	s, err := New(context.Background(), Config{
		Dialect: &Dialect{Name: "sqlite", Migrations: os.DirFS("../sqlite/migrations"), CacheStatements: true},
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
	return s, db
}
