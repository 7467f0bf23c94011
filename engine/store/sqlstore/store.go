package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
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
}

// Store is a ledger.Ledger over a SQL database.
type Store struct {
	cfg       Config
	writers   []*writer
	closeOnce sync.Once
	closeErr  error
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
	if err := migrate(ctx, cfg.WriteDB, cfg.Dialect); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Dialect.Name, err)
	}
	s := &Store{cfg: cfg}
	for range cfg.Shards {
		s.writers = append(s.writers, newWriter(cfg.WriteDB, cfg.Dialect, cfg.MaxBatch))
	}
	return s, nil
}

// Close answers queued writes, stops the writers and closes the databases.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		for _, w := range s.writers {
			w.close()
		}
		s.closeErr = s.cfg.WriteDB.Close()
		if s.cfg.ReadDB != s.cfg.WriteDB {
			if err := s.cfg.ReadDB.Close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// Ping checks both connection pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.cfg.WriteDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
	}
	if err := s.cfg.ReadDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
	}
	return nil
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

// run submits a job to the member's writer and waits for its answer.
func (s *Store) run(ctx context.Context, memberID string, apply func(context.Context, *txn) ([]byte, error)) ([]byte, error) {
	done, err := s.writerFor(memberID).submit(ctx, memberID, apply)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// idempotent wraps an operation: the key is claimed first, so a concurrent
// writer of the same key (another shard or process) waits for ours and then
// sees it; a known key replays the stored result or is refused as reused.
func idempotent(op ledger.Op, key string, normReq any, now time.Time, apply func(context.Context, *txn) (any, error)) func(context.Context, *txn) ([]byte, error) {
	hash := ledger.RequestHash(op, normReq)
	return func(ctx context.Context, tx *txn) ([]byte, error) {
		res, err := tx.exec(ctx, `INSERT INTO idempotency_keys (idem_key, op, request_hash, result, created_at)
			VALUES (?, ?, ?, '', ?) ON CONFLICT DO NOTHING`, key, string(op), hash, now.UnixMicro())
		if err != nil {
			return nil, fmt.Errorf("claim idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("claim idempotency key: %w", err)
		} else if n == 0 {
			var storedHash, stored string
			if err := tx.queryRow(ctx, `SELECT request_hash, result FROM idempotency_keys WHERE idem_key = ?`, key).Scan(&storedHash, &stored); err != nil {
				return nil, fmt.Errorf("read idempotency key: %w", err)
			}
			if storedHash != hash {
				return nil, ledger.ErrIdempotencyReuse
			}
			return []byte(stored), errReplay
		}
		result, err := apply(ctx, tx)
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(result)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE idempotency_keys SET result = ? WHERE idem_key = ?`, string(out), key); err != nil {
			return nil, fmt.Errorf("store idempotency result: %w", err)
		}
		return out, nil
	}
}

// errReplay marks a stored result being returned; the savepoint is rolled
// back (nothing was written) and the result still reaches the caller.
var errReplay = errors.New("replayed")

// write runs an idempotent operation and decodes its result into out,
// reporting whether it was a replay.
func (s *Store) write(ctx context.Context, memberID string, op ledger.Op, key string, normReq any, out any, apply func(context.Context, *txn) (any, error)) (bool, error) {
	raw, err := s.run(ctx, memberID, idempotent(op, key, normReq, s.now(), apply))
	replayed := errors.Is(err, errReplay)
	if err != nil && !replayed {
		return false, fmt.Errorf("%s %s: %w", op, memberID, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("%s %s: decode result: %w", op, memberID, err)
	}
	return replayed, nil
}

// Stats counts the group commits so far.
type Stats struct {
	Commits int64 `json:"commits"`
	Ops     int64 `json:"ops"`
}

// Stats sums the writers' counters; Ops/Commits is the mean batch size.
func (s *Store) Stats() Stats {
	var st Stats
	for _, w := range s.writers {
		st.Commits += w.commits.Load()
		st.Ops += w.ops.Load()
	}
	return st
}
