// Package postgres is the ledger store on PostgreSQL. Several shard writers
// (keyed by member id) group-commit in parallel, and several engine processes
// may share one database: every write locks the member row, so no balance is
// kept in memory.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/loyaltyops/loyalty-operator/engine/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure the store.
type Options struct {
	// URL is a libpq-style connection string or URL.
	URL string
	// Schema, if set, is created if missing and used as the search_path.
	Schema string
	// Shards is the number of parallel writers (default 4).
	Shards int
	// ReadConns is the number of connections for reads (default 4).
	ReadConns int
	// MaxBatch caps writes per transaction (default 256).
	MaxBatch int
	// Now is the clock for recorded times (default time.Now).
	Now func() time.Time
	// OnCommit observes group commits (see sqlstore.Config).
	OnCommit func(ops int, d time.Duration)
	// MaxReadAge is the longest a read may hold its snapshot (see
	// sqlstore.Config.MaxReadAge; default sqlstore.DefaultMaxReadAge).
	MaxReadAge time.Duration
}

// Open connects, migrates the schema and starts the writers.
func Open(ctx context.Context, opts Options) (*sqlstore.Store, error) {
	if opts.Shards <= 0 {
		opts.Shards = 4
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	cfg, err := pgx.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	// Acknowledged writes must be durable whatever the server default.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	// Plan each execution for its own arguments: a generic plan cached while
	// the tables were small keeps scanning them whole once they have grown
	// (seen as sequential scans of events behind the duplicate-event check).
	cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	if opts.Schema != "" {
		if err := createSchema(ctx, cfg, opts.Schema); err != nil {
			return nil, err
		}
		cfg.RuntimeParams["search_path"] = opts.Schema
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.Shards + opts.ReadConns)
	db.SetMaxIdleConns(opts.Shards + opts.ReadConns)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: connect: %w", err), db.Close())
	}
	s, err := sqlstore.New(ctx, sqlstore.Config{
		Dialect: &sqlstore.Dialect{
			Name:           "postgres",
			NumberedParams: true,
			ForUpdate:      " FOR UPDATE",
			MigrationLock:  fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey(opts.Schema)),
			Migrations:     sub,
			Arrays:         true,
			Retryable:      retryable,
		},
		WriteDB:    db,
		ReadDB:     db,
		Shards:     opts.Shards,
		MaxBatch:   opts.MaxBatch,
		Now:        opts.Now,
		OnCommit:   opts.OnCommit,
		MaxReadAge: opts.MaxReadAge,
	})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

func createSchema(ctx context.Context, cfg *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: create schema %s: %w", schema, err)
	}
	return nil
}

// migrationLockKey makes the advisory lock per schema, so isolated schemas
// migrate independently.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("loyalty-ledger-migrations:" + schema))
	return int64(h.Sum64() >> 1)
}

// retryable is true for a deadlock or serialisation failure with another
// transaction, or for an idempotency key another process recorded after the
// batch looked it up; running the batch again resolves it (the key is then
// found and replayed or refused).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40P01" || pgErr.Code == "40001" ||
		(pgErr.Code == "23505" && pgErr.ConstraintName == "idempotency_keys_pkey")
}
