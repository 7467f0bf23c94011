package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// TestMigrationKeepsSpendOfReversedPurchases opens a store over a ledger
// written before purchases kept their refunded amount.
func TestMigrationKeepsSpendOfReversedPurchases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.MigrateBefore(t, db, sub, 11)
	storetest.LegacyReversedPurchase(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	storetest.CheckLegacyReversedPurchase(t, s)
}
