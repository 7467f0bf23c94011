package postgres_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/sqlite"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// The migration path between the embedded store and PostgreSQL, both ways:
// an export of one imported into a fresh store of the other.
func TestExportImportRoundTrip(t *testing.T) {
	databaseURL(t)
	pg := func(t testing.TB) ledger.Ledger {
		url, schema := freshSchema(t)
		return open(t, url, schema)
	}
	lite := func(t testing.TB) ledger.Ledger {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
	t.Run("sqlite to postgres", func(t *testing.T) { storetest.RoundTrip(t, lite, pg) })
	t.Run("postgres to sqlite", func(t *testing.T) { storetest.RoundTrip(t, pg, lite) })
	t.Run("postgres to postgres", func(t *testing.T) { storetest.RoundTrip(t, pg, pg) })
	t.Run("profiles sqlite to postgres", func(t *testing.T) { storetest.ProfileRoundTrip(t, lite, pg) })
	t.Run("profiles postgres to sqlite", func(t *testing.T) { storetest.ProfileRoundTrip(t, pg, lite) })
}
