package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// GrantBirthday implements ledger.Ledger.
func (s *Store) GrantBirthday(ctx context.Context, req ledger.BirthdayRequest) (ledger.BirthdayResult, error) {
	if err := ledger.CheckMemberID(req.MemberID); err != nil {
		return ledger.BirthdayResult{}, err
	}
	now := req.Now
	if now.IsZero() {
		now = s.now()
	}
	now = ledger.NormTime(now)
	j := &job{memberID: req.MemberID, done: make(chan jobResult, 1), apply: func(ctx context.Context, tx *txn) (any, []byte, error) {
		m, err := lockMember(ctx, tx, req.MemberID)
		if err != nil {
			return nil, nil, err
		}
		r, err := grantBirthday(ctx, tx, m, req.Rule, now)
		if err != nil {
			return nil, nil, err
		}
		return r, nil, nil
	}}
	if err := s.submit(ctx, j); err != nil {
		return ledger.BirthdayResult{}, err
	}
	r := wait(ctx, j)
	if r.err != nil {
		return ledger.BirthdayResult{}, fmt.Errorf("grant birthday of %s: %w", req.MemberID, r.err)
	}
	return r.val.(ledger.BirthdayResult), nil
}

// grantBirthday grants the locked member's birthday points if now is in
// their birthday window of a year without a grant. The member's lock
// serialises grants in every process; the primary key of birthday_grants
// would refuse a second one regardless.
func grantBirthday(ctx context.Context, tx *txn, m *memberRow, rule ledger.BirthdayRule, now time.Time) (ledger.BirthdayResult, error) {
	out := ledger.BirthdayResult{MemberID: m.id, Balance: m.bal}
	var month, day sql.NullInt64
	err := tx.queryRow(ctx, `SELECT birth_month, birth_day FROM members WHERE id = ?`, []any{&month, &day}, m.id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return out, fmt.Errorf("read birth date of %s: %w", m.id, err)
	}
	if !month.Valid || !day.Valid || rule.Points <= 0 {
		return out, nil
	}
	year, ok := rules.BirthdayYear(time.Month(month.Int64), int(day.Int64), rule.Window, now, rule.Location)
	if !ok {
		return out, nil
	}
	var one int
	err = tx.queryRow(ctx, `SELECT 1 FROM birthday_grants WHERE member_id = ? AND year = ?`, []any{&one}, m.id, year)
	if err == nil {
		return out, nil // granted for this year already
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return out, fmt.Errorf("read birthday grants of %s: %w", m.id, err)
	}
	var expiresAt time.Time
	if rule.ExpireAfter > 0 {
		expiresAt = now.Add(rule.ExpireAfter)
	}
	insertLot(tx, m.id, "", rule.Points, lotAvailable, now, expiresAt)
	seq, bal, err := changeBalance(ctx, tx, m, entry{kind: ledger.EntryEarn, available: rule.Points, lifetime: rule.Points,
		reason: ledger.ReasonBirthday, reference: "birthday-" + strconv.Itoa(year), at: now})
	if err != nil {
		return out, err
	}
	if _, err := tx.exec(ctx, `INSERT INTO birthday_grants (member_id, year, entry_seq, granted_at) VALUES (?, ?, ?, ?)`,
		m.id, year, seq, now.UnixMicro()); err != nil {
		return out, fmt.Errorf("record birthday grant of %s for %d: %w", m.id, year, err)
	}
	return ledger.BirthdayResult{MemberID: m.id, Granted: true, Year: year, Points: rule.Points, EntrySeq: seq, Balance: bal}, nil
}

// GrantBirthdays implements ledger.Ledger. For each birth date whose window
// holds now it pages through the members born on it (members_birthday)
// without a grant for the window's year, and grants each on its writer.
func (s *Store) GrantBirthdays(ctx context.Context, req ledger.BirthdaysRequest) (ledger.BirthdaysResult, error) {
	now := req.Now
	if now.IsZero() {
		now = s.now()
	}
	now = ledger.NormTime(now)
	page := req.PageSize
	if page <= 0 {
		page = 500
	}
	var total ledger.BirthdaysResult
	for _, d := range rules.BirthdaysAt(now, req.Rule.Window, req.Rule.Location) {
		year, ok := rules.BirthdayYear(d.Month, d.Day, req.Rule.Window, now, req.Rule.Location)
		if !ok {
			continue
		}
		after := ""
		for {
			ids, err := s.birthdayMembers(ctx, d, year, after, page)
			if err != nil {
				return total, err
			}
			if err := s.grantAll(ctx, ids, req.Rule, now, &total); err != nil {
				return total, err
			}
			if len(ids) < page {
				break
			}
			after = ids[len(ids)-1]
		}
	}
	return total, nil
}

// birthdayMembers lists, in id order after after, up to limit members born
// on d who have no birthday grant for year.
func (s *Store) birthdayMembers(ctx context.Context, d rules.BirthDate, year int, after string, limit int) ([]string, error) {
	rows, err := s.query(ctx, `SELECT id FROM members m WHERE birth_month = ? AND birth_day = ? AND id > ?
		AND NOT EXISTS (SELECT 1 FROM birthday_grants g WHERE g.member_id = m.id AND g.year = ?)
		ORDER BY id LIMIT ?`, int(d.Month), d.Day, after, year, limit)
	if err != nil {
		return nil, fmt.Errorf("list members born on %s %d: %w", d.Month, d.Day, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list members born on %s %d: %w", d.Month, d.Day, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// grantAll grants the birthdays of ids at once, so their writers batch
// them, and adds what was granted to total.
func (s *Store) grantAll(ctx context.Context, ids []string, rule ledger.BirthdayRule, now time.Time, total *ledger.BirthdaysResult) error {
	results := make([]ledger.BirthdayResult, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			results[i], errs[i] = s.GrantBirthday(ctx, ledger.BirthdayRequest{MemberID: id, Rule: rule, Now: now})
		})
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil {
			if errors.Is(errs[i], ledger.ErrMemberNotFound) {
				continue // erased since it was listed
			}
			return errs[i]
		}
		if r.Granted {
			total.Granted++
			total.Points += r.Points
		}
	}
	return nil
}
