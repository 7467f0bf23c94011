package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// An operation that fails after it wrote is undone by rolling the batch back
// and running it again without that operation; business failures in the same
// batch write nothing, and the other operations apply once.
func TestBatchFailureAfterWrite(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "ledger.db")+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	s, err := New(ctx, Config{
		Dialect: &Dialect{Name: "sqlite", Migrations: os.DirFS("../sqlite/migrations"), CacheStatements: true},
		WriteDB: db, ReadDB: db,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
		if _, _, err := record(ctx, tx, m, entry{kind: ledger.EntryAdjust, available: 1, lifetime: 1}); err != nil {
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
