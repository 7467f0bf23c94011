package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
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

// newJob makes the job of an idempotent operation: the key is looked up
// first (prefetched with the batch's other keys); a known key replays the
// stored result or is refused as reused; otherwise the operation is applied
// and the key recorded with its result. With claimFirst the key is inserted
// before the operation runs, so that a concurrent writer of the same key in
// another process waits for ours and then sees it; operations that lock an
// existing member row are serialised by that lock instead.
//
// The request is identified by the caller's fingerprint when given, else by
// the hash of the normalised request.
func (s *Store) newJob(memberID, eventID string, op ledger.Op, key, fingerprint string, normReq any, claimFirst bool, apply func(context.Context, *txn) (any, error)) *job {
	hash := fingerprint
	if hash == "" {
		hash = ledger.RequestHash(op, normReq)
	}
	now := s.now().UnixMicro()
	j := &job{memberID: memberID, key: key, eventID: eventID, spends: op == ledger.OpRedeem, done: make(chan jobResult, 1)}
	j.apply = func(ctx context.Context, tx *txn) (any, []byte, error) {
		if rec, ok := tx.keys[key]; ok {
			if rec.hash != hash {
				return nil, nil, ledger.ErrIdempotencyReuse
			}
			return nil, rec.result, errReplay
		}
		if claimFirst {
			res, err := tx.exec(ctx, `INSERT INTO idempotency_keys (idem_key, op, request_hash, result, created_at)
				VALUES (?, ?, ?, '', ?) ON CONFLICT DO NOTHING`, key, string(op), hash, now)
			if err != nil {
				return nil, nil, fmt.Errorf("claim idempotency key: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return nil, nil, fmt.Errorf("claim idempotency key: %w", err)
			} else if n == 0 {
				var storedHash, stored string
				if err := tx.queryRow(ctx, `SELECT request_hash, result FROM idempotency_keys WHERE idem_key = ?`, []any{&storedHash, &stored}, key); err != nil {
					return nil, nil, fmt.Errorf("read idempotency key: %w", err)
				}
				if storedHash != hash {
					return nil, nil, ledger.ErrIdempotencyReuse
				}
				result, err := loadResult(stored)
				if err != nil {
					return nil, nil, fmt.Errorf("idempotency key %q: %w", key, err)
				}
				return nil, result, errReplay
			}
		}
		val, err := apply(ctx, tx)
		if err != nil {
			return nil, nil, err
		}
		out, err := jsonenc.Marshal(val)
		if err != nil {
			return nil, nil, fmt.Errorf("encode result: %w", err)
		}
		if claimFirst {
			if _, err := tx.exec(ctx, `UPDATE idempotency_keys SET result = ? WHERE idem_key = ?`, storedResult(out), key); err != nil {
				return nil, nil, fmt.Errorf("store idempotency result: %w", err)
			}
			tx.keys[key] = idemRecord{hash: hash, result: out}
		} else {
			tx.addKey(idemRow{key: key, op: string(op), hash: hash, result: out, createdAt: now})
		}
		return val, out, nil
	}
	return j
}

// submit queues a job with the member's writer.
func (s *Store) submit(ctx context.Context, j *job) error {
	_, err := s.writerFor(j.memberID).submit(ctx, []*job{j})
	return err
}

// submitAll queues jobs so that those of each writer are committed
// together. It returns an error for each job that was not queued.
func (s *Store) submitAll(ctx context.Context, jobs []*job) []error {
	errs := make([]error, len(jobs))
	byWriter := map[*writer][]int{}
	for i, j := range jobs {
		w := s.writerFor(j.memberID)
		byWriter[w] = append(byWriter[w], i)
	}
	for w, idx := range byWriter {
		group := make([]*job, len(idx))
		for k, i := range idx {
			group[k] = jobs[i]
		}
		queued, err := w.submit(ctx, group)
		for _, i := range idx[queued:] {
			errs[i] = err
		}
	}
	return errs
}

// wait returns the job's answer, its error marked as the store being
// unavailable when the database could not be reached or written.
func wait(ctx context.Context, j *job) jobResult {
	select {
	case r := <-j.done:
		r.err = classify(r.err)
		return r
	case <-ctx.Done():
		return jobResult{err: ctx.Err()}
	}
}

// errReplay marks a stored result being returned; nothing was written and
// the result still reaches the caller.
var errReplay = errors.New("replayed")

// decode turns a job's answer into the operation's result, reporting
// whether it was a replay.
func decode[T any](r jobResult, op ledger.Op, memberID string) (T, bool, error) {
	var out T
	if errors.Is(r.err, errReplay) {
		if err := json.Unmarshal(r.raw, &out); err != nil {
			return out, false, fmt.Errorf("%s %s: decode result: %w", op, memberID, err)
		}
		return out, true, nil
	}
	if r.err != nil {
		return out, false, fmt.Errorf("%s %s: %w", op, memberID, r.err)
	}
	v, ok := r.val.(T)
	if !ok {
		return out, false, fmt.Errorf("%s %s: unexpected result %T", op, memberID, r.val)
	}
	return v, false, nil
}

// write runs an idempotent operation and returns its result, reporting
// whether it was a replay.
func write[T any](ctx context.Context, s *Store, memberID, eventID string, op ledger.Op, key, fingerprint string, normReq any, claimFirst bool, apply func(context.Context, *txn) (T, error)) (T, bool, error) {
	j := s.newJob(memberID, eventID, op, key, fingerprint, normReq, claimFirst, func(ctx context.Context, tx *txn) (any, error) {
		v, err := apply(ctx, tx)
		if err != nil {
			return nil, err
		}
		return v, nil
	})
	if err := s.submit(ctx, j); err != nil {
		var zero T
		return zero, false, err
	}
	return decode[T](wait(ctx, j), op, memberID)
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
