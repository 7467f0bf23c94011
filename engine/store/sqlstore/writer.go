package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// job is one write operation run inside a writer's batch transaction.
type job struct {
	memberID string
	// key is the idempotency key (empty for internal jobs); prefetched with
	// the batch's other keys.
	key string
	// eventID is the earn event whose existence the batch prefetches.
	eventID string
	// campaigns are the budgeted campaigns the job grants from; the batch
	// locks their spend rows after its members. bonuses are the capped
	// campaigns it grants from, whose grants to the member the batch reads.
	campaigns, bonuses []string
	// rewards are the rewards whose stock rows the batch locks after the
	// campaigns' spend rows.
	rewards []string
	// members are other members the job writes to (a referrer), locked
	// with the batch's members in id order.
	members []string
	// spends is set on redemptions: the batch reads the available lots of
	// all its spenders at once and they take from them in memory.
	spends bool
	apply  func(ctx context.Context, tx *txn) (any, []byte, error)
	done   chan jobResult // buffered, so the writer never blocks on answering
}

type jobResult struct {
	val any    // the result of an applied operation
	raw []byte // the stored result: a replay's (with errReplay), or the one just stored
	err error
}

// maxOpRetries bounds re-running a batch after a deadlock, serialisation
// failure or idempotency key race with another process.
const maxOpRetries = 5

// writer is an application-level group commit: one goroutine takes every job
// waiting in its queue, applies them in one transaction, commits once and
// then answers them all. There is no timer; the time a commit takes is the
// window in which the next batch gathers. Jobs are queued in groups (a
// batch request's events) that are never split between commits, so a
// request waits for one commit, not for the tail of one and then another.
//
// Operations validate against state read inside the transaction before they
// write, so a business failure (insufficient points, duplicate event, replayed
// key) writes nothing and needs no savepoint. Rows are buffered and written
// with one statement per table when the batch ends (see batch.go). Should an
// operation fail after it wrote, or a statement fail, the transaction is
// rolled back and the batch run again without that operation (or, when the
// failure cannot be attributed, one job per transaction).
type writer struct {
	db       *sql.DB
	dialect  *Dialect
	maxBatch int
	stmts    *stmtCache
	onCommit func(ops int, d time.Duration) // may be nil
	// durable, if set, makes the commits durable after they return; the
	// answers wait for it (see durable.go).
	durable *durability
	// members, if set, forgets the members whose rows a commit changed.
	members *memberCache
	// writable, if set, may refuse a batch before it runs, and onResult is
	// told each batch transaction's outcome (Config.Writable, OnWriteResult).
	writable   func() error
	onResult   func(error)
	lastTicket int64        // the durability ticket of the latest commit
	syncing    int64        // the ticket up to which commits were handed to durable
	undurable  []commitStat // commits of the current batch, reported once durable

	commits, ops atomic.Int64 // committed batches and the jobs in them

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan []*job // groups of at most maxBatch jobs
	done   chan struct{}
}

func newWriter(db *sql.DB, d *Dialect, maxBatch int, stmts *stmtCache, onCommit func(int, time.Duration), durable *durability) *writer {
	w := &writer{
		onCommit: onCommit,
		durable:  durable,
		db:       db,
		dialect:  d,
		maxBatch: maxBatch,
		stmts:    stmts,
		queue:    make(chan []*job, maxBatch),
		done:     make(chan struct{}),
	}
	go w.run()
	return w
}

// submit queues jobs to be committed together (in groups of at most
// maxBatch); each answer arrives on its job's done. It returns how many
// jobs were queued: on an error the rest were not.
func (w *writer) submit(ctx context.Context, jobs []*job) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return 0, ledger.ErrClosed
	}
	queued := 0
	for len(jobs) > 0 {
		group := jobs[:min(len(jobs), w.maxBatch)]
		select {
		case w.queue <- group:
			queued += len(group)
			jobs = jobs[len(group):]
		case <-ctx.Done():
			return queued, ctx.Err()
		}
	}
	return queued, nil
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
	var next []*job // a group that did not fit in the previous batch
	for {
		if next == nil {
			group, ok := <-w.queue
			if !ok {
				return
			}
			next = group
		}
		batch = append(batch[:0], next...)
		next = nil
	drain:
		for len(batch) < w.maxBatch {
			select {
			case group, ok := <-w.queue:
				if !ok {
					break drain
				}
				if len(batch)+len(group) > w.maxBatch {
					next = group
					break drain
				}
				batch = append(batch, group...)
			default:
				break drain
			}
		}
		w.commit(batch)
		if w.stmts != nil {
			w.stmts.prepareMissing(context.Background())
		}
	}
}

// commit runs a batch in one transaction and answers every job.
func (w *writer) commit(batch []*job) {
	// A stable order by member keeps row-lock order consistent across
	// processes sharing a database, and keeps each member's jobs in order.
	sort.SliceStable(batch, func(a, b int) bool { return batch[a].memberID < batch[b].memberID })
	results := make([]jobResult, len(batch))
	refused := w.durable.err() // the store has stopped
	if refused == nil && w.writable != nil {
		refused = w.writable()
	}
	if refused != nil {
		for i := range results {
			results[i] = jobResult{err: refused}
		}
	} else {
		w.runAll(batch, results)
	}
	if w.durable == nil {
		answer(batch, results, nil)
		return
	}
	// Even a batch that committed nothing waits: its answers were decided
	// on what the earlier commits wrote.
	stats := w.undurable
	w.undurable = nil
	batch = slices.Clone(batch) // run reuses its slice for the next batch
	w.syncing = w.lastTicket
	w.durable.after(w.lastTicket, func(err error) {
		if err == nil && w.onCommit != nil {
			for _, c := range stats {
				w.onCommit(c.ops, time.Since(c.start))
			}
		}
		answer(batch, results, err)
	})
}

// runAll runs the batch's jobs until each has its result: the batch is run
// again without an operation that failed after it wrote, again as it is
// after a retryable failure, and as one transaction per job when a failure
// cannot be attributed.
func (w *writer) runAll(batch []*job, results []jobResult) {
	ctx := context.Background()    // callers may give up; the batch still finishes
	idx := make([]int, len(batch)) // jobs still to run, as indices into batch
	for i := range idx {
		idx[i] = i
	}
	jobs := make([]*job, 0, len(batch))
	res := make([]jobResult, len(batch))
	for attempt := 1; len(idx) > 0; {
		jobs = jobs[:0]
		for _, i := range idx {
			jobs = append(jobs, batch[i])
		}
		err := w.runBatch(ctx, jobs, res[:len(jobs)])
		var opErr *opFailure
		switch {
		case err == nil:
			for k, i := range idx {
				results[i] = res[k]
			}
			idx = nil
		case errors.As(err, &opErr):
			// The operation failed after it wrote: it gets its error and
			// the others run again without it.
			results[idx[opErr.index]] = jobResult{err: opErr.err}
			idx = append(idx[:opErr.index], idx[opErr.index+1:]...)
		case w.dialect.Retryable != nil && w.dialect.Retryable(err) && attempt < maxOpRetries:
			attempt++
		case len(idx) > 1:
			// Not attributable to one job: run each in its own transaction.
			for _, i := range idx {
				results[i] = w.runAlone(ctx, batch[i])
			}
			idx = nil
		default:
			results[idx[0]] = jobResult{err: err}
			idx = nil
		}
	}
}

// answer sends each job its result, or err (the commits could not be made
// durable) to all of them.
func answer(batch []*job, results []jobResult, err error) {
	for i, j := range batch {
		if err != nil {
			results[i] = jobResult{err: err}
		}
		j.done <- results[i]
	}
}

// runAlone runs one job in its own transaction.
func (w *writer) runAlone(ctx context.Context, j *job) jobResult {
	res := make([]jobResult, 1)
	for attempt := 1; ; attempt++ {
		err := w.runBatch(ctx, []*job{j}, res)
		var opErr *opFailure
		switch {
		case err == nil:
			return res[0]
		case errors.As(err, &opErr):
			return jobResult{err: opErr.err}
		case w.dialect.Retryable != nil && w.dialect.Retryable(err) && attempt < maxOpRetries:
		default:
			return jobResult{err: err}
		}
	}
}

// commitStat is one commit for Config.OnCommit.
type commitStat struct {
	ops   int
	start time.Time
}

// opFailure is an operation that failed after writing; the batch must be
// rolled back and run again without it.
type opFailure struct {
	index int
	err   error
}

func (e *opFailure) Error() string { return fmt.Sprintf("operation %d: %v", e.index, e.err) }

// report tells Config.OnWriteResult the outcome of a batch transaction,
// with the error as the database gave it.
func (w *writer) report(err error) {
	if w.onResult != nil {
		w.onResult(err)
	}
}

// runBatch applies the jobs in one transaction and commits it, filling in
// their results; an error means nothing was committed.
func (w *writer) runBatch(ctx context.Context, batch []*job, results []jobResult) error {
	start := time.Now()
	sqlTx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		w.report(err)
		return storeUnavailable("begin", err)
	}
	tx := newTxn(sqlTx, w.dialect, w.stmts)
	if err := tx.applyJobs(ctx, batch, results); err != nil {
		_ = sqlTx.Rollback()
		w.report(err)
		return err
	}
	if w.durable != nil {
		// One commit at a time waits for its sync: the batch was applied
		// beside the previous sync, and waiting for it here lets the next
		// batch gather as many jobs as a synchronous commit would.
		// Retries of the same batch do not wait: their commits are
		// handed over together, once the batch is done.
		// A failure that stopped the store is answered after the commit.
		_ = w.durable.waitFor(context.Background(), w.syncing)
		w.lastTicket = w.durable.ticket()
	}
	err = sqlTx.Commit()
	// Before any answer, a client told of a tier change must be priced by
	// it; a failed commit may have been applied all the same.
	w.members.drop(tx.cacheDrops)
	if err != nil {
		w.report(err)
		return storeUnavailable("commit", err)
	}
	w.report(nil)
	w.commits.Add(1)
	w.ops.Add(int64(len(batch)))
	switch {
	case w.onCommit == nil:
	case w.durable != nil:
		w.undurable = append(w.undurable, commitStat{len(batch), start})
	default:
		w.onCommit(len(batch), time.Since(start))
	}
	return nil
}

// applyJobs prefetches what the batch reads, applies each job, undoing in
// memory one that fails before it wrote, and writes the buffered rows.
// An error leaves the transaction to roll back: a statement failed, or an
// operation failed after it wrote (an opFailure naming it).
func (t *txn) applyJobs(ctx context.Context, batch []*job, results []jobResult) error {
	if err := t.prefetch(ctx, batch); err != nil {
		return err
	}
	t.jobsPerMember = make(map[string]int, len(batch))
	for _, j := range batch {
		t.jobsPerMember[j.memberID]++
	}
	if err := t.prefetchSpenderLots(ctx, batch); err != nil {
		return err
	}
	for i, j := range batch {
		// The previous member's lots are written before the next member's
		// operation, so that a failure of that one undoes only its own;
		// a spender whose lots were read takes them in memory, undone in
		// memory, so the lots before it can wait for the next statement.
		if i > 0 && batch[i-1].memberID != j.memberID && !t.spendsCachedLots(j) {
			if err := t.flushLotTakes(ctx); err != nil {
				return err
			}
		}
		t.remaining = len(batch) - i
		m := t.mark(j.memberID)
		val, raw, err := j.apply(ctx, t)
		if err != nil && !errors.Is(err, errReplay) {
			if t.failed != nil {
				return t.failed // a statement failed: the transaction is unusable
			}
			if !t.undo(m) {
				return &opFailure{index: i, err: err}
			}
		}
		results[i] = jobResult{val: val, raw: raw, err: err}
	}
	if err := t.runAfterJobs(ctx); err != nil {
		return err
	}
	return t.flushAll(ctx)
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
