package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

// phaseChange waits for the campaign to enter phase and returns how late
// after the boundary (by the test clock) it was observed.
func phaseChange(c *loyaltyv1alpha1.Campaign, phase loyaltyv1alpha1.CampaignPhase, boundary time.Time) time.Duration {
	GinkgoHelper()
	Eventually(func(g Gomega) loyaltyv1alpha1.CampaignPhase {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		return c.Status.Phase
	}).WithTimeout(10 * time.Second).WithPolling(5 * time.Millisecond).Should(Equal(phase))
	return clock.Now().Sub(boundary)
}

func campaignEvents(ns, name string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == "Campaign" {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

var _ = Describe("Campaign controller", func() {
	AfterEach(func() { clock.offset.Store(0) })

	It("walks Scheduled, Active and Completed at the declared instants", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		start := clock.Now().Add(2 * time.Second).Truncate(time.Second)
		end := start.Add(2 * time.Second)
		c := campaign(ns, "flash", "beans", start, end)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Scheduled"),
			"a scheduled campaign is healthy, so sync waves are not blocked")
		Expect(c.Status.Phase).To(Equal(loyaltyv1alpha1.CampaignScheduled))
		Expect(c.Status.NextTransitionTime.Time).To(BeTemporally("==", start))

		lagStart := phaseChange(c, loyaltyv1alpha1.CampaignActive, start)
		Expect(c.Status.CurrentWindow.Start.Time).To(BeTemporally("==", start))
		Expect(c.Status.CurrentWindow.End.Time).To(BeTemporally("==", end))
		Expect(c.Status.NextTransitionTime.Time).To(BeTemporally("==", end))
		lagEnd := phaseChange(c, loyaltyv1alpha1.CampaignCompleted, end)
		Expect(c.Status.CurrentWindow).To(BeNil())
		Expect(c.Status.NextTransitionTime).To(BeNil())
		GinkgoWriter.Printf("phase lag behind boundary: start %v, end %v\n", lagStart, lagEnd)
		Expect(lagStart).To(BeNumerically("<", time.Second))
		Expect(lagEnd).To(BeNumerically("<", time.Second))
		Expect(lagStart).To(BeNumerically(">=", 0), "never early")

		Eventually(func() []string { return campaignEvents(ns, "flash") }).Should(ConsistOf("Activated", "Completed"),
			"events only on transitions")
	})

	It("follows a recurring window across the spring-forward night in New York", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		// 03:00 on 2026-03-08 is the first wall-clock hour after the change: 07:00 UTC (EDT),
		// while the day before 03:00 was 08:00 UTC (EST).
		boundary := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)
		clock.Set(boundary.Add(-1500 * time.Millisecond))
		c := campaign(ns, "early-bird", "beans", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		c.Spec.Schedule.Recurrence = &loyaltyv1alpha1.Recurrence{Cron: "0 3 * * *", Duration: "2s"}
		c.Spec.Schedule.TimeZone = "America/New_York"
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			g.Expect(c.Status.Phase).To(Equal(loyaltyv1alpha1.CampaignScheduled))
			g.Expect(c.Status.NextTransitionTime.Time).To(BeTemporally("==", boundary))
		}).Should(Succeed())
		lag := phaseChange(c, loyaltyv1alpha1.CampaignActive, boundary)
		Expect(c.Status.CurrentWindow.End.Time).To(BeTemporally("==", boundary.Add(2*time.Second)))
		phaseChange(c, loyaltyv1alpha1.CampaignScheduled, boundary.Add(2*time.Second))
		Expect(c.Status.NextTransitionTime.Time).To(BeTemporally("==", time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)),
			"the next window opens at 03:00 EDT")
		GinkgoWriter.Printf("DST boundary lag: %v\n", lag)
		Expect(lag).To(BeNumerically("<", time.Second))
	})

	It("pauses and resumes", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		c := campaign(ns, "running", "beans", clock.Now().Add(-time.Hour), clock.Now().Add(time.Hour))
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Active"))
		update(c, func() { c.Spec.Paused = true })
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Paused"))
		Expect(c.Status.Phase).To(Equal(loyaltyv1alpha1.CampaignPaused))
		update(c, func() { c.Spec.Paused = false })
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Active"))
		Eventually(func() []string { return campaignEvents(ns, "running") }).Should(ConsistOf("Activated", "Paused", "Activated"))
	})

	It("refuses a recurrence whose windows overlap on a daylight saving night", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		c := campaign(ns, "overlap", "beans", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		c.Spec.Schedule.Recurrence = &loyaltyv1alpha1.Recurrence{Cron: "0 9 * * *", Duration: "23h"}
		c.Spec.Schedule.TimeZone = "Europe/Berlin"
		Expect(k8sClient.Create(ctx, c)).To(Succeed(), "the API server cannot see the 23h night")
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "Invalid"))
		Expect(message(c.Status.Conditions, loyaltyv1alpha1.ConditionStalled)).To(ContainSubstring("is not shorter than the 23h between the occurrences"))
	})
})

var _ = Describe("Campaign for an action", func() {
	It("stalls while its program does not declare the action, and recovers once it does", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		p.Spec.Points.Actions = []loyaltyv1alpha1.ActionReward{{Name: "review", Points: 20}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		c := campaign(ns, "app-week", "beans", clock.Now().Add(-time.Hour), clock.Now().Add(time.Hour))
		c.Spec.Rules.ActionBonuses = []loyaltyv1alpha1.ActionBonus{{Action: "review", Points: 5}, {Action: "app-order", Points: 5}}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "UnknownAction"))
		Expect(message(c.Status.Conditions, loyaltyv1alpha1.ConditionStalled)).To(Equal(
			`Campaign app-week: spec.rules.actionBonuses[1].action: "app-order" is not an action of program beans`))
		Expect(conditionOf(c, loyaltyv1alpha1.ConditionReady)(Default)).To(haveCondition(metav1.ConditionFalse, "UnknownAction"))

		update(p, func() {
			p.Spec.Points.Actions = append(p.Spec.Points.Actions, loyaltyv1alpha1.ActionReward{Name: "app-order", Points: 5})
		})
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Active"),
			"a change of the program reconciles its campaigns")
		Expect(conditionOf(c, loyaltyv1alpha1.ConditionStalled)(Default)).To(haveCondition(metav1.ConditionFalse, "Reconciled"))
	})
})

var _ = Describe("Campaign budgets", func() {
	It("records BudgetExhausted once an engine reports the budget spent", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		c := campaign(ns, "double", "beans", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		c.Spec.Limits = &loyaltyv1alpha1.CampaignLimits{TotalBonusBudget: ptr.To(loyaltyv1alpha1.Points(500))}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		p := &loyaltyv1alpha1.LoyaltyProgram{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "beans"}}
		stop := startEngine(ns, "beans", "engine-0")
		defer stop()
		Eventually(conditionOf(p, "ConfigApplied")).Should(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Active"))
		Expect(c.Status.BudgetExhausted).To(BeFalse())

		reporter := &report.Reporter{Client: clientset, Namespace: ns, Program: "beans", Identity: "engine-0"}
		Eventually(func() error { return reporter.Exhausted(ctx, []string{"double"}) }).Should(Succeed())
		Eventually(func(g Gomega) bool {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			return c.Status.BudgetExhausted
		}).Should(BeTrue())
		Eventually(func() []string { return campaignEvents(ns, "double") }).Should(ContainElement("BudgetExhausted"))
	})
})
