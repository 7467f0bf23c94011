package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Config wires a Store to its database.
type Config struct {
	Dialect *Dialect
	// WriteDB serves the writers; ReadDB serves reads and may be the same.
	WriteDB *sql.DB
	ReadDB  *sql.DB
	// Shards is the number of writers; jobs are routed by member id hash.
	Shards int
	// MaxBatch caps the jobs committed in one transaction.
	MaxBatch int
	// Now is the clock for recording times; defaults to time.Now.
	Now func() time.Time
	// OnCommit, if set, is told of every group commit: the writes it
	// committed and how long its transaction took, begin to durable commit.
	// It runs on the writer's goroutine (or, with Dialect.SyncCommits, the
	// one that syncs), so it must be quick.
	OnCommit func(ops int, d time.Duration)
	// OnClose, if set, runs when the Store closes, after the writers
	// stopped and before the databases close.
	OnClose func() error
	// Release, if set, runs last, once the databases are closed (SQLite:
	// the lock that keeps a second engine off the file).
	Release func() error
	// MaxReadAge is the longest a read may hold its snapshot before it is
	// aborted with ledger.ErrReadAborted (see beginRead): DefaultMaxReadAge
	// when zero, no limit when negative.
	MaxReadAge time.Duration
	// Writable, if set, is asked before each group commit whether writes
	// may run; an error (ledger.ErrStoreUnavailable, with the reason)
	// answers every job of the batch unapplied (SQLite: a full volume).
	Writable func() error
	// OnWriteResult, if set, is told the outcome of every batch
	// transaction on the writer's goroutine: nil when it committed, else
	// why it did not. It must be quick.
	OnWriteResult func(err error)
	// Health, if set, is the store's write health (ledger.Ledger.Health);
	// without it the store reports ok.
	Health func() ledger.StoreHealth
}

// Store is a ledger.Ledger over a SQL database.
type Store struct {
	cfg     Config
	writers []*writer
	durable *durability // with Dialect.SyncCommits
	stmts   *stmtCache  // prepared statements of the writers, if the dialect wants them
	reads   *readStmts  // prepared statements of the read pool, likewise
	members *memberCache
	// readsAborted counts reads ended at MaxReadAge.
	readsAborted atomic.Int64
	started      time.Time
	closeOnce    sync.Once
	closeErr     error
}

var _ ledger.Ledger = (*Store)(nil)

// New migrates the database and starts the writers.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReadAge == 0 {
		cfg.MaxReadAge = DefaultMaxReadAge
	}
	if err := migrate(ctx, cfg.WriteDB, cfg.Dialect); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Dialect.Name, err)
	}
	s := &Store{cfg: cfg, started: time.Now()}
	if cfg.Dialect.SyncCommits != nil {
		// Tickets are taken in commit order only with a single writer.
		if cfg.Shards != 1 {
			return nil, fmt.Errorf("%s: commits synced after they return need a single writer, not %d", cfg.Dialect.Name, cfg.Shards)
		}
		s.durable = newDurability(cfg.Dialect.SyncCommits)
	}
	if cfg.Dialect.CacheStatements {
		s.stmts = newStmtCache(cfg.WriteDB)
		// Preparing takes a connection: with one pool for both, it would
		// wait for the writer's transaction.
		if cfg.ReadDB != cfg.WriteDB {
			s.reads = newReadStmts(cfg.ReadDB)
		}
	}
	s.members = newMemberCache()
	for range cfg.Shards {
		w := newWriter(cfg.WriteDB, cfg.Dialect, cfg.MaxBatch, s.stmts, cfg.OnCommit, s.durable)
		w.members = s.members
		w.writable, w.onResult = cfg.Writable, cfg.OnWriteResult
		s.writers = append(s.writers, w)
	}
	return s, nil
}

// Close answers queued writes, stops the writers and closes the databases.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		for _, w := range s.writers {
			w.close()
		}
		if s.durable != nil {
			s.durable.close()
		}
		if s.stmts != nil {
			s.stmts.close()
		}
		s.reads.close()
		if s.cfg.OnClose != nil {
			s.closeErr = s.cfg.OnClose()
		}
		if err := s.cfg.WriteDB.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
		if s.cfg.ReadDB != s.cfg.WriteDB {
			if err := s.cfg.ReadDB.Close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
		if s.cfg.Release != nil {
			if err := s.cfg.Release(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// Ping checks both connection pools, and that commits can be made durable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.durable.err(); err != nil {
		return err
	}
	if err := s.cfg.WriteDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
	}
	if err := s.cfg.ReadDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
	}
	return nil
}

// Health implements ledger.Ledger.
func (s *Store) Health() ledger.StoreHealth {
	if s.cfg.Health != nil {
		return s.cfg.Health()
	}
	return ledger.StoreHealth{State: ledger.StoreOK, Writable: true, Since: s.started}
}

func (s *Store) now() time.Time { return ledger.NormTime(s.cfg.Now()) }

func (s *Store) writerFor(memberID string) *writer {
	if len(s.writers) == 1 {
		return s.writers[0]
	}
	h := fnv.New32a()
	h.Write([]byte(memberID))
	return s.writers[h.Sum32()%uint32(len(s.writers))]
}

// Stats counts the group commits so far, and the reads aborted for
// holding their snapshot too long.
type Stats struct {
	Commits      int64 `json:"commits"`
	Ops          int64 `json:"ops"`
	ReadsAborted int64 `json:"readsAborted"`
}

// Stats sums the writers' counters; Ops/Commits is the mean batch size.
func (s *Store) Stats() Stats {
	st := Stats{ReadsAborted: s.readsAborted.Load()}
	for _, w := range s.writers {
		st.Commits += w.commits.Load()
		st.Ops += w.ops.Load()
	}
	return st
}
