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

// TestMigrationSpendsEmptiedLots opens a store over a ledger written before
// emptied lots were spent.
func TestMigrationSpendsEmptiedLots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.MigrateBefore(t, db, sub, 14)
	storetest.LegacyEmptiedLots(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openMigrated(t, path)
	storetest.CheckLegacyEmptiedLots(t, s)
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

// TestMigrationSpendsEmptiedLotsKeepingTheirRows copies a rich ledger into
// a database of the schema before migration 14, where emptied lots were
// available, opens a store over it, and checks that it holds the same
// ledger, its emptied lots spent and its lot ids going on from the same
// number.
func TestMigrationSpendsEmptiedLotsKeepingTheirRows(t *testing.T) {
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
	db.SetMaxOpenConns(1)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.MigrateBefore(t, db, sub, 14)
	copyTables(t, db, filepath.Join(dir, "current.db"))
	var emptied, nextID int64
	if err := db.QueryRow(`SELECT COUNT(*) FROM lots WHERE state = 'available' AND remaining = 0`).Scan(&emptied); err != nil || emptied == 0 {
		t.Fatalf("%d emptied lots available before the migration, %v; want some", emptied, err)
	}
	// Lot ids are never used again, even those of lots no longer there.
	if _, err := db.Exec(`UPDATE sqlite_sequence SET seq = seq + 100 WHERE name = 'lots'`); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT seq FROM sqlite_sequence WHERE name = 'lots'`).Scan(&nextID); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openMigrated(t, path)
	storetest.CheckSameLedger(t, src, s)
	check, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := check.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	var left, spent, seq int64
	if err := check.QueryRow(`SELECT
			(SELECT COUNT(*) FROM lots WHERE state = 'available' AND remaining = 0),
			(SELECT COUNT(*) FROM lots WHERE state = 'spent'),
			(SELECT seq FROM sqlite_sequence WHERE name = 'lots')`).Scan(&left, &spent, &seq); err != nil {
		t.Fatal(err)
	}
	if left != 0 || spent < emptied || seq < nextID {
		t.Errorf("after the migration: %d emptied lots available, %d spent (of %d emptied), lot sequence %d (was %d)", left, spent, emptied, seq, nextID)
	}
}

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

// copyTables copies every row of the ledger tables of the database at
// from into db's tables of the same names, the columns db's tables have
// (later migrations add tables and columns, with defaults), and keeps
// emptied lots available as the schema before migration 14 did.
func copyTables(t *testing.T, db *sql.DB, from string) {
	t.Helper()
	if _, err := db.Exec(`ATTACH DATABASE ? AS src`, from); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT s.name, (SELECT group_concat(c.name, ', ') FROM pragma_table_info(s.name, 'main') c)
		FROM src.sqlite_master s JOIN main.sqlite_master m ON m.name = s.name AND m.type = 'table'
		WHERE s.type = 'table' AND s.name NOT IN ('schema_migrations', 'sqlite_sequence') ORDER BY s.name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables, columns []string
	for rows.Next() {
		var name, cols string
		if err := rows.Scan(&name, &cols); err != nil {
			t.Fatal(err)
		}
		tables, columns = append(tables, name), append(columns, cols)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// Spent lots are copied as they come, whatever an older schema's
	// CHECK constraint says, and made available again.
	if _, err := db.Exec(`PRAGMA ignore_check_constraints = ON`); err != nil {
		t.Fatal(err)
	}
	for i, table := range tables {
		if _, err := db.Exec(`INSERT INTO main.` + table + ` (` + columns[i] + `) SELECT ` + columns[i] + ` FROM src.` + table); err != nil {
			t.Fatalf("copy %s: %v", table, err)
		}
	}
	for _, q := range []string{`UPDATE main.lots SET state = 'available' WHERE state = 'spent'`, `PRAGMA ignore_check_constraints = OFF`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`DETACH DATABASE src`); err != nil {
		t.Fatal(err)
	}
}
