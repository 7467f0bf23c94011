package httpapi

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
	"github.com/loyaltyops/loyalty-operator/engine/store/storetest"
)

func TestAnalytics(t *testing.T) {
	e := newEnv(t, testSnapshot)
	want := storetest.SeedAnalytics(t, e.store) // recorded now, with an expiry 10 days ahead
	now := time.Now().UTC()
	from, to := now.Add(-24*time.Hour).Format(time.RFC3339), now.Add(11*24*time.Hour).Format(time.RFC3339)

	var rep AnalyticsReport
	r := e.do(t, "GET", "/v1/analytics?from="+from+"&to="+to, readKey, nil)
	if r.status != 200 {
		t.Fatalf("analytics: %d %s", r.status, r.body)
	}
	r.decode(t, &rep)
	if mustJSON(t, rep.Aggregates) != mustJSON(t, Aggregates(want)) || rep.From.Format(time.RFC3339) != from || rep.To.Format(time.RFC3339) != to {
		t.Errorf("report %s, want aggregates %+v", r.body, want)
	}
	// By hand: 7 active of 8 members, 120 of 1205 points redeemed and 100
	// expired, 225.00 spent by 8 members, 4 referrals for 8 members, 3
	// converted of 4 made, 1 repeat of 2 referrers, 500 reward points for 3
	// conversions, 235 available + 500 pending.
	wantKPIs := rules.KPIs{ParticipationRate: 0.875, RedemptionRate: 120.0 / 1205, AverageCLV: config.MustDecimal("28.125"),
		ReferralRate: 0.5, ReferralConversionRate: 0.75, RepeatReferrers: 1, RepeatReferrerRate: 0.5,
		ReferralCostPerAcquiredMember: config.MustDecimal("166.6667"), OutstandingLiability: 735, Breakage: 100.0 / 1205}
	if mustJSON(t, rep.KPIs) != mustJSON(t, wantKPIs) {
		t.Errorf("KPIs %+v\nwant %+v", rep.KPIs, wantKPIs)
	}

	// Defaults: the 30 days up to now, which end before the expiry.
	rep = AnalyticsReport{}
	e.do(t, "GET", "/v1/analytics", readKey, nil).decode(t, &rep)
	noExpiry := want
	noExpiry.PointsExpired = 0
	if d := time.Since(rep.To); d < 0 || d > time.Minute || rep.To.Sub(rep.From) != DefaultAnalyticsWindow || mustJSON(t, rep.Aggregates) != mustJSON(t, Aggregates(noExpiry)) {
		t.Errorf("default window: %+v", rep)
	}
	rep = AnalyticsReport{}
	e.do(t, "GET", "/v1/analytics?to="+to, readKey, nil).decode(t, &rep)
	if rep.From.Format(time.RFC3339) != now.Add(11*24*time.Hour-DefaultAnalyticsWindow).Format(time.RFC3339) || rep.Aggregates.PointsExpired != 100 {
		t.Errorf("window of 30 days to %s: %+v", to, rep)
	}

	for _, tt := range []struct {
		query, field string
		// invalid: the document refuses the query too.
		invalid bool
	}{
		{"from=yesterday", "from", true},
		{"to=2026-13-01T00:00:00Z", "to", true},
		{"from=" + to + "&to=" + from, "from", false},
		{"from=" + from + "&to=" + from, "from", false},
	} {
		send := e.do
		if tt.invalid {
			send = e.doInvalid
		}
		r := send(t, "GET", "/v1/analytics?"+tt.query, readKey, nil)
		if p := r.problem(t); r.status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tt.field || p.Errors[0].Reason == "" {
			t.Errorf("%s: %d %s, want a problem on %s", tt.query, r.status, r.body, tt.field)
		}
	}
	if r := e.doInvalid(t, "GET", "/v1/analytics", "", nil); r.status != 401 {
		t.Errorf("without a key: %d", r.status)
	}
}

func TestKPIGauges(t *testing.T) {
	e := newEnv(t, testSnapshot)
	storetest.SeedAnalytics(t, e.store)
	scrape := func() string {
		t.Helper()
		r := e.do(t, "GET", "/metrics", "", nil)
		if r.status != 200 {
			t.Fatalf("metrics: %d", r.status)
		}
		return string(r.body)
	}
	// Over the last 30 days: no expiry yet (see TestAnalytics).
	body := scrape()
	for _, line := range []string{
		"loyalty_engine_kpi_participation_rate 0.875",
		"loyalty_engine_kpi_redemption_rate " + strconv.FormatFloat(120.0/1205, 'g', -1, 64),
		"loyalty_engine_kpi_average_clv 28.125",
		"loyalty_engine_kpi_referral_rate 0.5",
		"loyalty_engine_kpi_referral_conversion_rate 0.75",
		"loyalty_engine_kpi_repeat_referrers 1",
		"loyalty_engine_kpi_repeat_referrer_rate 0.5",
		"loyalty_engine_kpi_referral_cost_per_acquired_member 166.6667",
		"loyalty_engine_kpi_outstanding_points 735",
		"loyalty_engine_kpi_breakage 0",
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("scrape lacks %q", line)
		}
	}
	// An adjustment is not seen until the KPIs read are 30 s old.
	if _, err := e.store.Adjust(t.Context(), ledger.AdjustRequest{IdempotencyKey: "more", MemberID: "c", Points: 365, Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
	if body := scrape(); !strings.Contains(body, "\nloyalty_engine_kpi_outstanding_points 735\n") {
		t.Errorf("second scrape read the ledger again")
	}
	e.ahead.Store(int64(31 * time.Second))
	if body := scrape(); !strings.Contains(body, "\nloyalty_engine_kpi_outstanding_points 1100\n") {
		t.Errorf("scrape 31 s later did not read the ledger again")
	}
}
