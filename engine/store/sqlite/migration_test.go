package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
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
	s := openMigrated(t, path)
	storetest.CheckLegacyReversedPurchase(t, s)
}

// TestMigrationClustersTablesKeepingTheirRows copies a rich ledger into a
// database of the schema before migration 13, opens a store over it, and
// checks that the tables it rebuilds in key order kept every row.
func TestMigrationClustersTablesKeepingTheirRows(t *testing.T) {
	dir := t.TempDir()
	src, err := Open(context.Background(), Options{Path: filepath.Join(dir, "current.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	storetest.RichLedger(t, src)

	path := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(0)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // the attached database belongs to the connection
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.MigrateBefore(t, db, sub, 13)
	copyTables(t, db, filepath.Join(dir, "current.db"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openMigrated(t, path)
	schema, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := schema.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	for _, table := range []string{"member_activity_daily", "member_campaigns", "member_tiers"} {
		var ddl string
		if err := schema.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&ddl); err != nil {
			t.Fatalf("schema of %s: %v", table, err)
		}
		if !strings.HasSuffix(ddl, "WITHOUT ROWID") {
			t.Errorf("%s after the migration: %s", table, ddl)
		}
	}
	storetest.CheckSameLedger(t, src, s)
}

// copyTables copies every row of the ledger tables of the database at
// from into db's tables of the same names, whose columns come in the same
// order.
// openMigrated opens a store on the file at path, which migrates it, and
// closes it when the test ends.
func openMigrated(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Path: path})
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

func copyTables(t *testing.T, db *sql.DB, from string) {
	t.Helper()
	if _, err := db.Exec(`ATTACH DATABASE ? AS src`, from); err != nil {
		t.Fatal(err)
	}
	// Tables of later migrations are not in the old schema yet: they are
	// created, empty, when it is migrated.
	rows, err := db.Query(`SELECT name FROM src.sqlite_master WHERE type = 'table'
		AND name NOT IN ('schema_migrations', 'sqlite_sequence')
		AND name IN (SELECT name FROM main.sqlite_master WHERE type = 'table') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, table := range tables {
		if _, err := db.Exec(`INSERT INTO main.` + table + ` SELECT * FROM src.` + table); err != nil {
			t.Fatalf("copy %s: %v", table, err)
		}
	}
	if _, err := db.Exec(`DETACH DATABASE src`); err != nil {
		t.Fatal(err)
	}
}
