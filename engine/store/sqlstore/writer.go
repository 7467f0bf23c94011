package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// job is one write operation run inside a writer's batch transaction.
type job struct {
	memberID string
	apply    func(ctx context.Context, tx *txn) ([]byte, error)
	done     chan jobResult // buffered, so the writer never blocks on answering
}

type jobResult struct {
	out []byte
	err error
}

// maxOpRetries bounds re-running an operation after a deadlock or
// serialisation failure with another process.
const maxOpRetries = 5

// writer is an application-level group commit: one goroutine takes every job
// waiting in its queue, applies them in one transaction, each inside a
// savepoint so that one job's failure does not undo the others, commits once
// and then answers them all. There is no timer; the time a commit takes is
// the window in which the next batch gathers.
type writer struct {
	db       *sql.DB
	dialect  *Dialect
	maxBatch int

	commits, ops atomic.Int64 // committed batches and the jobs in them

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan *job
	done   chan struct{}
}

func newWriter(db *sql.DB, d *Dialect, maxBatch int) *writer {
	w := &writer{
		db:       db,
		dialect:  d,
		maxBatch: maxBatch,
		queue:    make(chan *job, maxBatch),
		done:     make(chan struct{}),
	}
	go w.run()
	return w
}

// submit queues a job; the answer arrives on the returned channel.
func (w *writer) submit(ctx context.Context, memberID string, apply func(context.Context, *txn) ([]byte, error)) (<-chan jobResult, error) {
	j := &job{memberID: memberID, apply: apply, done: make(chan jobResult, 1)}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return nil, ledger.ErrClosed
	}
	select {
	case w.queue <- j:
		return j.done, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// close stops accepting jobs and waits until the queued ones are answered.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	batch := make([]*job, 0, w.maxBatch)
	for first := range w.queue {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < w.maxBatch {
			select {
			case j, ok := <-w.queue:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		w.commit(batch)
	}
}

// commit runs a batch in one transaction and answers every job.
func (w *writer) commit(batch []*job) {
	// A stable order by member keeps row-lock order consistent across
	// processes sharing a database, and keeps each member's jobs in order.
	sort.SliceStable(batch, func(a, b int) bool { return batch[a].memberID < batch[b].memberID })

	ctx := context.Background() // callers may give up; the batch still finishes
	results := make([]jobResult, len(batch))
	err := w.runBatch(ctx, batch, results)
	for i, j := range batch {
		if err != nil {
			j.done <- jobResult{err: err}
			continue
		}
		j.done <- results[i]
	}
}

func (w *writer) runBatch(ctx context.Context, batch []*job, results []jobResult) error {
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: begin: %v", ledger.ErrStoreUnavailable, err)
	}
	tx := &txn{tx: sqlTx, d: w.dialect}
	for i, j := range batch {
		out, err := w.applyOne(ctx, tx, j)
		if errors.Is(err, errTxBroken) {
			_ = sqlTx.Rollback()
			return fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
		}
		results[i] = jobResult{out: out, err: err}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %v", ledger.ErrStoreUnavailable, err)
	}
	w.commits.Add(1)
	w.ops.Add(int64(len(batch)))
	return nil
}

var errTxBroken = errors.New("batch transaction broken")

// applyOne runs a job inside a savepoint, retrying transient conflicts.
func (w *writer) applyOne(ctx context.Context, tx *txn, j *job) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		if _, err := tx.tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			return nil, fmt.Errorf("%w: savepoint: %v", errTxBroken, err)
		}
		out, err := j.apply(ctx, tx)
		if err == nil {
			if _, err := tx.tx.ExecContext(ctx, "RELEASE SAVEPOINT op"); err != nil {
				return nil, fmt.Errorf("%w: release savepoint: %v", errTxBroken, err)
			}
			return out, nil
		}
		if _, rbErr := tx.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT op"); rbErr != nil {
			return nil, fmt.Errorf("%w: rollback to savepoint after %v: %v", errTxBroken, err, rbErr)
		}
		if _, relErr := tx.tx.ExecContext(ctx, "RELEASE SAVEPOINT op"); relErr != nil {
			return nil, fmt.Errorf("%w: release savepoint: %v", errTxBroken, relErr)
		}
		if w.dialect.Retryable != nil && w.dialect.Retryable(err) && attempt < maxOpRetries {
			continue
		}
		return out, err // out carries a replayed result
	}
}

// txn is a transaction that rewrites placeholders for its dialect.
type txn struct {
	tx *sql.Tx
	d  *Dialect
}

func (t *txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(q), args...)
}

func (t *txn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(q), args...)
}

func (t *txn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(q), args...)
}
