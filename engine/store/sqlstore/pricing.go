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
// actions are counted per distinct member, action and limit window.
func (s *Store) PricingContexts(ctx context.Context, qs []ledger.PricingQuery) (_ []ledger.PricingState, err error) {
	// No wait for durability: this prices a write, whose answer waits for
	// a sync that covers all this read saw.
	ctx, end := s.beginRead(ctx, false)
	defer end(&err)
	out := make([]ledger.PricingState, len(qs))
	ids, fresh, grants := pricingMembers(qs, out)
	if len(ids) == 0 {
		return out, nil
	}
	members := make(map[string]*pricedMember, len(ids))
	if err := s.readMembers(ctx, ids, fresh, func(id string, m cachedMember) {
		members[id] = &pricedMember{grants: map[string]int64{}, tagsRev: m.tagsRev,
			mc: rules.MemberContext{ID: id, Tags: m.tags, EnrolledAt: m.enrolledAt, Tier: m.tier,
				Membership: m.membership, MembershipEnd: m.membershipEnd}}
	}); err != nil {
		return nil, err
	}
	var spend map[string]int64
	if grants {
		if spend, err = s.readGrants(ctx, ids, members); err != nil {
			return nil, err
		}
	}
	counts := map[actionWindow]int64{}
	for i, q := range qs {
		f := members[q.MemberID]
		if out[i].Err != nil {
			continue
		}
		if f == nil {
			out[i].Err = ledger.ErrMemberNotFound
			continue
		}
		out[i].Member, out[i].TagsRev = f.mc, f.tagsRev
		if q.Grants {
			// Each state gets its own maps: callers may change them.
			out[i].Member.BonusGranted, out[i].CampaignGranted = maps.Clone(f.grants), maps.Clone(spend)
		}
		if q.Action == "" || q.Limit == nil {
			continue
		}
		if out[i].Member.ActionsInPeriod, err = s.actionsIn(ctx, q, counts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pricedMember is what PricingContexts read of a member.
type pricedMember struct {
	mc      rules.MemberContext
	tagsRev int64
	grants  map[string]int64
}

// pricingMembers checks the queries' member ids, noting refusals in out,
// and returns the distinct valid ones in first order, those to read
// fresh, and whether any query wants the campaigns' grants.
func pricingMembers(qs []ledger.PricingQuery, out []ledger.PricingState) (ids []string, fresh map[string]bool, grants bool) {
	seen := make(map[string]bool, len(qs))
	fresh = map[string]bool{}
	for i, q := range qs {
		if out[i].Err = ledger.CheckMemberID(q.MemberID); out[i].Err != nil {
			continue
		}
		if !seen[q.MemberID] {
			seen[q.MemberID] = true
			ids = append(ids, q.MemberID)
		}
		if q.Fresh {
			fresh[q.MemberID] = true
		}
		grants = grants || q.Grants
	}
	return ids, fresh, grants
}

// readGrants reads what the campaigns granted each member of ids, into
// members, and returns the campaigns' spend.
func (s *Store) readGrants(ctx context.Context, ids []string, members map[string]*pricedMember) (map[string]int64, error) {
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
	spend, err := s.CampaignSpend(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ledger.ErrStoreUnavailable, err)
	}
	return spend, nil
}

// actionWindow is a member's action in a limit's window (Unix
// microseconds) counted up to bound.
type actionWindow struct {
	member, action    string
	start, end, bound int64
}

// actionsIn counts the member's earned events of the query's action in the
// window of its limit (rules.ActionLimitWindow), up to the limit's count,
// once per member, action and window.
func (s *Store) actionsIn(ctx context.Context, q ledger.PricingQuery, counts map[actionWindow]int64) (int64, error) {
	start, end := rules.ActionLimitWindow(q.Limit, q.OccurredAt, q.TimeZone)
	k := actionWindow{q.MemberID, q.Action, start.UnixMicro(), end.UnixMicro(), int64(q.Limit.Count)}
	if n, ok := counts[k]; ok {
		return n, nil
	}
	var n int64
	err := s.queryRow(ctx, countActionsQuery, q.MemberID, q.Action, k.start, k.end, q.Limit.Count).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("%w: count action %s of %s: %v", ledger.ErrStoreUnavailable, q.Action, q.MemberID, err)
	}
	counts[k] = n
	return n, nil
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
	err := s.eachRow(ctx, fmt.Sprintf(`SELECT m.id, m.tags, m.enrolled_at, m.tier, m.tags_rev, COALESCE(ms.name, ''), COALESCE(ms.period_end, 0)
		FROM members m LEFT JOIN memberships ms ON ms.member_id = m.id AND ms.state IN ('active', 'cancelling')
		WHERE m.id IN (%s)`, set), args, func(rows *sql.Rows) error {
		var id, tags string
		var m cachedMember
		var enrolled, membershipEnd int64
		if err := rows.Scan(&id, &tags, &enrolled, &m.tier, &m.tagsRev, &m.membership, &membershipEnd); err != nil {
			return err
		}
		if m.membership != "" {
			m.membershipEnd = time.UnixMicro(membershipEnd).UTC()
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
