package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// programName is the name of every program: each lives in a namespace of its
// own, the way separate brands or teams would.
const programName = "loyalty"

var tierNames = []string{"bronze", "silver", "gold", "platinum", "diamond", "black"}

func namespaceOf(i int) string { return fmt.Sprintf("bench-%03d", i) }

func tierName(rank int) string {
	if rank < len(tierNames) {
		return tierNames[rank]
	}
	return fmt.Sprintf("tier-%d", rank)
}

func earnMultiplier(rank int) loyaltyv1alpha1.Multiplier {
	if rank == 0 {
		return "1"
	}
	return loyaltyv1alpha1.Multiplier(fmt.Sprintf("1.%d", min(rank, 9)))
}

func campaignName(i int) string { return fmt.Sprintf("campaign-%02d", i) }

// programObjects are the objects of one program in the order they are
// created: the program first, as a GitOps tool applying one directory would.
func (b *bench) programObjects(i int, now time.Time) []client.Object {
	ns := namespaceOf(i)
	objs := []client.Object{&loyaltyv1alpha1.LoyaltyProgram{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: programName},
		Spec: loyaltyv1alpha1.LoyaltyProgramSpec{
			DisplayName: fmt.Sprintf("Program %d", i),
			Currency:    "EUR",
			Points: loyaltyv1alpha1.PointsPolicy{
				EarnRate:      "1",
				PendingPeriod: "7d",
				Actions:       []loyaltyv1alpha1.ActionReward{{Name: "review", Points: 20, MaxPerDay: ptr.To(int32(1))}},
			},
		},
	}}
	window := loyaltyv1alpha1.Duration("365d")
	for rank := 0; rank < b.opts.tiers; rank++ {
		points := loyaltyv1alpha1.Points(rank * 1000)
		objs = append(objs, &loyaltyv1alpha1.Tier{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tierName(rank)},
			Spec: loyaltyv1alpha1.TierSpec{
				ProgramRef:    loyaltyv1alpha1.ProgramReference{Name: programName},
				DisplayName:   tierName(rank),
				Rank:          int32(rank),
				Qualification: loyaltyv1alpha1.TierQualification{MinQualifyingPoints: &points, Window: &window},
				Benefits:      loyaltyv1alpha1.TierBenefits{EarnMultiplier: earnMultiplier(rank)},
			},
		})
	}
	rewards := make([]loyaltyv1alpha1.Reward, b.opts.rewards)
	types := []loyaltyv1alpha1.RewardType{loyaltyv1alpha1.RewardFreeProduct, loyaltyv1alpha1.RewardDiscount, loyaltyv1alpha1.RewardGiftCard, loyaltyv1alpha1.RewardExperience}
	for r := range rewards {
		rewards[r] = loyaltyv1alpha1.Reward{
			ID:          fmt.Sprintf("reward-%03d", r),
			DisplayName: fmt.Sprintf("Reward %d of program %d", r, i),
			Type:        types[r%len(types)],
			Cost:        loyaltyv1alpha1.Points(50 + 10*r),
			Value:       ptr.To(loyaltyv1alpha1.Decimal(fmt.Sprintf("%d.50", 1+r%40))),
		}
		if r%5 == 0 {
			rewards[r].MinimumTier = tierName(r / 5 % b.opts.tiers)
		}
		if r%3 == 0 {
			rewards[r].Limit = &loyaltyv1alpha1.RedemptionLimit{Count: 1, Period: loyaltyv1alpha1.LimitPerDay}
		}
	}
	objs = append(objs, &loyaltyv1alpha1.RewardCatalog{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "catalog"},
		Spec:       loyaltyv1alpha1.RewardCatalogSpec{ProgramRef: loyaltyv1alpha1.ProgramReference{Name: programName}, Rewards: rewards},
	})
	// Half the campaigns run now, half open in a month; no boundary falls
	// within the run, so none of them has reason to write while idle.
	for c := 0; c < b.opts.campaigns; c++ {
		start, end := now.Add(-24*time.Hour), now.Add(30*24*time.Hour)
		if c%2 == 1 {
			start, end = now.Add(30*24*time.Hour), now.Add(37*24*time.Hour)
		}
		objs = append(objs, b.campaign(ns, campaignName(c), start, end, c))
	}
	return objs
}

func (b *bench) campaign(ns, name string, start, end time.Time, i int) *loyaltyv1alpha1.Campaign {
	c := &loyaltyv1alpha1.Campaign{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: loyaltyv1alpha1.CampaignSpec{
			ProgramRef:  loyaltyv1alpha1.ProgramReference{Name: programName},
			DisplayName: name,
			Schedule:    loyaltyv1alpha1.CampaignSchedule{Start: metav1.NewTime(start), End: ptr.To(metav1.NewTime(end))},
			Rules:       loyaltyv1alpha1.CampaignRules{PointsMultiplier: ptr.To(loyaltyv1alpha1.Multiplier("2"))},
			Limits:      &loyaltyv1alpha1.CampaignLimits{TotalBonusBudget: ptr.To(loyaltyv1alpha1.Points(100000))},
			Stacking:    loyaltyv1alpha1.StackingStack,
			Priority:    int32(i),
		},
	}
	if i%3 == 1 && b.opts.tiers > 1 {
		c.Spec.Audience = &loyaltyv1alpha1.CampaignAudience{Tiers: []string{tierName(1)}}
	}
	return c
}

// createAll creates the namespaces, then every object with at most
// --concurrency requests in flight.
func (b *bench) createAll(ctx context.Context, objs []client.Object) error {
	for i := 0; i < b.opts.programs; i++ {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaceOf(i)}}
		if err := b.k8s.Create(ctx, ns); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	return createConcurrently(ctx, b.k8s, objs, b.opts.concurrency)
}

func createConcurrently(ctx context.Context, c client.Client, objs []client.Object, concurrency int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(objs) || ctx.Err() != nil {
					return
				}
				obj := objs[i]
				if err := c.Create(ctx, obj, client.FieldOwner(benchUser)); err != nil {
					errs <- fmt.Errorf("creating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
