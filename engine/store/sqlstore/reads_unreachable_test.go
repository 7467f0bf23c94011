package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// refusingDriver is a database whose every connection is refused, like a
// PostgreSQL server that is down.
type refusingDriver struct{}

func (refusingDriver) Open(string) (driver.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
}

func init() { sql.Register("refusing", refusingDriver{}) }

// Every read method marks a database it cannot reach as
// ledger.ErrStoreUnavailable, as the writers do, so that the API answers
// 503 with Retry-After instead of 500.
func TestReadsMarkUnreachableDatabase(t *testing.T) {
	ctx := context.Background()
	writeDB, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "ledger.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	readDB, err := sql.Open("refusing", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Config{
		Dialect: &Dialect{Name: "sqlite", Migrations: os.DirFS("../sqlite/migrations"), CacheStatements: true},
		WriteDB: writeDB, ReadDB: readDB,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	now := time.Now()
	tiers := []config.Tier{{Name: "bronze", Qualification: config.TierQualification{MinQualifyingPoints: new(int64)}}}
	reads := map[string]func() error{
		"Member":  func() error { _, err := s.Member(ctx, "m1", now); return err },
		"History": func() error { _, err := s.History(ctx, ledger.HistoryQuery{MemberID: "m1", Limit: 10}); return err },
		"Replay":  func() error { _, err := s.Replay(ctx, []ledger.ReplayQuery{{Key: "k"}}); return err },
		"PricingContexts": func() error {
			_, err := s.PricingContexts(ctx, []ledger.PricingQuery{{MemberID: "m1", OccurredAt: now}})
			return err
		},
		"CampaignSpend":   func() error { _, err := s.CampaignSpend(ctx); return err },
		"Redemptions":     func() error { _, err := s.Redemptions(ctx, "m1"); return err },
		"TierStatus":      func() error { _, err := s.TierStatus(ctx, "m1", tiers, now); return err },
		"Aggregates":      func() error { _, err := s.Aggregates(ctx, now.Add(-time.Hour), now); return err },
		"CheckInvariants": func() error { return s.CheckInvariants(ctx) },
		"Export":          func() error { _, err := s.Export(ctx, io.Discard, ledger.ExportOptions{}); return err },
	}
	for name, read := range reads {
		if err := read(); !errors.Is(err, ledger.ErrStoreUnavailable) {
			t.Errorf("%s: %v, want ErrStoreUnavailable", name, err)
		}
	}
}
