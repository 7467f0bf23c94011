package sqlstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// memberIDColumns are the columns holding a member id besides members.id,
// which erasure rewrites to the pseudonym. A table added with a member id
// must be listed here, or erasure would leave the old id in it.
var memberIDColumns = []struct{ table, column string }{
	{"events", "member_id"}, {"lots", "member_id"}, {"entries", "member_id"},
	{"member_activity_daily", "member_id"}, {"member_campaigns", "member_id"}, {"member_tiers", "member_id"},
	{"redemptions", "member_id"}, {"referrals", "referee_id"}, {"referrals", "referrer_id"},
	{"member_changes", "member_id"}, {"memberships", "member_id"}, {"membership_events", "member_id"},
	{"outbox", "member_id"}, {"birthday_grants", "member_id"},
}

// erasedFields name what an erasure removes, in the profile history.
var erasedFields = []string{"attributes", "birthDate", "consents", "memberId", "referralCode", "tags"}

// EraseMember implements ledger.Ledger.
func (s *Store) EraseMember(ctx context.Context, req ledger.EraseMemberRequest) (ledger.EraseMemberResult, error) {
	norm, err := req.Normalize()
	if err != nil {
		return ledger.EraseMemberResult{}, err
	}
	now := s.now()
	op := idemOp{op: ledger.OpEraseMember, memberID: norm.MemberID, key: req.IdempotencyKey,
		hash: requestHash(ledger.OpEraseMember, req.Fingerprint, norm),
		// The request names the id: its plain hash would let a guess of
		// the id be checked against the stored key.
		keyHash: func(ctx context.Context, tx *txn, hash string) (string, error) {
			secret, err := tx.erasureSecret(ctx)
			if err != nil {
				return "", err
			}
			return keyedHash(secret, hash), nil
		}}
	out, replayed, err := write(ctx, s, op, func(ctx context.Context, tx *txn) (ledger.EraseMemberResult, error) {
		secret, err := tx.erasureSecret(ctx)
		if err != nil {
			return ledger.EraseMemberResult{}, err
		}
		idHash := keyedHash(secret, norm.MemberID)
		m, err := tx.member(ctx, norm.MemberID)
		if errors.Is(err, ledger.ErrMemberNotFound) {
			return tx.pastErasure(ctx, idHash)
		}
		if err != nil {
			return ledger.EraseMemberResult{}, err
		}
		var erased sql.NullInt64
		if err := tx.queryRow(ctx, `SELECT erased_at FROM members WHERE id = ?`, []any{&erased}, m.id); err != nil {
			return ledger.EraseMemberResult{}, fmt.Errorf("read member %s: %w", m.id, err)
		}
		if erased.Valid { // the pseudonym of an erased member
			return ledger.EraseMemberResult{Erased: true, ErasedAt: time.UnixMicro(erased.Int64).UTC()}, nil
		}
		if err := tx.erase(ctx, m, secret, norm.Actor, now); err != nil {
			return ledger.EraseMemberResult{}, err
		}
		if _, err := tx.exec(ctx, `INSERT INTO erasures (id_hash, erased_at) VALUES (?, ?)`, idHash, now.UnixMicro()); err != nil {
			return ledger.EraseMemberResult{}, fmt.Errorf("record erasure: %w", err)
		}
		return ledger.EraseMemberResult{Erased: true, ErasedAt: now}, nil
	})
	out.Replayed = replayed
	return out, err
}

// pastErasure answers the erasure of an id no member has: the latest
// erasure of it, or ErrMemberNotFound when it was never erased.
func (t *txn) pastErasure(ctx context.Context, idHash string) (ledger.EraseMemberResult, error) {
	var at sql.NullInt64
	if err := t.queryRow(ctx, `SELECT MAX(erased_at) FROM erasures WHERE id_hash = ?`, []any{&at}, idHash); err != nil {
		return ledger.EraseMemberResult{}, fmt.Errorf("read erasures: %w", err)
	}
	if !at.Valid {
		return ledger.EraseMemberResult{}, ledger.ErrMemberNotFound
	}
	return ledger.EraseMemberResult{Erased: true, ErasedAt: time.UnixMicro(at.Int64).UTC()}, nil
}

// erase moves the member's rows to a random pseudonym and drops its
// personal data. The batch's buffered rows are written first, so that
// every row of the member is in the tables it rewrites; later jobs of the
// batch then find no member of the old id.
func (t *txn) erase(ctx context.Context, m *memberRow, secret []byte, actor string, now time.Time) error {
	if f, ok := t.afterJobs["tier:"+m.id]; ok {
		// An earn of the batch registered an upgrade: it runs now, under
		// the id it was registered for.
		delete(t.afterJobs, "tier:"+m.id)
		if err := f(ctx, t); err != nil {
			return err
		}
	}
	if err := t.flushAll(ctx); err != nil {
		return err
	}
	pseudo := newPseudonym()
	// A new row, the references moved to it, then the old row deleted:
	// PostgreSQL's foreign keys to members.id would refuse the id changing
	// under them.
	if _, err := t.exec(ctx, `INSERT INTO members (id, tags, enrolled_at, available, pending, lifetime, last_activity_at, tier, tier_since, erased_at)
		SELECT ?, '[]', enrolled_at, available, pending, lifetime, last_activity_at, tier, tier_since, ? FROM members WHERE id = ?`,
		pseudo, now.UnixMicro(), m.id); err != nil {
		return fmt.Errorf("erase %s: insert pseudonym: %w", m.id, err)
	}
	for _, c := range memberIDColumns {
		q := fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ?`, c.table, c.column, c.column)
		if _, err := t.exec(ctx, q, pseudo, m.id); err != nil {
			return fmt.Errorf("erase %s: rewrite %s.%s: %w", m.id, c.table, c.column, err)
		}
	}
	if err := t.eraseReferralRewards(ctx, m.id, pseudo); err != nil {
		return err
	}
	if err := t.eraseKeys(ctx, m.id, pseudo, secret); err != nil {
		return err
	}
	if err := t.eraseOutbox(ctx, m.id, pseudo, now); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM members WHERE id = ?`, m.id); err != nil {
		return fmt.Errorf("erase %s: delete member: %w", m.id, err)
	}
	if err := t.recordChange(ctx, pseudo, actor, "erase", erasedFields, now); err != nil {
		return err
	}
	m.exists = false
	for k := range t.lotCache {
		if k.member == m.id {
			delete(t.lotCache, k)
		}
	}
	t.cacheDrops = append(t.cacheDrops, m.id)
	return nil
}

// eraseReferralRewards renames the referral rewards of the member's own
// referral, named after the referee's id, on both sides.
func (t *txn) eraseReferralRewards(ctx context.Context, oldID, pseudo string) error {
	var referrerID string
	err := t.queryRow(ctx, `SELECT referrer_id FROM referrals WHERE referee_id = ?`, []any{&referrerID}, pseudo)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("erase %s: read referral: %w", oldID, err)
	}
	oldEv, newEv := referralEvent(oldID), referralEvent(pseudo)
	for _, q := range []string{
		`UPDATE lots SET event_id = ? WHERE event_id = ? AND member_id IN (?, ?)`,
		`UPDATE entries SET event_id = ? WHERE event_id = ? AND member_id IN (?, ?)`,
	} {
		if _, err := t.exec(ctx, q, newEv, oldEv, pseudo, referrerID); err != nil {
			return fmt.Errorf("erase %s: rename referral rewards: %w", oldID, err)
		}
	}
	if _, err := t.exec(ctx, `UPDATE entries SET reason = ? WHERE member_id = ? AND reason = ?`,
		referrerReason+pseudo, referrerID, referrerReason+oldID); err != nil {
		return fmt.Errorf("erase %s: rename referral rewards: %w", oldID, err)
	}
	return nil
}

// eraseKeys rewrites the stored results that name the old id (see
// scrubResult), and renames those of their keys that contain the old id
// to a keyed hash of the key: a retry of such a key after the erasure is
// a new request. Results are compressed past a size, so every compressed
// one is read; erasure is rare, and reads them all.
func (t *txn) eraseKeys(ctx context.Context, oldID, pseudo string, secret []byte) error {
	// The id as a JSON string holds it escaped: HTML characters as \u003c.
	quoted, err := json.Marshal(oldID)
	if err != nil {
		return fmt.Errorf("erase %s: %w", oldID, err)
	}
	escaped := string(bytes.Trim(quoted, `"`))
	rows, err := t.query(ctx, `SELECT idem_key, result, request_hash FROM idempotency_keys
		WHERE REPLACE(result, ?, '') <> result OR REPLACE(result, ?, '') <> result OR substr(result, 1, 3) = ?`,
		oldID, escaped, compressedResultPrefix)
	if err != nil {
		return fmt.Errorf("erase %s: read idempotency keys: %w", oldID, err)
	}
	type rewrite struct{ key, newKey, result, hash string }
	var todo []rewrite
	for rows.Next() {
		var key, stored, hash string
		if err := rows.Scan(&key, &stored, &hash); err != nil {
			rows.Close()
			return t.fail(fmt.Errorf("erase %s: read idempotency keys: %w", oldID, err))
		}
		raw, err := loadResult(stored)
		if err != nil {
			rows.Close()
			return fmt.Errorf("erase %s: idempotency key %q: %w", oldID, key, err)
		}
		scrubbed, found, own, err := scrubResult(raw, oldID, pseudo)
		if err != nil {
			rows.Close()
			return fmt.Errorf("erase %s: idempotency key %q: %w", oldID, key, err)
		}
		if !found {
			continue
		}
		r := rewrite{key: key, newKey: key, result: storedResult(scrubbed), hash: hash}
		if own {
			// The member's own request: its hash (of a body naming the
			// id) is keyed, so a retry is refused rather than answered
			// with the pseudonym, and a key naming the id is renamed.
			r.hash = keyedHash(secret, hash)
			if strings.Contains(key, oldID) {
				r.newKey = "erased-" + keyedHash(secret, key)[:32]
			}
		}
		todo = append(todo, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return t.fail(fmt.Errorf("erase %s: read idempotency keys: %w", oldID, err))
	}
	for _, r := range todo {
		if _, err := t.exec(ctx, `UPDATE idempotency_keys SET idem_key = ?, result = ?, request_hash = ? WHERE idem_key = ?`,
			r.newKey, r.result, r.hash, r.key); err != nil {
			return fmt.Errorf("erase %s: rewrite idempotency key: %w", oldID, err)
		}
		delete(t.keys, r.key)
	}
	return nil
}

// personalFields are the members of a result object about a member that
// hold personal data: emptied when the member is erased.
var personalFields = []string{"tags", "attributes", "birthDate", "consents", "referralCode"}

// scrubResult rewrites a stored JSON result naming oldID: every string
// equal to it (or to its referral event) names the pseudonym instead, and
// an object whose memberId is oldID loses its personal fields. found
// reports whether the result named oldID at all, own whether it is about
// the member (an object of it has memberId oldID).
func scrubResult(raw []byte, oldID, pseudo string) (_ []byte, found, own bool, _ error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, false, fmt.Errorf("decode stored result: %w", err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case string:
			switch x {
			case oldID:
				found = true
				return pseudo
			case referralEvent(oldID):
				found = true
				return referralEvent(pseudo)
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		case map[string]any:
			if x["memberId"] == oldID {
				own = true
				for _, f := range personalFields {
					delete(x, f)
				}
			}
			for k, e := range x {
				x[k] = walk(e)
			}
			return x
		}
		return x
	}
	v = walk(v)
	if !found {
		return raw, false, false, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false, false, fmt.Errorf("encode scrubbed result: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), true, own, nil
}

// erasureSecret is the store's random key for the hashes of erased ids,
// made by the first erasure.
func (t *txn) erasureSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh) // never fails
	if _, err := t.exec(ctx, `INSERT INTO store_secrets (name, value) VALUES ('erasure', ?) ON CONFLICT DO NOTHING`,
		hex.EncodeToString(fresh)); err != nil {
		return nil, fmt.Errorf("create erasure secret: %w", err)
	}
	var v string
	if err := t.queryRow(ctx, `SELECT value FROM store_secrets WHERE name = 'erasure'`, []any{&v}); err != nil {
		return nil, fmt.Errorf("read erasure secret: %w", err)
	}
	secret, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("read erasure secret: %w", err)
	}
	return secret, nil
}

// keyedHash is the hex HMAC-SHA256 of v under secret: without the secret
// it does not tell which id or key it was made of.
func keyedHash(secret []byte, v string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(v))
	return hex.EncodeToString(h.Sum(nil))
}

// newPseudonym is a random member id for an erased member.
func newPseudonym() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	return "erased-" + hex.EncodeToString(b)
}
