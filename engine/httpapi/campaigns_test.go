package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// campaignSnapshot has one day-long window ending at windowEnd for every
// campaign, an action with maxPerDay 2 and two tiers.
func campaignSnapshot(windowEnd time.Time) string {
	start, end := windowEnd.Add(-24*time.Hour).Format(time.RFC3339), windowEnd.Format(time.RFC3339)
	window := fmt.Sprintf(`"schedule": {"start": %q, "end": %q}`, start, end)
	return `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s", "lateEventGracePeriod": "72h",
             "actions": [{"name": "review", "points": 10, "maxPerDay": 2}]},
  "tiers": [
    {"name": "bronze", "displayName": "Bronze", "rank": 0, "qualification": {"minQualifyingPoints": 0, "window": "365d"}},
    {"name": "silver", "displayName": "Silver", "rank": 1, "qualification": {"minQualifyingPoints": 100, "window": "365d"},
     "earnMultiplier": "2", "downgradeGracePeriod": "1d"}
  ],
  "campaigns": [
    {"name": "bonus", "displayName": "Bonus", ` + window + `, "rules": {"purchaseBonus": {"points": 5}}, "priority": 1},
    {"name": "double", "displayName": "Double", ` + window + `, "audience": {"memberTags": ["vip"]}, "rules": {"pointsMultiplier": "2"}, "priority": 2},
    {"name": "solo", "displayName": "Solo", ` + window + `, "audience": {"memberTags": ["solo"]}, "rules": {"purchaseBonus": {"points": 50}},
     "stacking": "Exclusive", "priority": 9},
    {"name": "review-extra", "displayName": "Review-Extra", ` + window + `, "rules": {"actionBonuses": [{"action": "review", "points": 3}]}},
    {"name": "capped", "displayName": "Capped", ` + window + `, "audience": {"memberTags": ["capped"]}, "rules": {"purchaseBonus": {"points": 40}},
     "limits": {"totalBonusBudget": 1000, "perMemberCap": 60}}
  ]
}`
}

func (e *env) enroll(t *testing.T, id string, tags ...string) {
	t.Helper()
	body := map[string]any{"idempotencyKey": "enroll-" + id, "memberId": id}
	if len(tags) > 0 {
		body["tags"] = tags
	}
	r := e.do(t, "POST", "/v1/members", ingestKey, body)
	if r.status != 201 {
		t.Fatalf("enroll %s: %d %s", id, r.status, r.body)
	}
}

// earnedFull is an earn's response with the full explanation.
type earnedFull struct {
	ledger.EarnRecord
	Explanation *rules.Explanation `json:"explanation"`
	Replayed    bool               `json:"replayed"`
}

// earn earns with the full explanation, and returns the response and its
// explanation as sent.
func (e *env) earn(t *testing.T, body map[string]any) (earnedFull, []byte) {
	t.Helper()
	r := e.do(t, "POST", "/v1/earn?explain=full", ingestKey, body)
	if r.status != 200 {
		t.Fatalf("earn %v: %d %s", body, r.status, r.body)
	}
	var res earnedFull
	r.decode(t, &res)
	if res.Explanation == nil {
		t.Fatalf("earn %v: no explanation: %s", body, r.body)
	}
	var raw struct{ Explanation json.RawMessage }
	r.decode(t, &raw)
	return res, raw.Explanation
}

func TestEarnWithCampaignsAndTiers(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "plain")
	e.enroll(t, "vip", "vip")
	e.enroll(t, "solo", "solo", "vip")
	e.enroll(t, "capped", "capped")
	inside, outside := windowEnd.Add(-time.Second).Format(time.RFC3339), windowEnd.Format(time.RFC3339)

	tests := []struct {
		name, member, amount, action, at string
		points                           int64
		// applied lists the applied campaigns with their granted bonus;
		// reasons the reason of some that did not apply.
		applied map[string]int64
		reasons map[string]string
		capHit  string
	}{
		{name: "stacking bonus, audience by tag excludes", member: "plain", amount: "10", at: inside, points: 15,
			applied: map[string]int64{"bonus": 5}, reasons: map[string]string{"double": rules.ReasonAudienceTags, "solo": rules.ReasonAudienceTags}},
		{name: "window end is outside", member: "plain", amount: "10", at: outside, points: 10,
			applied: map[string]int64{}, reasons: map[string]string{"bonus": rules.ReasonOutsideWindow, "double": rules.ReasonOutsideWindow}},
		{name: "audience by tag includes, stacks", member: "vip", amount: "10", at: inside, points: 25,
			applied: map[string]int64{"double": 10, "bonus": 5}},
		{name: "exclusive wins over stacking", member: "solo", amount: "10", at: inside, points: 60,
			applied: map[string]int64{"solo": 50}, reasons: map[string]string{"bonus": rules.ReasonExclusiveOverridden, "double": rules.ReasonExclusiveOverridden}},
		{name: "action with bonus", member: "plain", action: "review", at: inside, points: 13,
			applied: map[string]int64{"review-extra": 3}, reasons: map[string]string{"bonus": rules.ReasonNoRuleForEvent}},
		{name: "action again, within maxPerDay", member: "plain", action: "review", at: inside, points: 13,
			applied: map[string]int64{"review-extra": 3}},
		{name: "action over maxPerDay earns nothing", member: "plain", action: "review", at: inside, points: 0,
			applied: map[string]int64{}, reasons: map[string]string{"review-extra": rules.ReasonDailyLimitReached}},
		{name: "per-member cap room", member: "capped", amount: "10", at: inside, points: 55,
			applied: map[string]int64{"capped": 40, "bonus": 5}},
		{name: "per-member cap cuts the bonus", member: "capped", amount: "10", at: inside, points: 35,
			applied: map[string]int64{"capped": 20, "bonus": 5}, capHit: rules.CapPerMember},
		{name: "per-member cap used up", member: "capped", amount: "10", at: inside, points: 15,
			applied: map[string]int64{"bonus": 5}, reasons: map[string]string{"capped": rules.ReasonMemberCapReached}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"idempotencyKey": fmt.Sprint("k", i), "memberId": tt.member, "eventId": fmt.Sprint("e", i), "occurredAt": tt.at}
			if tt.action != "" {
				body["action"] = tt.action
			} else {
				body["amount"] = tt.amount
			}
			res, _ := e.earn(t, body)
			ex := res.Explanation
			if res.Points != tt.points || ex.Points != tt.points {
				t.Fatalf("points %d, explanation %d; want %d: %+v", res.Points, ex.Points, tt.points, ex)
			}
			applied := map[string]int64{}
			for _, c := range ex.Campaigns {
				if c.Applied {
					applied[c.Name] = c.Granted
				} else if want, ok := tt.reasons[c.Name]; ok && c.Reason != want {
					t.Errorf("campaign %s: reason %q, want %q", c.Name, c.Reason, want)
				}
			}
			if fmt.Sprint(applied) != fmt.Sprint(tt.applied) {
				t.Errorf("applied %v, want %v", applied, tt.applied)
			}
			if tt.capHit == "" && len(ex.CapsHit) > 0 || tt.capHit != "" && (len(ex.CapsHit) != 1 || ex.CapsHit[0].Cap != tt.capHit) {
				t.Errorf("caps hit %+v, want %q", ex.CapsHit, tt.capHit)
			}
		})
	}

	// The campaigns' spend is what the store granted.
	r := e.do(t, "GET", "/v1/campaigns/capped", readKey, nil)
	var capped CampaignView
	r.decode(t, &capped)
	if r.status != 200 || capped.Granted != 60 || capped.Remaining == nil || *capped.Remaining != 940 || capped.Phase != "Completed" {
		t.Errorf("GET capped: %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/v1/campaigns", readKey, nil)
	var list CampaignList
	r.decode(t, &list)
	if len(list.Campaigns) != 5 || list.Campaigns[0].Name != "bonus" || list.Campaigns[0].Granted != 5*5 || list.Campaigns[0].Remaining != nil {
		t.Errorf("GET campaigns: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/campaigns/nope", readKey, nil); r.status != 404 || r.problem(t).Code != "campaign_not_found" {
		t.Errorf("GET unknown campaign: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/campaigns", ingestKey, nil); r.status != 403 {
		t.Errorf("GET campaigns with an ingest key: %d", r.status)
	}
}

func TestCampaignPhaseByTime(t *testing.T) {
	windowEnd := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Minute)
	e := newEnv(t, campaignSnapshot(windowEnd))
	r := e.do(t, "GET", "/v1/campaigns/bonus", readKey, nil)
	var v CampaignView
	r.decode(t, &v)
	if v.Phase != "Active" || v.Window == nil || !v.Window.End.Equal(windowEnd) || v.NextTransition == nil || !v.NextTransition.Equal(windowEnd) {
		t.Errorf("now: %s", r.body)
	}
	e.ahead.Store(int64(3 * time.Hour))
	r = e.do(t, "GET", "/v1/campaigns/bonus", readKey, nil)
	r.decode(t, &v)
	if v.Phase != "Completed" {
		t.Errorf("3h later: %s", r.body)
	}
}

func TestTierUpgradeOnEarn(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute) // no campaign applies
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "climber")
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	member := func() MemberResponse {
		t.Helper()
		r := e.do(t, "GET", "/v1/members/climber", readKey, nil)
		var v MemberResponse
		r.decode(t, &v)
		if r.status != 200 || v.TierStatus == nil {
			t.Fatalf("member: %d %s", r.status, r.body)
		}
		return v
	}
	e.earn(t, map[string]any{"idempotencyKey": "a", "memberId": "climber", "eventId": "a", "amount": "60", "occurredAt": at})
	if v := member(); v.Tier != "" || v.TierStatus.Current != "bronze" || v.TierStatus.Next == nil ||
		v.TierStatus.Next.Name != "silver" || *v.TierStatus.Next.MissingPoints != 40 {
		t.Fatalf("after 60 points: %+v %+v", v, v.TierStatus)
	}
	res, _ := e.earn(t, map[string]any{"idempotencyKey": "b", "memberId": "climber", "eventId": "b", "amount": "40", "occurredAt": at})
	if res.Points != 40 || res.Explanation.Tier.Name != "bronze" {
		t.Fatalf("qualifying earn: %+v", res)
	}
	if v := member(); v.Tier != "silver" || v.TierStatus.Current != "silver" || v.TierStatus.Next != nil || v.TierStatus.Pending != "" {
		t.Fatalf("after 100 points: %+v %+v", v, v.TierStatus)
	}
	// The silver multiplier applies from the next earn.
	res, _ = e.earn(t, map[string]any{"idempotencyKey": "c", "memberId": "climber", "eventId": "c", "amount": "10", "occurredAt": at})
	if res.Points != 20 || res.Explanation.Tier.Name != "silver" || res.Explanation.PointsWithoutCampaigns != 20 {
		t.Fatalf("earn at silver: %+v %+v", res, res.Explanation)
	}
	r := e.do(t, "GET", "/v1/members/climber/ledger", readKey, nil)
	if !strings.Contains(string(r.body), `"kind":"tier","available":0,"pending":0,"lifetime":0,"reference":"silver","reason":"upgrade from bronze"`) {
		t.Errorf("history without the upgrade: %s", r.body)
	}
}

// A member whose second earn of a batch reaches the next tier is upgraded
// by that batch; the first earn alone would not have reached it.
func TestTierUpgradeOnBatchEarn(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute) // no campaign applies
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "climber")
	e.enroll(t, "stayer")
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	ev := func(member, id, amount string) map[string]any {
		return map[string]any{"idempotencyKey": id, "memberId": member, "eventId": id, "amount": amount, "occurredAt": at}
	}
	r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": []any{
		ev("climber", "a", "60"), ev("stayer", "b", "99"), ev("climber", "c", "40"),
	}})
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	for member, want := range map[string]string{"climber": "silver", "stayer": ""} {
		var v MemberResponse
		e.do(t, "GET", "/v1/members/"+member, readKey, nil).decode(t, &v)
		if v.Tier != want {
			t.Errorf("%s: tier %q, want %q", member, v.Tier, want)
		}
	}
}

// A replay returns the original explanation's summary, which the earn
// answered by default and stored, with the original grants, even after the
// caps changed and when the full explanation is asked for.
func TestReplayReturnsOriginalExplanation(t *testing.T) {
	windowEnd := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "capped", "capped")
	at := windowEnd.Add(-time.Minute).Format(time.RFC3339)
	body := map[string]any{"idempotencyKey": "k1", "memberId": "capped", "eventId": "e1", "amount": "10", "occurredAt": at}
	summary := func(path string) (ledger.EarnResult, []byte) {
		t.Helper()
		r := e.do(t, "POST", path, ingestKey, body)
		var res ledger.EarnResult
		r.decode(t, &res)
		var raw struct{ Explanation json.RawMessage }
		r.decode(t, &raw)
		return res, raw.Explanation
	}
	first, firstEx := summary("/v1/earn")
	if first.Replayed || first.Summary == nil || first.Summary.Points != first.Points || strings.Contains(string(firstEx), "message") {
		t.Fatalf("earn: %+v, explanation %s; want the summary", first, firstEx)
	}
	e.earn(t, map[string]any{"idempotencyKey": "k2", "memberId": "capped", "eventId": "e2", "amount": "10", "occurredAt": at})
	for _, path := range []string{"/v1/earn", "/v1/earn?explain=full"} {
		again, againEx := summary(path)
		if !again.Replayed || again.Points != first.Points || string(againEx) != string(firstEx) {
			t.Errorf("replay %s %+v\n%s\nwant\n%s", path, again, againEx, firstEx)
		}
	}
	// In a batch too.
	r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": []any{body}})
	var b struct {
		Items []struct {
			Result struct {
				Replayed    bool
				Explanation json.RawMessage
			}
		}
	}
	r.decode(t, &b)
	if len(b.Items) != 1 || !b.Items[0].Result.Replayed || string(b.Items[0].Result.Explanation) != string(firstEx) {
		t.Errorf("batch replay: %s", r.body)
	}
}

// cappedPurchases serves campaignSnapshot with the member "capped" (tagged
// capped) enrolled, and returns three purchases of 10 by that member inside
// the campaigns' window, and the time they occurred at.
func cappedPurchases(t *testing.T) (*env, []any, string) {
	t.Helper()
	windowEnd := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	e := newEnv(t, campaignSnapshot(windowEnd))
	e.enroll(t, "capped", "capped")
	at := windowEnd.Add(-time.Minute).Format(time.RFC3339)
	var events []any
	for i := range 3 {
		events = append(events, map[string]any{"idempotencyKey": fmt.Sprint("b", i), "memberId": "capped", "eventId": fmt.Sprint("e", i), "amount": "10", "occurredAt": at})
	}
	return e, events, at
}

// A batch prices each event like a single earn; the store's caps hold
// across the batch's events of one member.
func TestBatchEarnWithCaps(t *testing.T) {
	e, events, at := cappedPurchases(t)
	events = append(events, map[string]any{"idempotencyKey": "b-action", "memberId": "capped", "eventId": "r", "action": "review", "occurredAt": at})
	r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": events})
	var out ledger.EarnBatchResult
	r.decode(t, &out)
	if r.status != 200 || out.Succeeded != 4 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var bonus, total int64
	for _, it := range out.Items[:3] {
		for _, c := range it.Result.Summary.Campaigns {
			if c.Name == "capped" {
				bonus += c.Granted
			}
		}
		total += it.Result.Points
	}
	// Each event asked for 40 of a 60 cap: the three together got 60.
	if bonus != 60 || total != 3*(10+5)+60 {
		t.Errorf("capped bonus %d, points %d; want 60, %d: %s", bonus, total, 3*15+60, r.body)
	}
	if p := out.Items[3].Result.Points; p != 13 {
		t.Errorf("action in a batch: %d points, want 13", p)
	}
}

// TestBatchEarnResultMatchesReplay checks the result a fresh batch item
// answers, which the ledger hands over already encoded, against the one a
// replay of the same batch decodes from the store and encodes again: the
// same bytes, but for the replay's "replayed" flag.
func TestBatchEarnResultMatchesReplay(t *testing.T) {
	e, events, _ := cappedPurchases(t)
	type item struct {
		Result json.RawMessage `json:"result"`
	}
	var first, again struct{ Items []item }
	if r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": events}); r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	} else {
		r.decode(t, &first)
	}
	if r := e.do(t, "POST", "/v1/earn/batch", ingestKey, map[string]any{"events": events}); r.status != 200 {
		t.Fatalf("replayed batch: %d %s", r.status, r.body)
	} else {
		r.decode(t, &again)
	}
	for i := range events {
		fresh, replayed := string(first.Items[i].Result), string(again.Items[i].Result)
		if !strings.Contains(fresh, `"campaigns":[`) {
			t.Fatalf("item %d: no campaigns explained: %s", i, fresh)
		}
		if want := strings.TrimSuffix(replayed, `,"replayed":true}`) + "}"; fresh != want {
			t.Errorf("item %d answered\n%s\nits replay\n%s", i, fresh, replayed)
		}
	}
}
