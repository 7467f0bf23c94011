package render_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func program() *loyaltyv1alpha1.LoyaltyProgram {
	expiry := loyaltyv1alpha1.Duration("365d")
	return &loyaltyv1alpha1.LoyaltyProgram{
		ObjectMeta: metav1.ObjectMeta{Name: "beans", Namespace: "shop", Labels: map[string]string{"team": "marketing"}},
		Spec: loyaltyv1alpha1.LoyaltyProgramSpec{
			DisplayName: "Bean Rewards",
			Currency:    "EUR",
			Points: loyaltyv1alpha1.PointsPolicy{
				Name: "beans", EarnRate: "1.5", Rounding: loyaltyv1alpha1.RoundingNearest,
				PendingPeriod: "7d", LateEventGracePeriod: "72h",
				Expiry:  &loyaltyv1alpha1.PointsExpiry{AfterEarn: &expiry},
				Actions: []loyaltyv1alpha1.ActionReward{{Name: "review", Points: 20, MaxPerDay: ptr.To[int32](1)}},
			},
			Referral: &loyaltyv1alpha1.ReferralPolicy{
				ReferrerReward: 150, RefereeReward: 100, QualifyingPurchaseMinimum: "10", HoldPeriod: "14d",
				ReferrerRewardTiers: []loyaltyv1alpha1.ReferrerRewardTier{{MinReferrals: 5, Reward: 200}},
			},
			Engine: loyaltyv1alpha1.EngineSpec{Replicas: 1, Storage: loyaltyv1alpha1.EngineStorage{Embedded: &loyaltyv1alpha1.EmbeddedStorage{}}},
		},
	}
}

func tier(name string, rank int32, created time.Time) loyaltyv1alpha1.Tier {
	window := loyaltyv1alpha1.Duration("365d")
	points := loyaltyv1alpha1.Points(100 * int64(rank))
	return loyaltyv1alpha1.Tier{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", CreationTimestamp: metav1.NewTime(created)},
		Spec: loyaltyv1alpha1.TierSpec{
			ProgramRef: loyaltyv1alpha1.ProgramReference{Name: "beans"}, DisplayName: name, Rank: rank,
			Qualification: loyaltyv1alpha1.TierQualification{MinQualifyingPoints: &points, Period: loyaltyv1alpha1.QualificationRollingWindow, Window: &window},
			Benefits:      loyaltyv1alpha1.TierBenefits{EarnMultiplier: "1.25"},
		},
	}
}

func catalog(name string, created time.Time, rewards ...loyaltyv1alpha1.Reward) loyaltyv1alpha1.RewardCatalog {
	return loyaltyv1alpha1.RewardCatalog{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", CreationTimestamp: metav1.NewTime(created)},
		Spec:       loyaltyv1alpha1.RewardCatalogSpec{ProgramRef: loyaltyv1alpha1.ProgramReference{Name: "beans"}, Rewards: rewards},
	}
}

func reward(id, minimumTier string) loyaltyv1alpha1.Reward {
	return loyaltyv1alpha1.Reward{ID: id, DisplayName: id, Type: loyaltyv1alpha1.RewardDiscount, Cost: 100, MinimumTier: minimumTier}
}

func campaign(name string, mutate func(*loyaltyv1alpha1.Campaign)) loyaltyv1alpha1.Campaign {
	c := loyaltyv1alpha1.Campaign{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", CreationTimestamp: metav1.NewTime(epoch)},
		Spec: loyaltyv1alpha1.CampaignSpec{
			ProgramRef: loyaltyv1alpha1.ProgramReference{Name: "beans"}, DisplayName: name,
			Schedule: loyaltyv1alpha1.CampaignSchedule{Start: metav1.NewTime(epoch), End: ptr.To(metav1.NewTime(epoch.Add(48 * time.Hour))), TimeZone: "UTC"},
			Rules:    loyaltyv1alpha1.CampaignRules{PointsMultiplier: ptr.To(loyaltyv1alpha1.Multiplier("2"))},
			Stacking: loyaltyv1alpha1.StackingStack,
		},
	}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func TestResolveRendersEveryValidObject(t *testing.T) {
	res := render.Resolve(render.ProgramObjects{
		Program:  program(),
		Tiers:    []loyaltyv1alpha1.Tier{tier("silver", 1, epoch), tier("bronze", 0, epoch)},
		Catalogs: []loyaltyv1alpha1.RewardCatalog{catalog("main", epoch, reward("latte", ""), reward("lounge", "silver"))},
		Campaigns: []loyaltyv1alpha1.Campaign{campaign("double", nil), campaign("happy-hour", func(c *loyaltyv1alpha1.Campaign) {
			c.Spec.Schedule.End = nil
			c.Spec.Schedule.Recurrence = &loyaltyv1alpha1.Recurrence{Cron: "0 15 * * MON-FRI", Duration: "2h"}
			c.Spec.Schedule.TimeZone = "Europe/Berlin"
			c.Spec.Audience = &loyaltyv1alpha1.CampaignAudience{Tiers: []string{"silver"}}
		})},
	})
	if res.ProgramProblem != "" || len(res.Problems) != 0 {
		t.Fatalf("unexpected problems: %q %v", res.ProgramProblem, res.Problems)
	}
	s := res.Snapshot
	if got := []string{s.Tiers[0].Name, s.Tiers[1].Name}; !slices.Equal(got, []string{"bronze", "silver"}) {
		t.Errorf("tiers = %v, want the ladder by rank", got)
	}
	if len(s.Rewards) != 2 || len(s.Campaigns) != 2 {
		t.Errorf("rewards %d, campaigns %d; want 2 and 2", len(s.Rewards), len(s.Campaigns))
	}
	if s.Points.EarnRate.String() != "1.5" || s.Points.PendingPeriod.String() != "7d" || s.Points.Expiry.AfterEarn.String() != "365d" {
		t.Errorf("points policy rendered as %+v", s.Points)
	}
	if s.Referral == nil || s.Referral.HoldPeriod.String() != "14d" || s.Referral.ReferrerRewardTiers[0].Reward != 200 {
		t.Errorf("referral rendered as %+v", s.Referral)
	}
	if s.Program.Namespace != "shop" || s.Program.Currency != "EUR" {
		t.Errorf("program rendered as %+v", s.Program)
	}
}

func TestResolveHashIgnoresListOrder(t *testing.T) {
	a := render.Resolve(render.ProgramObjects{Program: program(), Tiers: []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch), tier("silver", 1, epoch)},
		Campaigns: []loyaltyv1alpha1.Campaign{campaign("a", nil), campaign("b", nil)}})
	b := render.Resolve(render.ProgramObjects{Program: program(), Tiers: []loyaltyv1alpha1.Tier{tier("silver", 1, epoch), tier("bronze", 0, epoch)},
		Campaigns: []loyaltyv1alpha1.Campaign{campaign("b", nil), campaign("a", nil)}})
	if a.Snapshot.Hash() != b.Snapshot.Hash() {
		t.Fatal("the same objects listed in another order rendered another hash")
	}
}

func TestResolveLeavesOutInvalidObjects(t *testing.T) {
	later := epoch.Add(time.Hour)
	tests := []struct {
		name    string
		objects render.ProgramObjects
		left    render.ObjectRef
		reason  string
		message string
	}{
		{
			name:    "a newer tier with a taken rank",
			objects: render.ProgramObjects{Tiers: []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch), tier("argent", 1, later), tier("silver", 1, epoch)}},
			left:    render.ObjectRef{Kind: "Tier", Name: "argent"},
			reason:  render.ReasonConflict,
			message: "Tier argent has rank 1, which Tier silver of program beans already holds; ranks must be unique within a program",
		},
		{
			name:    "a ladder without an entry tier",
			objects: render.ProgramObjects{Tiers: []loyaltyv1alpha1.Tier{tier("silver", 1, epoch)}},
			left:    render.ObjectRef{Kind: "Tier", Name: "silver"},
			reason:  render.ReasonNoEntryTier,
			message: "program beans has no entry tier: add a Tier with rank 0 before Tier silver can take effect",
		},
		{
			name: "a reward id taken by an older catalog",
			objects: render.ProgramObjects{Catalogs: []loyaltyv1alpha1.RewardCatalog{
				catalog("seasonal", later, reward("latte", "")), catalog("main", epoch, reward("latte", "")),
			}},
			left:    render.ObjectRef{Kind: "RewardCatalog", Name: "seasonal"},
			reason:  render.ReasonConflict,
			message: "RewardCatalog seasonal: reward id latte is already used by RewardCatalog main of program beans; reward ids must be unique within a program",
		},
		{
			name:    "a reward whose minimum tier does not exist",
			objects: render.ProgramObjects{Catalogs: []loyaltyv1alpha1.RewardCatalog{catalog("main", epoch, reward("lounge", "gold"))}},
			left:    render.ObjectRef{Kind: "RewardCatalog", Name: "main"},
			reason:  render.ReasonUnknownTier,
			message: "RewardCatalog main: reward lounge has minimumTier gold, which is not a tier in effect in program beans",
		},
		{
			name: "a campaign audience naming an unknown tier",
			objects: render.ProgramObjects{Campaigns: []loyaltyv1alpha1.Campaign{campaign("vip", func(c *loyaltyv1alpha1.Campaign) {
				c.Spec.Audience = &loyaltyv1alpha1.CampaignAudience{Tiers: []string{"gold"}}
			})}},
			left:    render.ObjectRef{Kind: "Campaign", Name: "vip"},
			reason:  render.ReasonUnknownTier,
			message: "Campaign vip: audience names Tier gold, which is not a tier in effect in program beans",
		},
		{
			name: "an action bonus for an action the program does not declare",
			objects: render.ProgramObjects{Campaigns: []loyaltyv1alpha1.Campaign{campaign("reviews", func(c *loyaltyv1alpha1.Campaign) {
				c.Spec.Rules.ActionBonuses = []loyaltyv1alpha1.ActionBonus{{Action: "review", Points: 5}, {Action: "foo", Points: 5}}
			})}},
			left:    render.ObjectRef{Kind: "Campaign", Name: "reviews"},
			reason:  render.ReasonUnknownAction,
			message: `Campaign reviews: spec.rules.actionBonuses[1].action: "foo" is not an action of program beans`,
		},
		{
			name: "an unknown time zone",
			objects: render.ProgramObjects{Campaigns: []loyaltyv1alpha1.Campaign{campaign("mars", func(c *loyaltyv1alpha1.Campaign) {
				c.Spec.Schedule.TimeZone = "Mars/Olympus_Mons"
			})}},
			left:    render.ObjectRef{Kind: "Campaign", Name: "mars"},
			reason:  render.ReasonInvalid,
			message: `Campaign mars: spec.schedule.timeZone: unknown IANA time zone "Mars/Olympus_Mons"`,
		},
		{
			name: "recurring windows that overlap across a DST night",
			objects: render.ProgramObjects{Campaigns: []loyaltyv1alpha1.Campaign{campaign("long", func(c *loyaltyv1alpha1.Campaign) {
				c.Spec.Schedule.End = ptr.To(metav1.NewTime(epoch.AddDate(1, 0, 0)))
				c.Spec.Schedule.Recurrence = &loyaltyv1alpha1.Recurrence{Cron: "0 9 * * *", Duration: "23h"}
				c.Spec.Schedule.TimeZone = "Europe/Berlin"
			})}},
			left:    render.ObjectRef{Kind: "Campaign", Name: "long"},
			reason:  render.ReasonInvalid,
			message: "Campaign long: spec.schedule.recurrence.duration 23h is not shorter than the 23h between the occurrences",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.objects.Program = program()
			res := render.Resolve(tt.objects)
			if res.Snapshot == nil {
				t.Fatalf("no snapshot: %s", res.ProgramProblem)
			}
			problem, ok := res.Problems[tt.left]
			if !ok {
				t.Fatalf("%s was not left out; problems: %v", tt.left, res.Problems)
			}
			if problem.Reason != tt.reason || !strings.HasPrefix(problem.Message, tt.message) {
				t.Errorf("problem = %+v, want reason %s and message starting %q", problem, tt.reason, tt.message)
			}
			if len(res.Problems) != 1 {
				t.Errorf("only %s should be left out; problems: %v", tt.left, res.Problems)
			}
			for _, tier := range res.Snapshot.Tiers {
				if tier.Name == tt.left.Name {
					t.Errorf("%s is in the snapshot", tt.left)
				}
			}
			for _, c := range res.Snapshot.Campaigns {
				if c.Name == tt.left.Name {
					t.Errorf("%s is in the snapshot", tt.left)
				}
			}
		})
	}
}

func TestEngineWorkloads(t *testing.T) {
	p := program()
	p.Spec.Engine.Storage.Embedded.Size = ptr.To(resource.MustParse("5Gi"))
	p.Spec.Engine.Storage.Embedded.StorageClassName = ptr.To("fast")
	p.Spec.RetentionPolicy = loyaltyv1alpha1.RetentionDelete
	sts := render.StatefulSet(p, "registry.example/loyalty:v1")
	if got := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(); got != "5Gi" {
		t.Errorf("claim size %s, want 5Gi", got)
	}
	if *sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != "fast" {
		t.Error("storage class not rendered")
	}
	if sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != "Delete" {
		t.Error("retention policy Delete must delete the claim with the StatefulSet")
	}
	if sts.Labels["team"] != "" {
		t.Error("user labels are never copied")
	}
	args := strings.Join(sts.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--store=sqlite --sqlite-path=/var/lib/points-engine/ledger.db") {
		t.Errorf("args %q", args)
	}

	p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app"}}}
	p.Spec.Engine.Replicas = 3
	p.Spec.Engine.Image = "registry.example/custom:v2"
	d := render.Deployment(p, "registry.example/loyalty:v1")
	c := d.Spec.Template.Spec.Containers[0]
	if *d.Spec.Replicas != 3 || c.Image != "registry.example/custom:v2" {
		t.Errorf("replicas %d image %s", *d.Spec.Replicas, c.Image)
	}
	if env := c.Env[len(c.Env)-1]; env.Name != "DATABASE_URL" || env.ValueFrom.SecretKeyRef.Key != "uri" {
		t.Errorf("database URL env %+v; the key defaults to uri, as CloudNativePG's app Secret has it", env)
	}
	if schema := render.PostgresSchema(p); !strings.HasPrefix(schema, "loyalty_beans_") || len(schema) > 63 {
		t.Errorf("schema %q", schema)
	}
}

// TestProbesStateTheServerDefaults: a probe field left at zero is defaulted
// by the API server, so the stored workload would never match the rendered
// one and every reconcile would patch it.
func TestProbesStateTheServerDefaults(t *testing.T) {
	postgres := program()
	postgres.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app"}}}
	for kind, c := range map[string]corev1.Container{
		"StatefulSet": render.StatefulSet(program(), "img").Spec.Template.Spec.Containers[0],
		"Deployment":  render.Deployment(postgres, "img").Spec.Template.Spec.Containers[0],
	} {
		for name, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if probe.PeriodSeconds == 0 || probe.TimeoutSeconds == 0 || probe.SuccessThreshold == 0 || probe.FailureThreshold == 0 {
				t.Errorf("%s %s probe leaves a field to the API server's defaults: %+v", kind, name, probe)
			}
		}
	}
}

// TestPodsPassRestrictedPodSecurity checks every rendered pod spec with the
// Pod Security admission library itself, at the restricted level.
func TestPodsPassRestrictedPodSecurity(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	embedded := program()
	postgres := program()
	postgres.Spec.Engine.Replicas = 2
	postgres.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app", Key: "uri"}}}
	for name, spec := range map[string]corev1.PodTemplateSpec{
		"StatefulSet": render.StatefulSet(embedded, "img").Spec.Template,
		"Deployment":  render.Deployment(postgres, "img").Spec.Template,
	} {
		for _, result := range evaluator.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, &spec.ObjectMeta, &spec.Spec) {
			if !result.Allowed {
				t.Errorf("%s pod violates the restricted Pod Security Standard: %s: %s", name, result.ForbiddenReason, result.ForbiddenDetail)
			}
		}
	}
}

func TestAPIKeysAreFilledButNeverReplaced(t *testing.T) {
	data := map[string][]byte{"read": []byte("kept")}
	added, err := render.FillAPIKeys(data, strings.NewReader(strings.Repeat("x", 64)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{"admin", "ingest"}) || string(data["read"]) != "kept" {
		t.Fatalf("added %v, data %v", added, data)
	}
	if !strings.HasPrefix(string(data["admin"]), "lo_admin_") {
		t.Errorf("admin key %q", data["admin"])
	}
	if _, err := render.FillAPIKeys(map[string][]byte{}, strings.NewReader("short")); err == nil {
		t.Error("a failing random source must fail, not produce a weak key")
	}
}
