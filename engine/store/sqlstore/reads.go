package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Reads go straight to the read pool (see readcache.go); each is one
// statement, so it sees one consistent snapshot.

// Member implements ledger.Ledger.
func (s *Store) Member(ctx context.Context, memberID string, now time.Time) (_ ledger.MemberView, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	if err := ledger.CheckMemberID(memberID); err != nil {
		return ledger.MemberView{}, err
	}
	v := ledger.MemberView{Member: ledger.Member{ID: memberID}}
	if now.IsZero() {
		now = s.now()
	}
	v.ExpiringBy = ledger.NormTime(now.Add(ledger.ExpiringWindow))
	var tags, attrs, consents string
	var enrolled, tierSince int64
	var month, day, year, erased sql.NullInt64
	err = s.queryRow(ctx, `SELECT m.tags, m.enrolled_at, m.available, m.pending, m.lifetime,
			(SELECT CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) FROM lots l
			 WHERE l.member_id = m.id AND l.state IN ('pending', 'available') AND l.remaining > 0 AND l.expires_at <= ?),
			m.tier, m.tier_since, COALESCE(m.referral_code, ''),
			(SELECT COUNT(*) FROM referrals r WHERE r.referrer_id = m.id),
			(SELECT COUNT(*) FROM referrals r WHERE r.referrer_id = m.id AND r.converted_at IS NOT NULL AND NOT r.clawed_back),
			m.attributes, m.consents, m.birth_month, m.birth_day, m.birth_year, m.erased_at
		FROM members m WHERE m.id = ?`, v.ExpiringBy.UnixMicro(), memberID).
		Scan(&tags, &enrolled, &v.Available, &v.Pending, &v.LifetimeEarned, &v.ExpiringSoon, &v.Tier, &tierSince, &v.ReferralCode,
			&v.ReferralsMade, &v.ReferralsConverted, &attrs, &consents, &month, &day, &year, &erased)
	if errors.Is(err, sql.ErrNoRows) {
		return v, ledger.ErrMemberNotFound
	}
	if err != nil {
		return v, fmt.Errorf("read member %s: %w", memberID, err)
	}
	if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
		return v, fmt.Errorf("read member %s: decode tags: %w", memberID, err)
	}
	if v.Profile, err = decodeProfile(attrs, consents, month, day, year); err != nil {
		return v, fmt.Errorf("read member %s: %w", memberID, err)
	}
	if erased.Valid {
		at := time.UnixMicro(erased.Int64).UTC()
		v.ErasedAt = &at
	}
	v.EnrolledAt = time.UnixMicro(enrolled).UTC()
	if v.Tier != "" {
		since := time.UnixMicro(tierSince).UTC()
		v.TierSince = &since
	}
	if v.Membership, err = s.memberMembership(ctx, memberID); err != nil {
		return v, err
	}
	return v, nil
}

// History implements ledger.Ledger.
func (s *Store) History(ctx context.Context, q ledger.HistoryQuery) (_ ledger.HistoryPage, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	q, before, err := q.Normalize()
	if err != nil {
		return ledger.HistoryPage{}, err
	}
	if before == 0 {
		before = math.MaxInt64
	}
	rows, err := s.cfg.ReadDB.QueryContext(ctx, s.cfg.Dialect.rebind(`
		SELECT seq, kind, available, pending, lifetime, event_id, reference, reason, shortfall, at
		FROM entries WHERE member_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`), q.MemberID, before, q.Limit+1)
	if err != nil {
		return ledger.HistoryPage{}, fmt.Errorf("read history of %s: %w", q.MemberID, err)
	}
	defer rows.Close()
	page := ledger.HistoryPage{Entries: []ledger.Entry{}}
	for rows.Next() {
		e := ledger.Entry{MemberID: q.MemberID}
		var kind string
		var at int64
		if err := rows.Scan(&e.Seq, &kind, &e.Available, &e.Pending, &e.Lifetime, &e.EventID, &e.Reference, &e.Reason, &e.Shortfall, &at); err != nil {
			return ledger.HistoryPage{}, fmt.Errorf("read history of %s: %w", q.MemberID, err)
		}
		e.Kind, e.At = ledger.EntryKind(kind), time.UnixMicro(at).UTC()
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return ledger.HistoryPage{}, fmt.Errorf("read history of %s: %w", q.MemberID, err)
	}
	if len(page.Entries) > q.Limit {
		page.Entries = page.Entries[:q.Limit]
		page.NextCursor = ledger.EncodeCursor(page.Entries[q.Limit-1].Seq)
	}
	if len(page.Entries) == 0 {
		var one int
		err := s.queryRow(ctx, `SELECT 1 FROM members WHERE id = ?`, q.MemberID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ledger.HistoryPage{}, ledger.ErrMemberNotFound
		}
		if err != nil {
			return ledger.HistoryPage{}, fmt.Errorf("read member %s: %w", q.MemberID, err)
		}
	}
	return page, nil
}

// invariantChecks each list violations, one row per problem, as text.
var invariantChecks = []struct{ name, query string }{
	{"balance equals the sum of entries and of live lots", `
		SELECT m.id || ': balance ' || m.available || '/' || m.pending || '/' || m.lifetime
			|| ', entries ' || COALESCE(e.a, 0) || '/' || COALESCE(e.p, 0) || '/' || COALESCE(e.l, 0)
			|| ', lots ' || COALESCE(l.a, 0) || '/' || COALESCE(l.p, 0)
		FROM members m
		LEFT JOIN (SELECT member_id, CAST(SUM(available) AS BIGINT) a, CAST(SUM(pending) AS BIGINT) p, CAST(SUM(lifetime) AS BIGINT) l
			FROM entries GROUP BY member_id) e ON e.member_id = m.id
		LEFT JOIN (SELECT member_id,
				CAST(SUM(CASE WHEN state = 'available' THEN remaining ELSE 0 END) AS BIGINT) a,
				CAST(SUM(CASE WHEN state = 'pending' THEN remaining ELSE 0 END) AS BIGINT) p
			FROM lots GROUP BY member_id) l ON l.member_id = m.id
		WHERE m.available <> COALESCE(e.a, 0) OR m.pending <> COALESCE(e.p, 0) OR m.lifetime <> COALESCE(e.l, 0)
			OR m.available <> COALESCE(l.a, 0) OR m.pending <> COALESCE(l.p, 0)`},
	{"no negative balance", `
		SELECT id || ': available ' || available || ', pending ' || pending FROM members WHERE available < 0 OR pending < 0`},
	// An available lot emptied is spent (see setRemaining).
	{"lots within bounds", `
		SELECT 'lot ' || id || ' of ' || member_id || ': remaining ' || remaining || ' of ' || amount || ' (' || state || ')'
		FROM lots WHERE remaining < 0 OR remaining > amount OR (state IN ('expired', 'spent') AND remaining <> 0)
			OR (state = 'available' AND remaining = 0)`},
	{"reversals within earned points", `
		SELECT member_id || '/' || event_id || ': reversed ' || reversed || ' of ' || points FROM events WHERE reversed < 0 OR reversed > points`},
	// The spend of an event that earned points follows its points left
	// (see eventState.reversal).
	{"reversals clawed back at most what they reversed", `
		SELECT member_id || '/' || event_id || ': clawed ' || clawed || ' of ' || reversed || ' reversed' FROM events WHERE clawed < 0 OR clawed > reversed`},
	{"refunds within purchase amounts", `
		SELECT member_id || '/' || event_id || ': refunded ' || refunded || ' of ' || purchase_amount || ' with ' || reversed || ' of ' || points || ' points reversed'
		FROM events WHERE refunded < 0 OR refunded > purchase_amount
			OR refunded <> CASE WHEN points > 0 THEN purchase_amount - purchase_amount * (points - reversed) / points ELSE refunded END`},
	{"reward stock counts the active redemptions", `
		SELECT 'reward ' || s.reward_id || ': stock row ' || s.redeemed || ', active redemptions ' || COALESCE(r.n, 0)
		FROM reward_stock s LEFT JOIN (SELECT reward_id, COUNT(*) n FROM redemptions WHERE status = 'active' GROUP BY reward_id) r
			ON r.reward_id = s.reward_id
		WHERE s.redeemed <> COALESCE(r.n, 0)`},
	// PostgreSQL has no foreign keys on these tables (migration 0010).
	{"every ledger row belongs to an enrolled member", `
		SELECT 'events of ' || member_id FROM events x WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = x.member_id)
		UNION ALL SELECT 'lots of ' || member_id FROM lots x WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = x.member_id)
		UNION ALL SELECT 'entries of ' || member_id FROM entries x WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = x.member_id)
		UNION ALL SELECT 'daily activity of ' || member_id FROM member_activity_daily x WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = x.member_id)`},
	{"every idempotency key has its result", `
		SELECT idem_key FROM idempotency_keys WHERE result = ''`},
}

// CheckInvariants implements ledger.Ledger.
func (s *Store) CheckInvariants(ctx context.Context) (err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	problems, err := invariantProblems(ctx, s.cfg.ReadDB.QueryContext)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("ledger invariants violated:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}

// invariantProblems runs every invariant check with query (on the read
// pool, or in a transaction that has not committed yet) and returns the
// first 20 violations found, each named by its check.
func invariantProblems(ctx context.Context, query func(ctx context.Context, q string, args ...any) (*sql.Rows, error)) ([]string, error) {
	var problems []string
	for _, c := range invariantChecks {
		rows, err := query(ctx, c.query)
		if err != nil {
			return nil, fmt.Errorf("check %q: %w", c.name, err)
		}
		for rows.Next() && len(problems) < 20 {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return nil, fmt.Errorf("check %q: %w", c.name, err)
			}
			problems = append(problems, c.name+": "+p)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("check %q: %w", c.name, err)
		}
	}
	return problems, nil
}

// Replay implements ledger.Ledger with one read of all the keys. A key being
// written concurrently may be missed; the write then finds it and replays.
func (s *Store) Replay(ctx context.Context, queries []ledger.ReplayQuery) (_ []ledger.ReplayAnswer, err error) {
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	out := make([]ledger.ReplayAnswer, len(queries))
	keys := make([]string, 0, len(queries))
	for _, q := range queries {
		// A key no write accepts was never stored; PostgreSQL would
		// refuse to even compare one holding NUL or invalid UTF-8.
		if ledger.CheckKey(q.Key) == nil {
			keys = append(keys, q.Key)
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	type stored struct{ op, hash, result string }
	found := make(map[string]stored, len(keys))
	set, args := s.cfg.Dialect.sql().set([][]string{keys})
	rows, err := s.cfg.ReadDB.QueryContext(ctx, fmt.Sprintf(`SELECT idem_key, op, request_hash, result FROM idempotency_keys WHERE idem_key IN (%s)`, set), args...)
	if err != nil {
		// Like a write that cannot reach the store: the client retries.
		return nil, fmt.Errorf("%w: read idempotency keys: %v", ledger.ErrStoreUnavailable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var st stored
		if err := rows.Scan(&k, &st.op, &st.hash, &st.result); err != nil {
			return nil, fmt.Errorf("read idempotency keys: %w", err)
		}
		found[k] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read idempotency keys: %w", err)
	}
	for i, q := range queries {
		st, ok := found[q.Key]
		// A key claimed but without a result belongs to an uncommitted write: not known yet.
		if !ok || st.result == "" {
			continue
		}
		result, err := loadResult(st.result)
		if err != nil {
			return nil, fmt.Errorf("idempotency key %q: %w", q.Key, err)
		}
		out[i] = ledger.ReplayAnswer{Found: true, Op: ledger.Op(st.op), Result: json.RawMessage(result)}
		if st.hash != q.Fingerprint {
			out[i] = ledger.ReplayAnswer{Found: true, Op: ledger.Op(st.op), Err: fmt.Errorf("key %q: %w", q.Key, ledger.ErrIdempotencyReuse)}
		}
	}
	// Only a key found shows the client something; a miss goes on to the
	// writer, whose answer waits for durability anyway.
	if len(found) > 0 {
		if err := s.durable.waitDurable(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}
