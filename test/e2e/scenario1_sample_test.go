//go:build e2e

package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The coffee-chain sample, deployed as a user would, in a namespace that
// enforces the restricted Pod Security Standard, so every pod the operator
// makes is admitted there or the program never gets Ready.
var _ = Describe("Scenario 1: the sample program on real pods", Ordered, func() {
	const ns = "e2e-sample"
	var engine *engineClient

	BeforeAll(func() {
		restrictedNamespace(ns)
		kubectl("apply", "-n", ns, "-k", "config/samples")
	})

	It("gets Ready and ConfigApplied from real pods", func() {
		took := waitProgramReady(ns, "bean-rewards", 3*time.Minute)
		fmt.Fprintf(GinkgoWriter, "bean-rewards Ready=True and ConfigApplied=True after %s\n", took.Round(time.Second))
		pods := enginePods(ns, "bean-rewards")
		Expect(pods).To(HaveLen(1))
		Expect(pods[0].Status.Phase).To(BeEquivalentTo("Running"))
	})

	It("enrols, earns and redeems through the Service by its DNS name", func() {
		engine = serviceClient(ns, "bean-rewards")
		engine.must("POST", "/v1/members", "ingest", map[string]any{"idempotencyKey": "enrol-ana", "memberId": "ana"}, nil)
		engine.must("POST", "/v1/adjustments", "admin", map[string]any{"idempotencyKey": "welcome-ana", "memberId": "ana", "points": 100, "reason": "welcome"}, nil)
		var earned earnResult
		engine.must("POST", "/v1/earn", "ingest", map[string]any{
			"idempotencyKey": "earn-order-1", "memberId": "ana", "eventId": "order-1",
			"amount": "12.40", "occurredAt": time.Now().UTC().Format(time.RFC3339Nano),
		}, &earned)
		Expect(earned.Points).To(BeNumerically(">=", 12), "one bean per euro, floored, before any campaign")
		Expect(earned.Pending).To(BeTrue(), "the sample keeps points pending for 7 days")
		var redeemed struct {
			Redemption struct {
				Points int64 `json:"points"`
			} `json:"redemption"`
			Balance balance `json:"balance"`
		}
		engine.must("POST", "/v1/redemptions", "ingest", map[string]any{"idempotencyKey": "redeem-1", "memberId": "ana", "rewardId": "free-espresso"}, &redeemed)
		Expect(redeemed.Redemption.Points).To(BeEquivalentTo(60))
		Expect(redeemed.Balance.Available).To(BeEquivalentTo(100 - 60))
		Expect(redeemed.Balance.Pending).To(Equal(earned.Points))
	})

	It("serves the same ledger through kubectl port-forward", func() {
		forwarded := portForward(ns, "bean-rewards")
		var ana balance
		forwarded.must("GET", "/v1/members/ana", "read", nil, &ana)
		Expect(ana.Available).To(BeEquivalentTo(40))
		Expect(ana.Pending).To(BeNumerically(">=", 12))
	})
})
