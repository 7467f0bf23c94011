package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// grantRow is a campaign's granted bonus, in total (campaign_spend) or to
// one member (member_campaigns), as the batch has it.
type grantRow struct {
	granted int64
	dirty   bool // changed by the batch, written when it ends
}

type memberCampaignKey struct{ member, campaign string }

// lockCampaigns locks the spend rows of the batch's budgeted campaigns, in
// name order and after the members (also in order), so that transactions of
// several writers and processes always lock in the same order. Rows missing
// are created by campaign when first granted from.
func (t *txn) lockCampaigns(ctx context.Context, batch []*job) error {
	var names []string
	for _, j := range batch {
		names = append(names, j.campaigns...)
	}
	if len(names) == 0 {
		return t.readMemberCampaigns(ctx, batch)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	err := t.listQuery(ctx, `SELECT campaign, granted FROM campaign_spend WHERE campaign IN (%s) ORDER BY campaign`+t.d.ForUpdate,
		[][]string{names}, func(rows *sql.Rows) error {
			var name string
			var granted int64
			if err := rows.Scan(&name, &granted); err != nil {
				return err
			}
			t.campaigns[name] = &grantRow{granted: granted}
			return nil
		})
	if err != nil {
		return fmt.Errorf("lock campaign spend: %w", err)
	}
	return t.readMemberCampaigns(ctx, batch)
}

// readMemberCampaigns reads what the batch's campaigns granted its members
// so far, in one statement; the members are locked already.
func (t *txn) readMemberCampaigns(ctx context.Context, batch []*job) error {
	var members, names []string
	for _, j := range batch {
		for _, name := range j.bonuses {
			k := memberCampaignKey{j.memberID, name}
			if _, ok := t.memberCampaigns[k]; !ok {
				t.memberCampaigns[k] = &grantRow{}
				members, names = append(members, j.memberID), append(names, name)
			}
		}
	}
	if len(members) == 0 {
		return nil
	}
	err := t.listQuery(ctx, `SELECT member_id, campaign, granted FROM member_campaigns WHERE (member_id, campaign) IN (%s)`,
		[][]string{members, names}, func(rows *sql.Rows) error {
			var m, name string
			var granted int64
			if err := rows.Scan(&m, &name, &granted); err != nil {
				return err
			}
			t.memberCampaigns[memberCampaignKey{m, name}] = &grantRow{granted: granted}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read campaign bonuses: %w", err)
	}
	return nil
}

// campaign returns the campaign's spend row, locked. A campaign granting for
// the first time has no row: it is inserted (waiting for a concurrent
// insert of the same row to commit) and then locked.
func (t *txn) campaign(ctx context.Context, name string) (*grantRow, error) {
	if g, ok := t.campaigns[name]; ok {
		return g, nil
	}
	if _, err := t.exec(ctx, `INSERT INTO campaign_spend (campaign, granted) VALUES (?, 0) ON CONFLICT DO NOTHING`, name); err != nil {
		return nil, fmt.Errorf("create spend of campaign %s: %w", name, err)
	}
	g := &grantRow{}
	if err := t.queryRow(ctx, `SELECT granted FROM campaign_spend WHERE campaign = ?`+t.d.ForUpdate, []any{&g.granted}, name); err != nil {
		return nil, fmt.Errorf("lock spend of campaign %s: %w", name, err)
	}
	t.campaigns[name] = g
	return g, nil
}

// memberCampaign returns what the campaign granted the member; the member's
// lock, held by the caller, serialises its changes.
func (t *txn) memberCampaign(ctx context.Context, memberID, name string) (*grantRow, error) {
	k := memberCampaignKey{memberID, name}
	if g, ok := t.memberCampaigns[k]; ok {
		return g, nil
	}
	// Prefetched for the batch's earns; read here for an operation that
	// was not (none yet).
	g := &grantRow{}
	err := t.queryRow(ctx, `SELECT granted FROM member_campaigns WHERE member_id = ? AND campaign = ?`, []any{&g.granted}, memberID, name)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read bonus of campaign %s to %s: %w", name, memberID, err)
	}
	t.memberCampaigns[k] = g
	return g, nil
}

// flushGrants writes the batch's changed grant rows and adds the spend of
// the campaigns without a budget.
func (t *txn) flushGrants(ctx context.Context) error {
	// Budgeted campaigns' rows were locked in prefetch: their new totals.
	for _, name := range slices.Sorted(maps.Keys(t.campaigns)) {
		if g := t.campaigns[name]; g.dirty {
			if _, err := t.rawExec(ctx, t.d.rebind(`UPDATE campaign_spend SET granted = ? WHERE campaign = ?`), g.granted, name); err != nil {
				return fmt.Errorf("update spend of campaign %s: %w", name, err)
			}
			g.dirty = false
		}
	}
	if err := t.flushSpend(ctx); err != nil {
		return err
	}
	clear(t.spendDelta)
	return t.flushMemberCampaigns(ctx)
}

// spendAdd adds to campaigns' spend; the rows it locks are shared by every
// writer, so they are taken in name order.
const spendAdd = `INSERT INTO campaign_spend (campaign, granted) %s
	ON CONFLICT (campaign) DO UPDATE SET granted = campaign_spend.granted + excluded.granted`

// flushSpend adds what the campaigns without a budget granted in the batch,
// in one statement where the dialect has arrays.
func (t *txn) flushSpend(ctx context.Context) error {
	names := slices.Sorted(maps.Keys(t.spendDelta))
	names = slices.DeleteFunc(names, func(name string) bool { return t.spendDelta[name] <= 0 })
	if len(names) == 0 {
		return nil
	}
	if t.d.Arrays {
		granted := make([]int64, len(names))
		for i, name := range names {
			granted[i] = t.spendDelta[name]
		}
		q := fmt.Sprintf(spendAdd, `SELECT c, n FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS d(c, n, i) ORDER BY i`)
		if _, err := t.rawExec(ctx, q, names, granted); err != nil {
			return fmt.Errorf("add to campaigns' spend: %w", err)
		}
		return nil
	}
	q := t.d.rebind(fmt.Sprintf(spendAdd, `VALUES (?, ?)`))
	for _, name := range names {
		if _, err := t.rawExec(ctx, q, name, t.spendDelta[name]); err != nil {
			return fmt.Errorf("add to spend of campaign %s: %w", name, err)
		}
	}
	return nil
}

// memberCampaignsUpsert writes members' grants with absolute values: they
// were read and changed under the members' locks.
const memberCampaignsUpsert = `INSERT INTO member_campaigns (member_id, campaign, granted) %s
	ON CONFLICT (member_id, campaign) DO UPDATE SET granted = excluded.granted`

func (t *txn) flushMemberCampaigns(ctx context.Context) error {
	var members, names []string
	var granted []int64
	for k, g := range t.memberCampaigns {
		if g.dirty {
			members, names, granted = append(members, k.member), append(names, k.campaign), append(granted, g.granted)
			g.dirty = false
		}
	}
	if len(members) == 0 {
		return nil
	}
	if t.d.Arrays {
		q := fmt.Sprintf(memberCampaignsUpsert, `SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])`)
		if _, err := t.rawExec(ctx, q, members, names, granted); err != nil {
			return fmt.Errorf("update campaign bonuses: %w", err)
		}
		return nil
	}
	q := t.d.rebind(fmt.Sprintf(memberCampaignsUpsert, `VALUES (?, ?, ?)`))
	for i := range members {
		if _, err := t.rawExec(ctx, q, members[i], names[i], granted[i]); err != nil {
			return fmt.Errorf("update bonus of campaign %s to %s: %w", names[i], members[i], err)
		}
	}
	return nil
}

// grantBonuses grants each campaign bonus of the earn what its caps still
// allow (rules.CapRoom: the tighter of the budget and the per-member cap),
// under the campaign's row lock and the member's lock, and records the
// grants. It returns the grants by campaign name.
func (t *txn) grantBonuses(ctx context.Context, memberID string, bonuses []ledger.CampaignBonus) (map[string]rules.Grant, int64, error) {
	grants := make(map[string]rules.Grant, len(bonuses))
	var total int64
	for _, b := range bonuses {
		var room rules.CapRoom
		var spend, mine *grantRow
		var err error
		if b.Budget != nil {
			if spend, err = t.campaign(ctx, b.Campaign); err != nil {
				return nil, 0, err
			}
			room = rules.BudgetRoom(*b.Budget, spend.granted)
		}
		if b.PerMemberCap != nil {
			if mine, err = t.memberCampaign(ctx, memberID, b.Campaign); err != nil {
				return nil, 0, err
			}
			room = room.Tighter(rules.MemberCapRoom(*b.PerMemberCap, mine.granted))
		}
		g := room.Grant(b.Attributed)
		if g.Granted > 0 {
			if spend != nil {
				t.grant(spend, g.Granted)
			} else {
				t.addSpend(b.Campaign, g.Granted)
			}
			// What a member got is only kept where a cap needs it: a
			// row per member and campaign would cost every earn a write
			// per campaign.
			if mine != nil {
				t.grant(mine, g.Granted)
			}
		}
		grants[b.Campaign] = g
		total += g.Granted
	}
	return grants, total, nil
}

// actionsOn counts the member's earned events of the action in the
// rules.ActionDay of at; the caller holds the member's lock.
func (t *txn) actionsOn(ctx context.Context, memberID, action string, at time.Time) (int64, error) {
	start, end := rules.ActionDay(at)
	var n int64
	err := t.queryRow(ctx, `SELECT COUNT(*) FROM events WHERE member_id = ? AND action = ? AND occurred_at >= ? AND occurred_at < ?`,
		[]any{&n}, memberID, action, start.UnixMicro(), end.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("count action %s of %s: %w", action, memberID, err)
	}
	return n, nil
}

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
		set, args := listSet(s.cfg.Dialect, [][]string{ids})
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
	set, args := listSet(s.cfg.Dialect, [][]string{missed})
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

// eventBonus is a campaign's bonus to one event and how much of it
// reversals of the event gave back to the campaign (events.bonuses, see
// marshalBonuses; the export writes it as this object).
type eventBonus struct {
	Campaign string `json:"campaign"`
	Granted  int64  `json:"granted"`
	Returned int64  `json:"returned"`
}

// encodeBonuses is the events.bonuses of the grants that gave something,
// by campaign name; "" when none did.
func encodeBonuses(grants map[string]rules.Grant) (string, error) {
	var bonuses []eventBonus
	for _, name := range slices.Sorted(maps.Keys(grants)) {
		if g := grants[name].Granted; g > 0 {
			bonuses = append(bonuses, eventBonus{Campaign: name, Granted: g})
		}
	}
	return marshalBonuses(bonuses)
}

// marshalBonuses encodes events.bonuses compactly, since an earn of many
// campaigns writes it with every event: an array per campaign of its name,
// the bonus granted and, once reversals gave some of it back, the part
// returned, such as [["spring",10],["summer",5,2]].
func marshalBonuses(bonuses []eventBonus) (string, error) {
	if len(bonuses) == 0 {
		return "", nil
	}
	b := make([]byte, 0, 24*len(bonuses))
	b = append(b, '[')
	for i, x := range bonuses {
		if i > 0 {
			b = append(b, ',')
		}
		name, err := json.Marshal(x.Campaign)
		if err != nil {
			return "", fmt.Errorf("encode campaign bonuses: %w", err)
		}
		b = append(append(b, '['), name...)
		b = strconv.AppendInt(append(b, ','), x.Granted, 10)
		if x.Returned != 0 {
			b = strconv.AppendInt(append(b, ','), x.Returned, 10)
		}
		b = append(b, ']')
	}
	return string(append(b, ']')), nil
}

func unmarshalBonuses(s string) ([]eventBonus, error) {
	if s == "" {
		return nil, nil
	}
	var raw [][]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("decode campaign bonuses: %w", err)
	}
	bonuses := make([]eventBonus, len(raw))
	for i, r := range raw {
		b := &bonuses[i]
		dest := []any{&b.Campaign, &b.Granted, &b.Returned}
		if len(r) < 2 || len(r) > len(dest) {
			return nil, fmt.Errorf("decode campaign bonuses: %d values for a campaign, want 2 or 3", len(r))
		}
		for k, v := range r {
			if err := json.Unmarshal(v, dest[k]); err != nil {
				return nil, fmt.Errorf("decode campaign bonuses: %w", err)
			}
		}
	}
	return bonuses, nil
}

// returnBonuses gives back, for a reversal that took clawedNow points of
// an event of points (clawedBefore by earlier reversals) from the member's
// balance, each campaign's share of its bonus (rules.BonusReturn) to the
// campaign's spend and to what the campaign granted the member, and
// returns the event's bonuses updated and what each campaign got back.
// The spend rows are locked here, outside the batch's lock order: on
// PostgreSQL a deadlock that causes is retried by the writer.
func (t *txn) returnBonuses(ctx context.Context, memberID string, bonuses []eventBonus, points, clawedBefore, clawedNow int64) (map[string]int64, error) {
	var out map[string]int64
	for i := range bonuses {
		b := &bonuses[i]
		give := min(rules.BonusReturn(b.Granted, points, clawedBefore, clawedNow), b.Granted-b.Returned)
		if give <= 0 {
			continue
		}
		spend, err := t.campaign(ctx, b.Campaign)
		if err != nil {
			return nil, err
		}
		t.grant(spend, -min(give, spend.granted))
		// Only campaigns with a per-member cap keep what they granted
		// each member (see grantBonuses).
		mine, err := t.memberCampaign(ctx, memberID, b.Campaign)
		if err != nil {
			return nil, err
		}
		if n := min(give, mine.granted); n > 0 {
			t.grant(mine, -n)
		}
		b.Returned += give
		if out == nil {
			out = map[string]int64{}
		}
		out[b.Campaign] = give
	}
	return out, nil
}
