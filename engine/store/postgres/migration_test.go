package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

// TestMigrationKeepsSpendOfReversedPurchases opens a store over a ledger
// written before purchases kept their refunded amount.
func TestMigrationKeepsSpendOfReversedPurchases(t *testing.T) {
	s := openLegacy(t, 11, storetest.LegacyReversedPurchase)
	storetest.CheckLegacyReversedPurchase(t, s)
}

// TestMigrationSpendsEmptiedLots opens a store over a ledger written before
// emptied lots were spent.
func TestMigrationSpendsEmptiedLots(t *testing.T) {
	s := openLegacy(t, 14, storetest.LegacyEmptiedLots)
	storetest.CheckLegacyEmptiedLots(t, s)
}

// openLegacy migrates a fresh schema to before version, has write add rows
// as that schema kept them, and opens a store over it, which migrates it
// the rest of the way.
func openLegacy(t *testing.T, version int64, write func(testing.TB, *sql.DB)) *sqlstore.Store {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set; PostgreSQL tests cannot be skipped in CI")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "ledger_test_" + hex.EncodeToString(b)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := createSchema(ctx, cfg, schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.MigrateBefore(t, db, sub, version)
	write(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Options{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}
