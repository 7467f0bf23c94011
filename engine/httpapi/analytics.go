package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
)

// DefaultAnalyticsWindow is the window of GET /v1/analytics without from,
// and of the KPI gauges.
const DefaultAnalyticsWindow = 30 * 24 * time.Hour

// Aggregates is the JSON form of rules.Aggregates.
type Aggregates struct {
	Members              int64                                 `json:"members"`
	ActiveMembers        int64                                 `json:"activeMembers"`
	PointsIssued         int64                                 `json:"pointsIssued"`
	PointsRedeemed       int64                                 `json:"pointsRedeemed"`
	PointsExpired        int64                                 `json:"pointsExpired"`
	SpendSinceEnrollment config.Decimal                        `json:"spendSinceEnrollment"`
	ReferralsMade        int64                                 `json:"referralsMade"`
	ReferralsConverted   int64                                 `json:"referralsConverted"`
	Referrers            int64                                 `json:"referrers"`
	RepeatReferrers      int64                                 `json:"repeatReferrers"`
	ReferralRewardsCost  int64                                 `json:"referralRewardsCost"`
	OutstandingAvailable int64                                 `json:"outstandingAvailable"`
	OutstandingPending   int64                                 `json:"outstandingPending"`
	Memberships          map[string]rules.MembershipAggregates `json:"memberships,omitempty"`
}

// AnalyticsReport is the body of GET /v1/analytics.
type AnalyticsReport struct {
	From       time.Time  `json:"from"`
	To         time.Time  `json:"to"`
	Aggregates Aggregates `json:"aggregates"`
	KPIs       rules.KPIs `json:"kpis"`
}

// analytics serves GET /v1/analytics?from=&to= (RFC 3339; to defaults to
// now, from to DefaultAnalyticsWindow before to).
func (s *Server) analytics(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	to := s.now()
	if v := q.Get("to"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, nil, invalid("to", "must be an RFC 3339 time, such as 2026-06-01T00:00:00Z")
		}
		to = t
	}
	from := to.Add(-DefaultAnalyticsWindow)
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, nil, invalid("from", "must be an RFC 3339 time, such as 2026-05-01T00:00:00Z")
		}
		from = t
	}
	from, to = ledger.NormTime(from), ledger.NormTime(to)
	if !from.Before(to) {
		return 0, nil, invalid("from", "must be before to")
	}
	a, err := s.ledger.Aggregates(r.Context(), from, to)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, AnalyticsReport{From: from, To: to, Aggregates: Aggregates(a), KPIs: rules.ComputeKPIs(a)}, nil
}

// kpiCollector exports the KPIs over the last DefaultAnalyticsWindow as
// gauges. The ledger is read at most once per kpiMaxAge, within kpiTimeout:
// scrapes in between reuse the last read. A failed read exports nothing
// (and is logged) until the next read.
type kpiCollector struct {
	ledger ledger.Ledger
	now    func() time.Time
	log    *slog.Logger

	mu     sync.Mutex
	readAt time.Time // of the last read, zero before the first
	kpis   rules.KPIs
	ok     bool // the last read succeeded
}

const (
	kpiMaxAge  = 30 * time.Second
	kpiTimeout = 5 * time.Second
)

// kpiGauges are the exported KPIs: name (after loyalty_engine_kpi_), help
// and value.
var kpiGauges = []struct {
	desc  *prometheus.Desc
	value func(k rules.KPIs) float64
}{
	{kpiDesc("participation_rate", "Members active in the last 30 days over members."),
		func(k rules.KPIs) float64 { return k.ParticipationRate }},
	{kpiDesc("redemption_rate", "Points redeemed over points issued in the last 30 days."),
		func(k rules.KPIs) float64 { return k.RedemptionRate }},
	{kpiDesc("average_clv", "Spend since enrolment per member, in the program's currency."),
		func(k rules.KPIs) float64 { return decimalFloat(k.AverageCLV) }},
	{kpiDesc("referral_rate", "Referrals made in the last 30 days per member."),
		func(k rules.KPIs) float64 { return k.ReferralRate }},
	{kpiDesc("referral_conversion_rate", "Referrals converted over referrals made in the last 30 days."),
		func(k rules.KPIs) float64 { return k.ReferralConversionRate }},
	{kpiDesc("repeat_referrers", "Members with at least two referrals converted in the last 30 days."),
		func(k rules.KPIs) float64 { return float64(k.RepeatReferrers) }},
	{kpiDesc("repeat_referrer_rate", "Repeat referrers over referrers in the last 30 days."),
		func(k rules.KPIs) float64 { return k.RepeatReferrerRate }},
	{kpiDesc("referral_cost_per_acquired_member", "Referral reward points per referral converted in the last 30 days."),
		func(k rules.KPIs) float64 { return decimalFloat(k.ReferralCostPerAcquiredMember) }},
	{kpiDesc("outstanding_points", "Points held by all members, available and pending: the liability."),
		func(k rules.KPIs) float64 { return float64(k.OutstandingLiability) }},
	{kpiDesc("breakage", "Points expired over points issued in the last 30 days."),
		func(k rules.KPIs) float64 { return k.Breakage }},
}

func kpiDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("loyalty_engine_kpi_"+name, help, nil, nil)
}

func decimalFloat(d config.Decimal) float64 { return float64(d.Units()) / config.DecimalScale }

// membershipGauges are the KPIs of each membership, labelled with its name.
var membershipGauges = []struct {
	desc  *prometheus.Desc
	value func(k rules.MembershipKPIs) float64
}{
	{prometheus.NewDesc("loyalty_engine_kpi_membership_paying_members", "Members holding the membership now, active or cancelling.", []string{"membership"}, nil),
		func(k rules.MembershipKPIs) float64 { return float64(k.PayingMembers) }},
	{prometheus.NewDesc("loyalty_engine_kpi_membership_churn", "Memberships ended in the last 30 days.", []string{"membership"}, nil),
		func(k rules.MembershipKPIs) float64 { return float64(k.Churn) }},
	{prometheus.NewDesc("loyalty_engine_kpi_membership_fee_revenue", "Prices of the starts and renewals of the last 30 days, in the program's currency.", []string{"membership"}, nil),
		func(k rules.MembershipKPIs) float64 { return decimalFloat(k.FeeRevenue) }},
}

// Describe implements prometheus.Collector.
func (c *kpiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range kpiGauges {
		ch <- g.desc
	}
	for _, g := range membershipGauges {
		ch <- g.desc
	}
}

// Collect implements prometheus.Collector.
func (c *kpiCollector) Collect(ch chan<- prometheus.Metric) {
	k, ok := c.current()
	if !ok {
		return
	}
	for _, g := range kpiGauges {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.value(k))
	}
	for name, m := range k.Memberships {
		for _, g := range membershipGauges {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.value(m), name)
		}
	}
}

// current returns the KPIs of the last read, reading again when it is
// kpiMaxAge old (or the clock went back). Concurrent scrapes wait for one read.
func (c *kpiCollector) current() (rules.KPIs, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < kpiMaxAge && !now.Before(c.readAt) {
		return c.kpis, c.ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), kpiTimeout)
	defer cancel()
	to := ledger.NormTime(now)
	a, err := c.ledger.Aggregates(ctx, to.Add(-DefaultAnalyticsWindow), to)
	c.readAt, c.kpis, c.ok = now, rules.ComputeKPIs(a), err == nil
	if err != nil {
		c.log.Warn("KPI gauges: read aggregates", "error", err.Error())
	}
	return c.kpis, c.ok
}
