package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// An export imported into a new SQLite store; the round trips with
// PostgreSQL are in the postgres package.
func TestExportImportRoundTrip(t *testing.T) {
	fresh := func(t testing.TB) ledger.Ledger { return open(t, filepath.Join(t.TempDir(), "ledger.db")) }
	storetest.RoundTrip(t, fresh, fresh)
	t.Run("profiles", func(t *testing.T) { storetest.ProfileRoundTrip(t, fresh, fresh) })
}
