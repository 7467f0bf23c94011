package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// PricingContexts implements ledger.Ledger with one read of the members,
// one of their grants and one of the spend, whatever the number of queries;
// actions are counted per distinct member, action and day.
func (s *Store) PricingContexts(ctx context.Context, qs []ledger.PricingQuery) (_ []ledger.PricingState, err error) {
	// No wait for durability: this prices a write, whose answer waits for
	// a sync that covers all this read saw.
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	out := make([]ledger.PricingState, len(qs))
	type found struct {
		mc     rules.MemberContext
		grants map[string]int64
	}
	members := map[string]*found{}
	var ids []string
	fresh := map[string]bool{}
	grants := false
	for i, q := range qs {
		if out[i].Err = ledger.CheckMemberID(q.MemberID); out[i].Err != nil {
			continue
		}
		if _, ok := members[q.MemberID]; !ok {
			members[q.MemberID] = nil
			ids = append(ids, q.MemberID)
		}
		if q.Fresh {
			fresh[q.MemberID] = true
		}
		grants = grants || q.Grants
	}
	if len(ids) == 0 {
		return out, nil
	}
	if err := s.readMembers(ctx, ids, fresh, func(id string, m cachedMember) {
		members[id] = &found{grants: map[string]int64{}, mc: rules.MemberContext{ID: id, Tags: m.tags, EnrolledAt: m.enrolledAt, Tier: m.tier}}
	}); err != nil {
		return nil, err
	}
	var spend map[string]int64
	if grants {
		set, args := s.cfg.Dialect.sql().set([][]string{ids})
		err := s.eachRow(ctx, fmt.Sprintf(`SELECT member_id, campaign, granted FROM member_campaigns WHERE member_id IN (%s)`, set), args, func(rows *sql.Rows) error {
			var id, name string
			var n int64
			if err := rows.Scan(&id, &name, &n); err != nil {
				return err
			}
			if f := members[id]; f != nil {
				f.grants[name] = n
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%w: read campaign bonuses: %v", ledger.ErrStoreUnavailable, err)
		}
		if spend, err = s.CampaignSpend(ctx); err != nil {
			return nil, fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
		}
	}
	type actionDay struct {
		member, action string
		day            int64
	}
	counts := map[actionDay]int64{}
	for i, q := range qs {
		f := members[q.MemberID]
		if out[i].Err != nil {
			continue
		}
		if f == nil {
			out[i].Err = ledger.ErrMemberNotFound
			continue
		}
		out[i].Member = f.mc
		if q.Grants {
			// Each state gets its own maps: callers may change them.
			out[i].Member.BonusGranted, out[i].CampaignGranted = maps.Clone(f.grants), maps.Clone(spend)
		}
		if q.Action == "" {
			continue
		}
		start, end := rules.ActionDay(q.OccurredAt)
		k := actionDay{q.MemberID, q.Action, start.UnixMicro()}
		n, ok := counts[k]
		if !ok {
			err := s.queryRow(ctx, `SELECT COUNT(*) FROM events WHERE member_id = ? AND action = ? AND occurred_at >= ? AND occurred_at < ?`,
				q.MemberID, q.Action, start.UnixMicro(), end.UnixMicro()).Scan(&n)
			if err != nil {
				return nil, fmt.Errorf("%w: count action %s of %s: %v", ledger.ErrStoreUnavailable, q.Action, q.MemberID, err)
			}
			counts[k] = n
		}
		out[i].Member.ActionsToday = n
	}
	return out, nil
}

// readMembers hands each existing member of ids to found, from the member
// cache where it can; members in fresh are read from the database.
func (s *Store) readMembers(ctx context.Context, ids []string, fresh map[string]bool, found func(id string, m cachedMember)) error {
	var missed []string
	for _, id := range ids {
		if fresh[id] {
			missed = append(missed, id)
		} else if m, ok := s.members.get(id); ok {
			found(id, m)
		} else {
			missed = append(missed, id)
		}
	}
	if len(missed) == 0 {
		return nil
	}
	gen := s.members.generation()
	read := make(map[string]cachedMember, len(missed))
	set, args := s.cfg.Dialect.sql().set([][]string{missed})
	err := s.eachRow(ctx, fmt.Sprintf(`SELECT id, tags, enrolled_at, tier FROM members WHERE id IN (%s)`, set), args, func(rows *sql.Rows) error {
		var id, tags string
		var m cachedMember
		var enrolled int64
		if err := rows.Scan(&id, &tags, &enrolled, &m.tier); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(tags), &m.tags); err != nil {
			return fmt.Errorf("member %s: decode tags: %w", id, err)
		}
		m.enrolledAt = time.UnixMicro(enrolled).UTC()
		read[id] = m
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: read members: %v", ledger.ErrStoreUnavailable, err)
	}
	s.members.fill(gen, read)
	for id, m := range read {
		found(id, m)
	}
	return nil
}

// CampaignSpend implements ledger.Ledger.
func (s *Store) CampaignSpend(ctx context.Context) (_ map[string]int64, err error) {
	ctx, end := s.beginRead(ctx, true)
	defer end(&err)
	out := map[string]int64{}
	err = s.eachRow(ctx, `SELECT campaign, granted FROM campaign_spend WHERE granted > 0`, nil, func(rows *sql.Rows) error {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return err
		}
		out[name] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read campaign spend: %w", err)
	}
	return out, nil
}

// eachRow runs a read and hands each row to row.
func (s *Store) eachRow(ctx context.Context, q string, args []any, row func(*sql.Rows) error) error {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
