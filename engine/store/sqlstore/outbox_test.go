package sqlstore

import (
	"context"
	"errors"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// An operation that emitted an event and then failed after writing is
// rolled back with its event; the batch's other operations keep theirs.
func TestRolledBackWriteEmitsNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := openSQLiteStore(t)
	if _, err := s.Enroll(ctx, ledger.EnrollRequest{IdempotencyKey: "enroll-m1", MemberID: "m1"}); err != nil {
		t.Fatal(err)
	}
	j, err := s.earnJob(ctx, ledger.EarnRequest{IdempotencyKey: "e1", MemberID: "m1", EventID: "o1", Points: 10})
	if err != nil {
		t.Fatal(err)
	}
	errLate := errors.New("failed after writing")
	late := &job{memberID: "m1", done: make(chan jobResult, 1), apply: func(ctx context.Context, tx *txn) (any, []byte, error) {
		m, err := tx.member(ctx, "m1")
		if err != nil {
			return nil, nil, err
		}
		if _, _, err := changeBalance(ctx, tx, m, entry{kind: ledger.EntryAdjust, available: 1, lifetime: 1}); err != nil {
			return nil, nil, err
		}
		if _, err := tx.exec(ctx, `UPDATE members SET tags = '["x"]' WHERE id = 'm1'`); err != nil {
			return nil, nil, err
		}
		return nil, nil, errLate
	}}
	batch := []*job{late, j}
	s.writers[0].commit(batch)
	if r := <-late.done; !errors.Is(r.err, errLate) {
		t.Fatalf("late job: %v", r.err)
	}
	if r := <-j.done; r.err != nil {
		t.Fatalf("earn: %v", r.err)
	}
	evs, err := s.OutboxAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != ledger.EventMemberEnrolled || evs[1].Type != ledger.EventPointsEarned || evs[1].Seq != 2 {
		t.Fatalf("outbox %+v: want the enrolment and the earn only, numbered 1 and 2", evs)
	}
}
