package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// errReadTooOld is the cause of a read's context ending at MaxReadAge,
// which tells it apart from the caller's own deadline or cancellation.
var errReadTooOld = errors.New("read older than the maximum read age")

// beginRead starts a read method. Its context ends after Config.MaxReadAge:
// database/sql then closes the read's rows and rolls back its transaction
// even while the caller is busy elsewhere (an export blocked writing to a
// client that stopped reading), so no reader holds a snapshot longer than
// that; on SQLite such a snapshot keeps the write-ahead log from being
// restarted. The returned end, deferred with the method's error, names an
// aborted read (ledger.ErrReadAborted), marks errors that mean the
// database is unavailable (classify) and, with waitDurable, returns only
// once what the read saw is durable, so that a client is never shown a
// write a power loss could still take back.
func (s *Store) beginRead(ctx context.Context, waitDurable bool) (context.Context, func(err *error)) {
	outer := ctx
	cancel, stop := context.CancelFunc(func() {}), func() bool { return false }
	if s.cfg.MaxReadAge > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, s.cfg.MaxReadAge, errReadTooOld)
		// Counted when the snapshot is taken away, not when the read
		// returns: an export blocked on its client returns much later.
		stop = context.AfterFunc(ctx, func() {
			if errors.Is(context.Cause(ctx), errReadTooOld) {
				s.readsAborted.Add(1)
			}
		})
	}
	return ctx, func(err *error) {
		stop()
		aborted := *err != nil && errors.Is(context.Cause(ctx), errReadTooOld)
		cancel()
		if aborted {
			// The cause is formatted, not wrapped: a context error would be
			// taken for an unreachable database.
			*err = fmt.Errorf("%w: aborted after %s, the longest a read may hold one (%v)", ledger.ErrReadAborted, s.cfg.MaxReadAge, *err)
			return
		}
		if *err = classify(*err); *err == nil && waitDurable {
			*err = s.durable.waitDurable(outer)
		}
	}
}

// DefaultMaxReadAge is the longest a read may hold its snapshot when
// Config.MaxReadAge is zero. On SQLite a reader that holds its snapshot
// keeps the write-ahead log growing for that long under writes: about
// 3 GB in a minute of single earns sent flat out on the benchmark machine
// (docs/benchmarks.md).
const DefaultMaxReadAge = time.Minute
