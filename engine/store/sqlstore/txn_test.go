package sqlstore

import "testing"

// A failed operation's grants are undone to the values before it, also
// when it granted from the same row twice, and earlier operations' grants
// stay. Only the operation after the last mark is ever undone, so the
// mark drops the undo logs of those before it.
func TestUndoRestoresGrants(t *testing.T) {
	tx := newTxn(nil, nil, nil)
	spend, mine := &grantRow{granted: 100}, &grantRow{granted: 7}
	tx.grant(spend, 5)
	tx.addSpend("open", 3)
	first := tx.mark("m1")
	tx.grant(spend, 10)
	tx.grant(spend, 20)
	tx.grant(mine, 4)
	tx.addSpend("open", 2)
	tx.addSpend("new", 9)
	if !tx.undo(first) {
		t.Fatal("undo reported a write")
	}
	if *spend != (grantRow{granted: 105, dirty: true}) || *mine != (grantRow{granted: 7}) {
		t.Fatalf("spend %+v, member %+v; want 105 dirty, 7 clean", *spend, *mine)
	}
	if len(tx.spendDelta) != 1 || tx.spendDelta["open"] != 3 {
		t.Fatalf("spend delta %v, want open: 3", tx.spendDelta)
	}
	if len(tx.grantLog) != 0 || len(tx.spendLog) != 0 {
		t.Fatalf("logs %d and %d long, want both empty", len(tx.grantLog), len(tx.spendLog))
	}
}
