package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// sqliteError makes a real error of the SQLite driver: a write to a
// database opened read-only, or a broken constraint.
func sqliteError(t *testing.T, readOnly bool) error {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if readOnly {
		ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := ro.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
		_, err = ro.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
	return err
}

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("read idempotency keys: %w", refused), true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"disk full on the server", &pgconn.PgError{Code: "53100"}, true},
		{"server read-only", &pgconn.PgError{Code: "25006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"SQLite read-only", sqliteError(t, true), true},
		{"SQLite constraint", sqliteError(t, false), false},
		{"no space left", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"business failure", ledger.ErrInsufficientPoints, false},
		{"replay", errReplay, false},
		{"no error", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := classify(c.err)
			if errors.Is(got, ledger.ErrStoreUnavailable) != c.want {
				t.Errorf("classify(%v) = %v: unavailable %v, want %v", c.err, got, !c.want, c.want)
			}
			if c.err != nil && !errors.Is(got, c.err) {
				t.Errorf("classify(%v) = %v lost the cause", c.err, got)
			}
			if ledger.ErrorCode(got) == "unavailable" != c.want {
				t.Errorf("code %q", ledger.ErrorCode(got))
			}
		})
	}
}

// A failed commit is always unavailable (its outcome is unknown), with the
// reason when the error tells it.
func TestStoreUnavailable(t *testing.T) {
	err := storeUnavailable("commit", sqliteError(t, true))
	if !errors.Is(err, ledger.ErrStoreUnavailable) || !strings.Contains(err.Error(), "the database cannot be written") {
		t.Errorf("read-only commit: %v", err)
	}
	err = storeUnavailable("commit", errors.New("something else"))
	if !errors.Is(err, ledger.ErrStoreUnavailable) || err.Error() != "store unavailable: commit: something else" {
		t.Errorf("unknown commit failure: %v", err)
	}
}
