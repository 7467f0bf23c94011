package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// idemOp is an idempotent operation as the writers see it: the member whose
// writer runs it and whose row it locks, and the key and request hash that
// identify it.
type idemOp struct {
	op       ledger.Op
	memberID string
	// eventID is the earn event whose existence the batch prefetches.
	eventID string
	key     string
	// hash identifies the request (see requestHash): a key reused with
	// another request is refused.
	hash string
	// claimKeyFirst inserts the key before the operation runs, so that a
	// concurrent writer of the same key in another process waits for ours
	// and then sees it. Operations that lock an existing member row are
	// serialised by that lock instead; enrolment has no row to lock yet.
	claimKeyFirst bool
	// keyHash, when set, turns hash into what is stored and compared, in
	// the operation's transaction (an erasure keeps a keyed hash of its
	// request, which names the erased id).
	keyHash func(ctx context.Context, tx *txn, hash string) (string, error)
}

// requestHash identifies a request by the caller's fingerprint when given,
// else by the hash of the normalised request.
func requestHash(op ledger.Op, fingerprint string, norm any) string {
	if fingerprint != "" {
		return fingerprint
	}
	return ledger.RequestHash(op, norm)
}

// newJob makes the job of an idempotent operation: the key is looked up
// first (prefetched with the batch's other keys); a known key replays the
// stored result or is refused as reused; otherwise the operation is applied
// and the key recorded with its result.
func (s *Store) newJob(op idemOp, apply func(context.Context, *txn) (any, error)) *job {
	now := s.now().UnixMicro()
	j := &job{memberID: op.memberID, key: op.key, eventID: op.eventID, spends: op.op == ledger.OpRedeem, done: make(chan jobResult, 1)}
	j.apply = func(ctx context.Context, tx *txn) (any, []byte, error) {
		op := op // keyHash sets this run's hash
		if op.keyHash != nil {
			h, err := op.keyHash(ctx, tx, op.hash)
			if err != nil {
				return nil, nil, err
			}
			op.hash = h
		}
		if replay, err := op.lookUpKey(ctx, tx, now); replay != nil || err != nil {
			return nil, replay, err
		}
		val, err := apply(ctx, tx)
		if err != nil {
			return nil, nil, err
		}
		// A result's JSON encoding is its idempotency record: an earn's
		// is ledger.EarnRecord, with the explanation summarised.
		out, err := jsonenc.Marshal(val)
		if err != nil {
			return nil, nil, fmt.Errorf("encode result: %w", err)
		}
		if err := op.storeResult(ctx, tx, out, now); err != nil {
			return nil, nil, err
		}
		return val, out, nil
	}
	return j
}

// lookUpKey returns the stored result of a known key with errReplay, or
// refuses a key reused for another request. An unknown key is claimed
// first when the operation says so.
func (op idemOp) lookUpKey(ctx context.Context, tx *txn, now int64) ([]byte, error) {
	if rec, ok := tx.keys[op.key]; ok {
		if rec.hash != op.hash {
			return nil, ledger.ErrIdempotencyReuse
		}
		return rec.result, errReplay
	}
	if !op.claimKeyFirst {
		return nil, nil
	}
	res, err := tx.exec(ctx, `INSERT INTO idempotency_keys (idem_key, op, request_hash, result, created_at)
		VALUES (?, ?, ?, '', ?) ON CONFLICT DO NOTHING`, op.key, string(op.op), op.hash, now)
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	} else if n > 0 {
		return nil, nil
	}
	var storedHash, stored string
	if err := tx.queryRow(ctx, `SELECT request_hash, result FROM idempotency_keys WHERE idem_key = ?`, []any{&storedHash, &stored}, op.key); err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if storedHash != op.hash {
		return nil, ledger.ErrIdempotencyReuse
	}
	result, err := loadResult(stored)
	if err != nil {
		return nil, fmt.Errorf("idempotency key %q: %w", op.key, err)
	}
	return result, errReplay
}

// storeResult records the key with the operation's result, for replays.
func (op idemOp) storeResult(ctx context.Context, tx *txn, result []byte, now int64) error {
	if !op.claimKeyFirst {
		tx.addKey(idemRow{key: op.key, op: string(op.op), hash: op.hash, result: result, createdAt: now})
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE idempotency_keys SET result = ? WHERE idem_key = ?`, storedResult(result), op.key); err != nil {
		return fmt.Errorf("store idempotency result: %w", err)
	}
	tx.keys[op.key] = idemRecord{hash: op.hash, result: result}
	return nil
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
func write[T any](ctx context.Context, s *Store, op idemOp, apply func(context.Context, *txn) (T, error)) (T, bool, error) {
	j := s.newJob(op, func(ctx context.Context, tx *txn) (any, error) {
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
	return decode[T](wait(ctx, j), op.op, op.memberID)
}
