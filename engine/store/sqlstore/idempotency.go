package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

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
