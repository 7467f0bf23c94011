package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

func program(ns, name string) *loyaltyv1alpha1.LoyaltyProgram {
	return &loyaltyv1alpha1.LoyaltyProgram{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": "marketing"}, Annotations: map[string]string{"owner": "loyalty-team"}},
		Spec: loyaltyv1alpha1.LoyaltyProgramSpec{
			DisplayName: "Bean Rewards",
			Currency:    "EUR",
			Points:      loyaltyv1alpha1.PointsPolicy{EarnRate: "1", PendingPeriod: "7d"},
		},
	}
}

func tier(ns, name, programName string, rank int32, minPoints int64) *loyaltyv1alpha1.Tier {
	window := loyaltyv1alpha1.Duration("365d")
	points := loyaltyv1alpha1.Points(minPoints)
	return &loyaltyv1alpha1.Tier{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: loyaltyv1alpha1.TierSpec{
			ProgramRef:    loyaltyv1alpha1.ProgramReference{Name: programName},
			DisplayName:   name,
			Rank:          rank,
			Qualification: loyaltyv1alpha1.TierQualification{MinQualifyingPoints: &points, Window: &window},
			Benefits:      loyaltyv1alpha1.TierBenefits{EarnMultiplier: "1.5"},
		},
	}
}

func catalog(ns, name, programName string, rewards ...loyaltyv1alpha1.Reward) *loyaltyv1alpha1.RewardCatalog {
	return &loyaltyv1alpha1.RewardCatalog{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       loyaltyv1alpha1.RewardCatalogSpec{ProgramRef: loyaltyv1alpha1.ProgramReference{Name: programName}, Rewards: rewards},
	}
}

func reward(id string, cost int64, minimumTier string) loyaltyv1alpha1.Reward {
	return loyaltyv1alpha1.Reward{ID: id, DisplayName: id, Type: loyaltyv1alpha1.RewardFreeProduct, Cost: loyaltyv1alpha1.Points(cost), MinimumTier: minimumTier}
}

func campaign(ns, name, programName string, start, end time.Time) *loyaltyv1alpha1.Campaign {
	return &loyaltyv1alpha1.Campaign{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: loyaltyv1alpha1.CampaignSpec{
			ProgramRef:  loyaltyv1alpha1.ProgramReference{Name: programName},
			DisplayName: name,
			Schedule:    loyaltyv1alpha1.CampaignSchedule{Start: metav1.NewTime(start), End: ptr.To(metav1.NewTime(end))},
			Rules:       loyaltyv1alpha1.CampaignRules{PointsMultiplier: ptr.To(loyaltyv1alpha1.Multiplier("2"))},
		},
	}
}

// conditionOf fetches obj and returns one of its conditions (nil when unset).
func conditionOf(obj client.Object, condType string) func(Gomega) *metav1.Condition {
	return func(g Gomega) *metav1.Condition {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *loyaltyv1alpha1.LoyaltyProgram:
			conds = o.Status.Conditions
		case *loyaltyv1alpha1.Tier:
			conds = o.Status.Conditions
		case *loyaltyv1alpha1.RewardCatalog:
			conds = o.Status.Conditions
		case *loyaltyv1alpha1.Campaign:
			conds = o.Status.Conditions
		}
		return meta.FindStatusCondition(conds, condType)
	}
}

// haveCondition matches a condition by status and reason.
func haveCondition(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return And(Not(BeNil()), HaveField("Status", status), HaveField("Reason", reason))
}

// update re-reads obj, applies mutate and writes it, retrying on conflicts
// with the controllers' own writes.
func update(obj client.Object, mutate func()) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate()
		return k8sClient.Update(ctx, obj)
	})).To(Succeed())
}

// message is the message of one condition, empty when it is unset.
func message(conds []metav1.Condition, condType string) string {
	if c := meta.FindStatusCondition(conds, condType); c != nil {
		return c.Message
	}
	return ""
}
