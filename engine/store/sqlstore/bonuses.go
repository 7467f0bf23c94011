package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

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
func encodeBonuses(grants map[string]rules.Grant) string {
	names := make([]string, 0, len(grants))
	for name, g := range grants {
		if g.Granted > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	bonuses := make([]eventBonus, len(names))
	for i, name := range names {
		bonuses[i] = eventBonus{Campaign: name, Granted: grants[name].Granted}
	}
	return marshalBonuses(bonuses)
}

// marshalBonuses encodes events.bonuses compactly, since an earn of many
// campaigns writes it with every event: an array per campaign of its name,
// the bonus granted and, once reversals gave some of it back, the part
// returned, such as [["spring",10],["summer",5,2]]. Names are encoded as
// encoding/json would, without its reflection: a 50-campaign earn encodes
// fifty of them.
func marshalBonuses(bonuses []eventBonus) string {
	if len(bonuses) == 0 {
		return ""
	}
	b := make([]byte, 0, 24*len(bonuses))
	b = append(b, '[')
	for i, x := range bonuses {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.String(append(b, '['), x.Campaign)
		b = strconv.AppendInt(append(b, ','), x.Granted, 10)
		if x.Returned != 0 {
			b = strconv.AppendInt(append(b, ','), x.Returned, 10)
		}
		b = append(b, ']')
	}
	return string(append(b, ']'))
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
