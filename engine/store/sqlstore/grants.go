package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	granted := make([]int64, len(names))
	for i, name := range names {
		granted[i] = t.spendDelta[name]
	}
	return t.dialect.addSpend(ctx, t, names, granted)
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
	return t.dialect.setMemberGrants(ctx, t, members, names, granted)
}

// grantBonuses grants each campaign bonus of the earn what its caps still
// allow (rules.CapRoom: the tighter of the budget and the per-member cap),
// under the campaign's row lock and the member's lock, and records the
// grants. It returns the grants by campaign name.
func (t *txn) grantBonuses(ctx context.Context, memberID string, bonuses []ledger.CampaignBonus, now time.Time) (map[string]rules.Grant, int64, error) {
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
				if err := t.emitExhausted(memberID, b, spend, now); err != nil {
					return nil, 0, err
				}
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
