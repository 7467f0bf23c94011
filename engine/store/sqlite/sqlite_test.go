package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

func open(t testing.TB, path string) ledger.Ledger {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) ledger.Ledger {
		return open(t, filepath.Join(t.TempDir(), "ledger.db"))
	})
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) ledger.Ledger {
		return open(tb, filepath.Join(tb.TempDir(), "ledger.db"))
	})
}
