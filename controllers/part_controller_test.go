package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

var _ = Describe("Tier, RewardCatalog and Campaign controllers", func() {
	It("wait for a missing program and recover as soon as it appears", func() {
		ns := newNamespace()
		t := tier(ns, "bronze", "beans", 0, 0)
		cat := catalog(ns, "rewards", "beans", reward("latte", 100, ""))
		c := campaign(ns, "double", "beans", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		Expect(k8sClient.Create(ctx, cat)).To(Succeed())
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(conditionOf(t, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionFalse, "ProgramNotFound"))
		Eventually(conditionOf(cat, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionFalse, "ProgramNotFound"))
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionFalse, "ProgramNotFound"))
		Expect(message(c.Status.Conditions, loyaltyv1alpha1.ConditionReady)).To(ContainSubstring("LoyaltyProgram beans not found in namespace " + ns))

		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		Eventually(conditionOf(t, loyaltyv1alpha1.ConditionReady)).WithTimeout(2 * time.Second).Should(haveCondition(metav1.ConditionTrue, "Reconciled"))
		Eventually(conditionOf(cat, loyaltyv1alpha1.ConditionReady)).WithTimeout(2 * time.Second).Should(haveCondition(metav1.ConditionTrue, "Reconciled"))
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).WithTimeout(2 * time.Second).Should(haveCondition(metav1.ConditionTrue, "Scheduled"))
	})

	It("stall conflicting objects with a message naming both, and render only valid ones", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, program(ns, "beans"))).To(Succeed())
		bronze, silver := tier(ns, "bronze", "beans", 0, 0), tier(ns, "silver", "beans", 1, 500)
		Expect(k8sClient.Create(ctx, bronze)).To(Succeed())
		Expect(k8sClient.Create(ctx, silver)).To(Succeed())
		Eventually(conditionOf(silver, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Reconciled"))

		By("a second tier with silver's rank")
		// Creation times have one-second resolution; a tie goes to the name that sorts first, so the newcomer sorts after silver.
		sterling := tier(ns, "sterling", "beans", 1, 600)
		Expect(k8sClient.Create(ctx, sterling)).To(Succeed())
		Eventually(conditionOf(sterling, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "Conflict"))
		Expect(sterling.Status.Conditions).To(ContainElement(And(
			HaveField("Type", loyaltyv1alpha1.ConditionStalled),
			HaveField("Message", "Tier sterling has rank 1, which Tier silver of program beans already holds; ranks must be unique within a program"))))
		Expect(conditionOf(sterling, loyaltyv1alpha1.ConditionReady)(Default)).To(haveCondition(metav1.ConditionFalse, "Conflict"))
		Consistently(conditionOf(silver, loyaltyv1alpha1.ConditionReady), "1s").Should(haveCondition(metav1.ConditionTrue, "Reconciled"),
			"the tier already in effect keeps its place")

		By("a reward whose minimum tier names no tier, and a campaign audience naming an unknown tier")
		cat := catalog(ns, "vip", "beans", reward("lounge", 900, "platinum"))
		Expect(k8sClient.Create(ctx, cat)).To(Succeed())
		c := campaign(ns, "gold-rush", "beans", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
		c.Spec.Audience = &loyaltyv1alpha1.CampaignAudience{Tiers: []string{"silver", "gold"}}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(conditionOf(cat, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "UnknownTier"))
		Expect(message(cat.Status.Conditions, loyaltyv1alpha1.ConditionStalled)).To(ContainSubstring("RewardCatalog vip: reward lounge has minimumTier platinum, which is not a tier in effect in program beans"))
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "UnknownTier"))
		Expect(message(c.Status.Conditions, loyaltyv1alpha1.ConditionStalled)).To(ContainSubstring("Campaign gold-rush: audience names Tier gold"))

		Eventually(func(g Gomega) {
			snap, _ := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Tiers).To(HaveLen(2))
			g.Expect(snap.Tiers[1].Name).To(Equal("silver"))
			g.Expect(snap.Rewards).To(BeEmpty())
			g.Expect(snap.Campaigns).To(BeEmpty())
		}).Should(Succeed())

		By("resolving the conflicts")
		Expect(k8sClient.Delete(ctx, sterling)).To(Succeed())
		gold := tier(ns, "gold", "beans", 2, 2000)
		Expect(k8sClient.Create(ctx, gold)).To(Succeed())
		Eventually(conditionOf(c, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Scheduled"))
		update(cat, func() { cat.Spec.Rewards[0].MinimumTier = "gold" })
		Eventually(conditionOf(cat, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Reconciled"))
		Eventually(func(g Gomega) {
			snap, _ := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Tiers).To(HaveLen(3))
			g.Expect(snap.Rewards).To(HaveLen(1))
			g.Expect(snap.Campaigns).To(HaveLen(1))
		}).Should(Succeed())
	})
})
