package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// durability makes commits durable off the writer's path, for a dialect
// whose commits return before they are on disk (Dialect.SyncCommits):
// while one group commit is being synced, the writer already applies the
// next. A commit takes a ticket before it starts; its answers wait until a
// sync that began after the commit returned, so nothing is acknowledged
// before it is durable. One sync covers every commit before it, so the
// answers of all commits waiting at that moment share it.
//
// Readers see a commit as soon as it is made, before it is durable, so a
// read result waits the same way (waitDurable) before it leaves the store:
// what a client is shown never disappears in a power loss.
//
// A failed sync stops the store: the outcome of the commits it covered is
// unknown (the kernel may have dropped their pages), so every later write
// and read is refused until the process restarts and the database recovers
// from what is really on disk.
type durability struct {
	sync func() error

	begun atomic.Int64 // tickets taken: commits started

	mu       sync.Mutex
	synced   int64         // every commit with a ticket ≤ synced is durable
	failed   error         // the first failed sync
	progress chan struct{} // closed and replaced whenever synced or failed changes

	queue chan durableAnswer
	done  chan struct{}
}

// durableAnswer is sent once the commits with tickets up to upTo are
// durable, or with the error that stopped the store.
type durableAnswer struct {
	upTo int64
	send func(err error)
}

func newDurability(sync func() error) *durability {
	d := &durability{sync: sync, progress: make(chan struct{}), queue: make(chan durableAnswer, 1024), done: make(chan struct{})}
	go d.run()
	return d
}

// ticket is taken right before a commit starts.
func (d *durability) ticket() int64 { return d.begun.Add(1) }

// after sends an answer once every commit up to ticket upTo is durable.
func (d *durability) after(upTo int64, send func(err error)) { d.queue <- durableAnswer{upTo, send} }

// err is the failure that stopped the store, if any; nil without
// durability.
func (d *durability) err() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}

func (d *durability) run() {
	defer close(d.done)
	for first := range d.queue {
		waiting := []durableAnswer{first}
	drain:
		for {
			select {
			case a, ok := <-d.queue:
				if !ok {
					break drain
				}
				waiting = append(waiting, a)
			default:
				break drain
			}
		}
		upTo := int64(0)
		for _, a := range waiting {
			upTo = max(upTo, a.upTo)
		}
		err := d.syncUpTo(upTo)
		for _, a := range waiting {
			a.send(err)
		}
	}
}

// syncUpTo syncs (unless a sync after upTo's commit already did) and
// publishes the result.
func (d *durability) syncUpTo(upTo int64) error {
	d.mu.Lock()
	failed, done := d.failed, d.synced >= upTo
	d.mu.Unlock()
	if failed != nil || done {
		return failed
	}
	err := d.sync()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.failed = fmt.Errorf("%w: make commits durable: %v", ledger.ErrStoreUnavailable, err)
	} else {
		d.synced = max(d.synced, upTo)
	}
	close(d.progress)
	d.progress = make(chan struct{})
	return d.failed
}

// waitFor returns once the commit with the ticket is durable, with the
// failure that stopped the store, or with ctx's error.
func (d *durability) waitFor(ctx context.Context, ticket int64) error {
	for {
		d.mu.Lock()
		synced, failed, progress := d.synced, d.failed, d.progress
		d.mu.Unlock()
		switch {
		case failed != nil:
			return failed
		case synced >= ticket:
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("%w: wait for commits to be durable: %v", ledger.ErrStoreUnavailable, ctx.Err())
		}
	}
}

// waitDurable returns once every commit started so far is durable: a read
// that ran before it saw nothing that may still be lost. Without
// durability (commits durable when they return) it returns at once.
func (d *durability) waitDurable(ctx context.Context) error {
	if d == nil {
		return nil
	}
	return d.waitFor(ctx, d.begun.Load())
}

// close answers what is queued; the writers must have stopped.
func (d *durability) close() {
	close(d.queue)
	<-d.done
}
