package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

const membershipSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s", "lateEventGracePeriod": "72h"},
  "memberships": [{"name": "box", "price": "19.99", "currency": "EUR", "billingPeriod": "30d", "benefits": {},
                   "streak": {"renewals": 2, "bonusPoints": 500}}]
}`

// TestMembershipLifecycle starts, renews, pauses, resumes and cancels a
// membership over HTTP, every answer checked against the document.
func TestMembershipLifecycle(t *testing.T) {
	e := newEnv(t, membershipSnapshot)
	e.enroll(t, "m1")
	r := e.do(t, "POST", "/v1/members/m1/membership", ingestKey, map[string]any{"idempotencyKey": "s1", "membership": "box", "paymentReference": "pay-1"})
	var res ledger.MembershipResult
	if r.decode(t, &res); r.status != http.StatusOK || res.Membership.State != ledger.MembershipActive || res.Fee != "19.99" {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/members/m1/membership", ingestKey, map[string]any{"idempotencyKey": "s2", "membership": "box", "paymentReference": "pay-2"}); r.status != http.StatusConflict || !strings.Contains(string(r.body), "membership_state") {
		t.Fatalf("second start: %d %s, want 409 membership_state", r.status, r.body)
	}
	for i, key := range []string{"r1", "r2"} {
		r := e.do(t, "POST", "/v1/members/m1/membership/renew", ingestKey, map[string]any{"idempotencyKey": key, "paymentReference": "pay-r"})
		if r.decode(t, &res); r.status != http.StatusOK || res.Membership.Streak != int32(i+1) {
			t.Fatalf("renewal %d: %d %s", i+1, r.status, r.body)
		}
	}
	if res.BonusPoints != 500 || res.Available != 500 {
		t.Fatalf("second renewal: %+v, want the streak bonus of 500", res)
	}
	for _, step := range []struct{ action, state string }{{"pause", ledger.MembershipPaused}, {"resume", ledger.MembershipActive}, {"cancel", ledger.MembershipCancelling}} {
		r := e.do(t, "POST", "/v1/members/m1/membership/"+step.action, ingestKey, map[string]any{"idempotencyKey": step.action})
		if r.decode(t, &res); r.status != http.StatusOK || res.Membership.State != step.state {
			t.Fatalf("%s: %d %s", step.action, r.status, r.body)
		}
	}
	var v ledger.MemberView
	if e.do(t, "GET", "/v1/members/m1", readKey, nil).decode(t, &v); v.Membership == nil || v.Membership.State != ledger.MembershipCancelling || v.Membership.Streak != 0 {
		t.Fatalf("member view: %+v", v.Membership)
	}
}

func TestMembershipRefusesBadInput(t *testing.T) {
	e := newEnv(t, membershipSnapshot)
	e.enroll(t, "m1")
	for _, tc := range []struct {
		path    string
		body    map[string]any
		status  int
		field   string
		invalid bool
	}{
		{"/v1/members/m1/membership", map[string]any{"idempotencyKey": "s1", "membership": "gold", "paymentReference": "p"}, http.StatusBadRequest, "membership", false},
		{"/v1/members/m1/membership", map[string]any{"idempotencyKey": "s1", "membership": "box"}, http.StatusBadRequest, "paymentReference", true},
		{"/v1/members/m1/membership", map[string]any{"idempotencyKey": "s1", "membership": "box", "paymentReference": "p", "startAt": "2999-01-01T00:00:00Z"}, http.StatusBadRequest, "startAt", false},
		{"/v1/members/m1/membership/renew", map[string]any{"idempotencyKey": "r1"}, http.StatusBadRequest, "paymentReference", true},
		{"/v1/members/m1/membership/pause", map[string]any{"idempotencyKey": "p1"}, http.StatusNotFound, "", false},
	} {
		send := e.do
		if tc.invalid {
			send = e.doInvalid
		}
		r := send(t, "POST", tc.path, ingestKey, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %v: %d %s, want %d", tc.path, tc.body, r.status, r.body, tc.status)
			continue
		}
		if p := r.problem(t); tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
			t.Errorf("%s %v: %s, want the problem to name %s", tc.path, tc.body, r.body, tc.field)
		}
	}
	var v ledger.MemberView
	if e.do(t, "GET", "/v1/members/m1", readKey, nil).decode(t, &v); v.Membership != nil {
		t.Fatalf("refused requests wrote a membership: %+v", v.Membership)
	}
}

const primeSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "1", "rounding": "Floor", "pendingPeriod": "0s", "lateEventGracePeriod": "72h"},
  "rewards": [{"id": "prime-box", "displayName": "Prime box", "type": "FreeProduct", "cost": 0, "eligibility": {"memberships": ["prime"]}}],
  "memberships": [{"name": "prime", "price": "99", "currency": "EUR", "billingPeriod": "Year", "benefits": {"earnMultiplier": "3"}}]
}`

// TestMembershipBenefitsOverHTTP: an earn of a prime member is tripled and
// explained, and the prime-only reward is refused to others naming rewardId.
func TestMembershipBenefitsOverHTTP(t *testing.T) {
	e := newEnv(t, primeSnapshot)
	e.enroll(t, "m1")
	r := e.do(t, "POST", "/v1/redemptions", ingestKey, map[string]any{"idempotencyKey": "x1", "memberId": "m1", "rewardId": "prime-box"})
	if p := r.problem(t); r.status != http.StatusUnprocessableEntity || p.Code != "notEligible" || len(p.Errors) != 1 || p.Errors[0].Field != "rewardId" {
		t.Fatalf("redeem without prime: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/members/m1/membership", ingestKey, map[string]any{"idempotencyKey": "s1", "membership": "prime", "paymentReference": "pay-1"}); r.status != http.StatusOK {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/redemptions", ingestKey, map[string]any{"idempotencyKey": "x2", "memberId": "m1", "rewardId": "prime-box"}); r.status != http.StatusCreated {
		t.Fatalf("redeem with prime: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/v1/earn", ingestKey, map[string]any{"idempotencyKey": "e1", "memberId": "m1", "eventId": "o1", "amount": "10.00",
		"occurredAt": time.Now().UTC().Format(time.RFC3339)})
	var out struct {
		Points      int64 `json:"points"`
		Explanation struct {
			Membership struct {
				Name           string `json:"name"`
				EarnMultiplier string `json:"earnMultiplier"`
			} `json:"membership"`
		} `json:"explanation"`
	}
	if r.decode(t, &out); r.status != http.StatusOK || out.Points != 30 || out.Explanation.Membership.Name != "prime" || out.Explanation.Membership.EarnMultiplier != "3" {
		t.Fatalf("earn with prime: %d %s", r.status, r.body)
	}
}

// TestMembershipKPIs: the analytics report and the gauges count paying
// members and fee revenue per membership.
func TestMembershipKPIs(t *testing.T) {
	e := newEnv(t, membershipSnapshot)
	for _, id := range []string{"m1", "m2"} {
		e.enroll(t, id)
		if r := e.do(t, "POST", "/v1/members/"+id+"/membership", ingestKey, map[string]any{"idempotencyKey": "s-" + id, "membership": "box", "paymentReference": "pay"}); r.status != http.StatusOK {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
	}
	if r := e.do(t, "POST", "/v1/members/m1/membership/renew", ingestKey, map[string]any{"idempotencyKey": "r1", "paymentReference": "pay"}); r.status != http.StatusOK {
		t.Fatalf("renew: %d %s", r.status, r.body)
	}
	var rep AnalyticsReport
	r := e.do(t, "GET", "/v1/analytics", readKey, nil)
	if r.decode(t, &rep); r.status != http.StatusOK {
		t.Fatalf("analytics: %d %s", r.status, r.body)
	}
	if k := rep.KPIs.Memberships["box"]; k.PayingMembers != 2 || k.Churn != 0 || k.FeeRevenue.String() != "59.97" {
		t.Fatalf("KPIs of box: %+v", k)
	}
	metrics := string(e.do(t, "GET", "/metrics", "", nil).body)
	for _, line := range []string{`loyalty_engine_kpi_membership_paying_members{membership="box"} 2`, `loyalty_engine_kpi_membership_fee_revenue{membership="box"} 59.97`} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}
