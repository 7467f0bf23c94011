package v1alpha1_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// Minimal valid objects; each invalid case patches one of them.
const (
	baseProgram = `
apiVersion: loyaltyops.io/v1alpha1
kind: LoyaltyProgram
metadata: {name: program}
spec:
  displayName: Program
  currency: EUR
  points: {earnRate: "1"}
`
	baseTier = `
apiVersion: loyaltyops.io/v1alpha1
kind: Tier
metadata: {name: tier}
spec:
  programRef: {name: program}
  displayName: Tier
  rank: 1
  qualification: {minQualifyingPoints: 100, window: 365d}
`
	baseCatalog = `
apiVersion: loyaltyops.io/v1alpha1
kind: RewardCatalog
metadata: {name: catalog}
spec:
  programRef: {name: program}
  rewards:
  - {id: free-coffee, displayName: Free coffee, type: FreeProduct, cost: 100}
`
	baseCampaign = `
apiVersion: loyaltyops.io/v1alpha1
kind: Campaign
metadata: {name: campaign}
spec:
  programRef: {name: program}
  displayName: Campaign
  schedule: {start: "2026-12-01T00:00:00Z", end: "2026-12-02T00:00:00Z"}
  rules: {pointsMultiplier: "2"}
`
)

// newNamespace creates a fresh namespace so that tests never see each other's objects.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
	return ns.Name
}

// objectFrom decodes YAML, applies a JSON merge patch written in YAML, and places the object in a namespace.
func objectFrom(base, patch, namespace string) *unstructured.Unstructured {
	doc, err := yaml.YAMLToJSON([]byte(base))
	Expect(err).NotTo(HaveOccurred())
	if patch != "" {
		patchJSON, err := yaml.YAMLToJSON([]byte(patch))
		Expect(err).NotTo(HaveOccurred())
		doc, err = jsonpatch.MergePatch(doc, patchJSON)
		Expect(err).NotTo(HaveOccurred())
	}
	obj := &unstructured.Unstructured{}
	Expect(obj.UnmarshalJSON(doc)).To(Succeed())
	obj.SetNamespace(namespace)
	return obj
}

type invalidCase struct {
	base    string
	patch   string // JSON merge patch, written as YAML
	field   string // the field path the API server names
	message string // the reason it gives
}

var _ = Describe("API validation", func() {
	It("accepts every sample in config/samples", func() {
		ns := newNamespace()
		files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "loyaltyops_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(4))
		created := 0
		for _, file := range files {
			for _, obj := range readObjects(file) {
				obj.SetNamespace(ns)
				Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "creating %s %s from %s", obj.GetKind(), obj.GetName(), file)
				created++
			}
		}
		Expect(created).To(Equal(7), "the coffee chain: a program, three tiers, a catalog and two campaigns")
	})

	It("accepts the events sample and its Secrets", func() {
		ns := newNamespace()
		objs := readObjects(filepath.Join("..", "..", "config", "samples", "events.yaml"))
		Expect(objs).To(HaveLen(3), "two Secrets and a program")
		for _, obj := range objs {
			obj.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "creating %s %s", obj.GetKind(), obj.GetName())
		}
	})

	It("fills in schema defaults without a controller", func() {
		ns := newNamespace()
		program := objectFrom(baseProgram, "", ns)
		Expect(k8sClient.Create(ctx, program)).To(Succeed())
		var got loyaltyv1alpha1.LoyaltyProgram
		Expect(k8sClient.Get(ctx, clientKey(program), &got)).To(Succeed())
		Expect(got.Spec.RetentionPolicy).To(Equal(loyaltyv1alpha1.RetentionRetain))
		Expect(got.Spec.Engine.Replicas).To(BeEquivalentTo(1))
		Expect(got.Spec.Engine.Storage.Embedded).NotTo(BeNil())
		Expect(got.Spec.Engine.Storage.Embedded.Size.String()).To(Equal("1Gi"))
		Expect(got.Spec.Points.Name).To(Equal("points"))
		Expect(got.Spec.Points.Rounding).To(Equal(loyaltyv1alpha1.RoundingFloor))
		Expect(got.Spec.Points.PendingPeriod).To(BeEquivalentTo("0s"))
		Expect(got.Spec.Points.LateEventGracePeriod).To(BeEquivalentTo("72h"))
		Expect(got.Spec.TimeZone).To(Equal("UTC"))

		campaign := objectFrom(baseCampaign, "", ns)
		Expect(k8sClient.Create(ctx, campaign)).To(Succeed())
		var gotCampaign loyaltyv1alpha1.Campaign
		Expect(k8sClient.Get(ctx, clientKey(campaign), &gotCampaign)).To(Succeed())
		Expect(gotCampaign.Spec.Stacking).To(Equal(loyaltyv1alpha1.StackingStack))
		Expect(gotCampaign.Spec.Schedule.TimeZone).To(Equal("UTC"))

		tier := objectFrom(baseTier, "", ns)
		Expect(k8sClient.Create(ctx, tier)).To(Succeed())
		var gotTier loyaltyv1alpha1.Tier
		Expect(k8sClient.Get(ctx, clientKey(tier), &gotTier)).To(Succeed())
		Expect(gotTier.Spec.Qualification.Period).To(Equal(loyaltyv1alpha1.QualificationRollingWindow))
		Expect(gotTier.Spec.Benefits.EarnMultiplier).To(BeEquivalentTo("1"))
	})

	It("accepts a recurring campaign without an end whose windows do not overlap", func() {
		ns := newNamespace()
		campaign := objectFrom(baseCampaign, `
spec:
  schedule: {end: null, recurrence: {cron: "0 15 * * MON-FRI", duration: 2h}, timeZone: America/New_York}`, ns)
		Expect(k8sClient.Create(ctx, campaign)).To(Succeed())
	})

	It("accepts a program time zone, a one-time action and a weekly limit", func() {
		ns := newNamespace()
		program := objectFrom(baseProgram, `
spec:
  timeZone: Asia/Seoul
  points:
    actions:
    - {name: app-download, points: 500, limit: {count: 1, per: Lifetime}}
    - {name: workout, points: 20, limit: {count: 3, per: Week}}
    - {name: review, points: 10, maxPerDay: 2}`, ns)
		Expect(k8sClient.Create(ctx, program)).To(Succeed())
		var got loyaltyv1alpha1.LoyaltyProgram
		Expect(k8sClient.Get(ctx, clientKey(program), &got)).To(Succeed())
		Expect(got.Spec.TimeZone).To(Equal("Asia/Seoul"))
		Expect(got.Spec.Points.Actions[0].Limit).To(Equal(&loyaltyv1alpha1.ActionLimit{Count: 1, Per: loyaltyv1alpha1.LimitPerLifetime}))
	})

	It("accepts birthday points and defaults their window to the day", func() {
		ns := newNamespace()
		program := objectFrom(baseProgram, `
spec:
  points:
    birthday: {points: 250}`, ns)
		Expect(k8sClient.Create(ctx, program)).To(Succeed())
		var got loyaltyv1alpha1.LoyaltyProgram
		Expect(k8sClient.Get(ctx, clientKey(program), &got)).To(Succeed())
		Expect(got.Spec.Points.Birthday).To(Equal(&loyaltyv1alpha1.BirthdayReward{Points: 250, Window: "Day"}))
	})

	It("bounds a campaign's member tags as the engine bounds a member's tags", func() {
		ns := newNamespace()
		longest := strings.Repeat("é", config.MaxTagLength) // characters, not bytes
		campaign := objectFrom(baseCampaign, `spec: {audience: {memberTags: ["`+longest+`"]}}`, ns)
		Expect(k8sClient.Create(ctx, campaign)).To(Succeed())
		tooLong := objectFrom(baseCampaign, `spec: {audience: {memberTags: ["`+strings.Repeat("t", config.MaxTagLength+1)+`"]}}`, ns)
		tooLong.SetName("too-long")
		err := k8sClient.Create(ctx, tooLong)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.audience.memberTags[0]"))
		Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("may not be more than %d", config.MaxTagLength)))
	})

	DescribeTable("rejects invalid objects with a message naming the field and the reason",
		func(c invalidCase) {
			ns := newNamespace()
			obj := objectFrom(c.base, c.patch, ns)
			err := k8sClient.Create(ctx, obj)
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid %s", obj.GetKind())
			Expect(err.Error()).To(ContainSubstring(c.field))
			Expect(err.Error()).To(ContainSubstring(c.message))
		},
		// LoyaltyProgram
		Entry("currency not an ISO 4217 code", invalidCase{baseProgram, `spec: {currency: euro}`,
			"spec.currency", `should match '^[A-Z]{3}$'`}),
		Entry("birthday without points", invalidCase{baseProgram, `spec: {points: {birthday: {points: 0}}}`,
			"spec.points.birthday.points", "should be greater than or equal to 1"}),
		Entry("birthday window a year", invalidCase{baseProgram, `spec: {points: {birthday: {points: 10, window: Year}}}`,
			"spec.points.birthday.window", `supported values: "Day", "Week", "Month"`}),
		Entry("empty display name", invalidCase{baseProgram, `spec: {displayName: ""}`,
			"spec.displayName", "should be at least 1 chars long"}),
		Entry("negative earn rate", invalidCase{baseProgram, `spec: {points: {earnRate: "-1"}}`,
			"spec.points.earnRate", "should match"}),
		Entry("earn rate with five decimals", invalidCase{baseProgram, `spec: {points: {earnRate: "1.23456"}}`,
			"spec.points.earnRate", "should match"}),
		Entry("unknown rounding mode", invalidCase{baseProgram, `spec: {points: {rounding: Up}}`,
			"spec.points.rounding", `Unsupported value: "Up"`}),
		Entry("pending period in words", invalidCase{baseProgram, `spec: {points: {pendingPeriod: 7 days}}`,
			"spec.points.pendingPeriod", "should match"}),
		Entry("both expiry modes", invalidCase{baseProgram, `spec: {points: {expiry: {afterEarn: 365d, afterInactivity: 180d}}}`,
			"spec.points.expiry", "set exactly one of afterEarn or afterInactivity"}),
		Entry("no expiry mode", invalidCase{baseProgram, `spec: {points: {expiry: {}}}`,
			"spec.points.expiry", "set exactly one of afterEarn or afterInactivity"}),
		Entry("action name with capitals", invalidCase{baseProgram, `spec: {points: {actions: [{name: Review, points: 10}]}}`,
			"spec.points.actions[0].name", "should match"}),
		Entry("membership price in another currency", invalidCase{baseProgram, `spec: {memberships: [{name: prime, price: {amount: "99", currency: USD}, billingPeriod: Year}]}`,
			"spec", "each membership's price.currency must be the program's currency"}),
		Entry("two memberships of the same name", invalidCase{baseProgram, `spec: {memberships: [{name: prime, price: {amount: "99", currency: EUR}, billingPeriod: Year}, {name: prime, price: {amount: "9", currency: EUR}, billingPeriod: Month}]}`,
			"spec.memberships[1]", "Duplicate value"}),
		Entry("membership billed weekly", invalidCase{baseProgram, `spec: {memberships: [{name: prime, price: {amount: "99", currency: EUR}, billingPeriod: Week}]}`,
			"spec.memberships[0].billingPeriod", "should match"}),
		Entry("membership multiplier above 10", invalidCase{baseProgram, `spec: {memberships: [{name: prime, price: {amount: "99", currency: EUR}, billingPeriod: Year, benefits: {earnMultiplier: "12"}}]}`,
			"spec.memberships[0].benefits.earnMultiplier", "should match"}),
		Entry("streak without renewals", invalidCase{baseProgram, `spec: {memberships: [{name: box, price: {amount: "20", currency: EUR}, billingPeriod: 30d, streak: {renewals: 0, bonusPoints: 100}}]}`,
			"spec.memberships[0].streak.renewals", "should be greater than or equal to 1"}),
		Entry("streak without a bonus", invalidCase{baseProgram, `spec: {memberships: [{name: box, price: {amount: "20", currency: EUR}, billingPeriod: 30d, streak: {renewals: 3, bonusPoints: 0}}]}`,
			"spec.memberships[0].streak.bonusPoints", "bonusPoints must be at least 1"}),
		Entry("reward eligibility naming nothing", invalidCase{baseCatalog, `spec: {rewards: [{id: free-coffee, displayName: Free coffee, type: FreeProduct, cost: 100, eligibility: {}}]}`,
			"spec.rewards[0].eligibility", "eligibility needs at least one membership or member tag"}),
		Entry("campaign audience membership not a name", invalidCase{baseCampaign, `spec: {audience: {memberships: [Prime]}}`,
			"spec.audience.memberships[0]", "should match"}),
		Entry("action with both limit and maxPerDay", invalidCase{baseProgram, `spec: {points: {actions: [{name: review, points: 10, maxPerDay: 1, limit: {count: 2, per: Week}}]}}`,
			"spec.points.actions[0]", "set limit or maxPerDay, not both"}),
		Entry("action limit per fortnight", invalidCase{baseProgram, `spec: {points: {actions: [{name: review, points: 10, limit: {count: 2, per: Fortnight}}]}}`,
			"spec.points.actions[0].limit.per", `Unsupported value: "Fortnight"`}),
		Entry("action limit of zero", invalidCase{baseProgram, `spec: {points: {actions: [{name: review, points: 10, limit: {count: 0, per: Day}}]}}`,
			"spec.points.actions[0].limit.count", "should be greater than or equal to 1"}),
		Entry("time zone not an IANA name", invalidCase{baseProgram, `spec: {timeZone: "Korea Standard Time"}`,
			"spec.timeZone", "should match"}),
		Entry("negative referrer reward", invalidCase{baseProgram, `spec: {referral: {referrerReward: -5, refereeReward: 10}}`,
			"spec.referral.referrerReward", "should be greater than or equal to 0"}),
		Entry("referrer tier lowering the reward", invalidCase{baseProgram, `spec: {referral: {referrerReward: 100, refereeReward: 10, referrerRewardTiers: [{minReferrals: 5, reward: 50}]}}`,
			"spec", "tiers only raise the reward"}),
		Entry("two referrer tiers at the same count", invalidCase{baseProgram, `spec: {referral: {referrerReward: 100, refereeReward: 10, referrerRewardTiers: [{minReferrals: 5, reward: 150}, {minReferrals: 5, reward: 200}]}}`,
			"spec.referral.referrerRewardTiers[1]", "Duplicate value"}),
		Entry("both storage modes", invalidCase{baseProgram, `spec: {engine: {storage: {embedded: {}, postgres: {uriSecretRef: {name: db-app}}}}}`,
			"spec.engine.storage", "set exactly one of embedded or postgres"}),
		Entry("several replicas on the embedded store", invalidCase{baseProgram, `spec: {engine: {replicas: 3}}`,
			"spec.engine", "replicas greater than 1 needs spec.engine.storage.postgres"}),
		Entry("zero replicas", invalidCase{baseProgram, `spec: {engine: {replicas: 0, storage: {postgres: {uriSecretRef: {name: db-app}}}}}`,
			"spec.engine.replicas", "should be greater than or equal to 1"}),
		Entry("too many replicas", invalidCase{baseProgram, `spec: {engine: {replicas: 50, storage: {postgres: {uriSecretRef: {name: db-app}}}}}`,
			"spec.engine.replicas", "should be less than or equal to 20"}),
		Entry("unknown retention policy", invalidCase{baseProgram, `spec: {retentionPolicy: Purge}`,
			"spec.retentionPolicy", `Unsupported value: "Purge"`}),
		Entry("webhook name not a DNS label", invalidCase{baseProgram, `spec: {events: {webhooks: [{name: CRM, url: "https://crm.example", signingSecretRef: {name: s, key: k}}]}}`,
			"spec.events.webhooks[0].name", "should match"}),
		Entry("webhook over ftp", invalidCase{baseProgram, `spec: {events: {webhooks: [{name: crm, url: "ftp://crm.example", signingSecretRef: {name: s, key: k}}]}}`,
			"spec.events.webhooks[0].url", "must be an absolute http:// or https:// URL"}),
		Entry("webhook without a signing secret", invalidCase{baseProgram, `spec: {events: {webhooks: [{name: crm, url: "https://crm.example"}]}}`,
			"spec.events.webhooks[0].signingSecretRef", "Required value"}),
		Entry("signing secret key escaping the directory", invalidCase{baseProgram, `spec: {events: {webhooks: [{name: crm, url: "https://crm.example", signingSecretRef: {name: s, key: ..k}}]}}`,
			"spec.events.webhooks[0].signingSecretRef.key", "must not be '.' or start with '..'"}),
		Entry("two webhooks of one name", invalidCase{baseProgram, `spec: {events: {webhooks: [{name: crm, url: "https://a.example", signingSecretRef: {name: s, key: k}}, {name: crm, url: "https://b.example", signingSecretRef: {name: s, key: k}}]}}`,
			"spec.events.webhooks[1]", "Duplicate value"}),
		Entry("a webhook and a NATS sink of one name", invalidCase{baseProgram, `spec: {events: {webhooks: [{name: crm, url: "https://a.example", signingSecretRef: {name: s, key: k}}], nats: [{name: crm, url: "nats://nats:4222", stream: LOYALTY}]}}`,
			"spec.events", "names must be unique across all three lists"}),
		Entry("a NATS sink and an ingest source of one name", invalidCase{baseProgram, `spec: {events: {nats: [{name: bus, url: "nats://nats:4222", stream: LOYALTY}], ingest: [{name: bus, url: "nats://nats:4222", stream: POS, parkSubject: pos.parked}]}}`,
			"spec.events", "names must be unique across all three lists"}),
		Entry("NATS over http", invalidCase{baseProgram, `spec: {events: {nats: [{name: bus, url: "http://nats:4222", stream: LOYALTY}]}}`,
			"spec.events.nats[0].url", "must be a nats:// or tls:// URL"}),
		Entry("stream name with dots", invalidCase{baseProgram, `spec: {events: {nats: [{name: bus, url: "nats://nats:4222", stream: loyalty.events}]}}`,
			"spec.events.nats[0].stream", "should match"}),
		Entry("ingest without a park subject", invalidCase{baseProgram, `spec: {events: {ingest: [{name: pos, url: "nats://nats:4222", stream: POS}]}}`,
			"spec.events.ingest[0].parkSubject", "Required value"}),
		Entry("ingest filter with a middle >", invalidCase{baseProgram, `spec: {events: {ingest: [{name: pos, url: "nats://nats:4222", stream: POS, parkSubject: pos.parked, filterSubject: "pos.>.x"}]}}`,
			"spec.events.ingest[0].filterSubject", "should match"}),
		Entry("no attempts", invalidCase{baseProgram, `spec: {events: {maxAttempts: 0}}`,
			"spec.events.maxAttempts", "should be greater than or equal to 1"}),
		Entry("too many attempts", invalidCase{baseProgram, `spec: {events: {maxAttempts: 101}}`,
			"spec.events.maxAttempts", "should be less than or equal to 100"}),
		Entry("postgres without a secret name", invalidCase{baseProgram, `spec: {engine: {storage: {postgres: {uriSecretRef: {key: uri}}}}}`,
			"spec.engine.storage.postgres.uriSecretRef.name", "Required value"}),

		// Tier
		Entry("negative rank", invalidCase{baseTier, `spec: {rank: -1}`,
			"spec.rank", "should be greater than or equal to 0"}),
		Entry("rank above the ladder's top", invalidCase{baseTier, `spec: {rank: 101}`,
			"spec.rank", "should be less than or equal to 100"}),
		Entry("both qualification thresholds", invalidCase{baseTier, `spec: {qualification: {minSpend: "500"}}`,
			"spec.qualification", "set exactly one of minQualifyingPoints or minSpend"}),
		Entry("rolling window without a window", invalidCase{baseTier, `spec: {qualification: {window: null}}`,
			"spec.qualification", "window is required with period RollingWindow"}),
		Entry("calendar year with a window", invalidCase{baseTier, `spec: {qualification: {period: CalendarYear}}`,
			"spec.qualification", "not allowed with CalendarYear"}),
		Entry("multiplier above the ceiling", invalidCase{baseTier, `spec: {benefits: {earnMultiplier: "10.5"}}`,
			"spec.benefits.earnMultiplier", "a multiplier must be at most 10"}),
		Entry("multiplier below one", invalidCase{baseTier, `spec: {benefits: {earnMultiplier: "0.5"}}`,
			"spec.benefits.earnMultiplier", "should match"}),
		Entry("program reference not a name", invalidCase{baseTier, `spec: {programRef: {name: Bean_Rewards}}`,
			"spec.programRef.name", "should match"}),
		Entry("missing qualification", invalidCase{baseTier, `spec: {qualification: null}`,
			"spec.qualification", "Required value"}),

		// RewardCatalog
		Entry("duplicate reward ids", invalidCase{baseCatalog, `spec: {rewards: [{id: latte, displayName: A, type: Discount, cost: 1}, {id: latte, displayName: B, type: Discount, cost: 2}]}`,
			"spec.rewards[1]", "Duplicate value"}),
		Entry("negative cost", invalidCase{baseCatalog, `spec: {rewards: [{id: latte, displayName: A, type: Discount, cost: -1}]}`,
			"spec.rewards[0].cost", "should be greater than or equal to 0"}),
		Entry("unknown reward type", invalidCase{baseCatalog, `spec: {rewards: [{id: latte, displayName: A, type: Cash, cost: 1}]}`,
			"spec.rewards[0].type", `Unsupported value: "Cash"`}),
		Entry("availability ending before it starts", invalidCase{baseCatalog, `spec: {rewards: [{id: latte, displayName: A, type: Discount, cost: 1, availability: {start: "2026-06-01T00:00:00Z", end: "2026-05-01T00:00:00Z"}}]}`,
			"spec.rewards[0]", "availability.end must be after availability.start"}),
		Entry("unknown limit period", invalidCase{baseCatalog, `spec: {rewards: [{id: latte, displayName: A, type: Discount, cost: 1, limit: {count: 1, period: Fortnight}}]}`,
			"spec.rewards[0].limit.period", `Unsupported value: "Fortnight"`}),
		Entry("negative stock", invalidCase{baseCatalog, `spec: {rewards: [{id: latte, displayName: A, type: Discount, cost: 1, stock: -3}]}`,
			"spec.rewards[0].stock", "should be greater than or equal to 0"}),
		Entry("empty catalog", invalidCase{baseCatalog, `spec: {rewards: []}`,
			"spec.rewards", "should have at least 1 items"}),
		Entry("reward id with spaces", invalidCase{baseCatalog, `spec: {rewards: [{id: free latte, displayName: A, type: Discount, cost: 1}]}`,
			"spec.rewards[0].id", "should match"}),

		// Campaign
		Entry("end before start", invalidCase{baseCampaign, `spec: {schedule: {end: "2026-11-30T00:00:00Z"}}`,
			"spec.schedule", "spec.schedule.end must be after spec.schedule.start"}),
		Entry("end equal to start", invalidCase{baseCampaign, `spec: {schedule: {end: "2026-12-01T00:00:00Z"}}`,
			"spec.schedule", "spec.schedule.end must be after spec.schedule.start"}),
		Entry("no end and no recurrence", invalidCase{baseCampaign, `spec: {schedule: {end: null}}`,
			"spec.schedule", "spec.schedule.end is required unless spec.schedule.recurrence is set"}),
		Entry("cron in words", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: every friday, duration: 2h}}}`,
			"spec.schedule.recurrence.cron", "must be five fields"}),
		Entry("cron with four fields", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: "0 17 * *", duration: 2h}}}`,
			"spec.schedule.recurrence.cron", "must be five fields"}),
		Entry("daily window longer than a day", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: "0 17 * * *", duration: 25h}}}`,
			"spec.schedule.recurrence", "must be shorter than the time between two occurrences"}),
		Entry("weekly window longer than a week", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: "0 17 * * FRI", duration: 200h}}}`,
			"spec.schedule.recurrence", "must be shorter than the time between two occurrences"}),
		Entry("hourly window of two hours", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: "@hourly", duration: 2h}}}`,
			"spec.schedule.recurrence", "must be shorter than the time between two occurrences"}),
		Entry("zero-length window", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: "@daily", duration: 0s}}}`,
			"spec.schedule.recurrence", "must be longer than zero"}),
		Entry("window duration in days", invalidCase{baseCampaign, `spec: {schedule: {recurrence: {cron: "@weekly", duration: 2d}}}`,
			"spec.schedule.recurrence.duration", "should match"}),
		Entry("time zone not in IANA shape", invalidCase{baseCampaign, `spec: {schedule: {timeZone: Central European Time}}`,
			"spec.schedule.timeZone", "should match"}),
		Entry("multiplier above the ceiling", invalidCase{baseCampaign, `spec: {rules: {pointsMultiplier: "10.5"}}`,
			"spec.rules.pointsMultiplier", "a multiplier must be at most 10"}),
		Entry("no rules", invalidCase{baseCampaign, `spec: {rules: {pointsMultiplier: null}}`,
			"spec.rules", "spec.rules needs at least one of pointsMultiplier, purchaseBonus or actionBonuses"}),
		Entry("per-member cap above the budget", invalidCase{baseCampaign, `spec: {limits: {totalBonusBudget: 100, perMemberCap: 500}}`,
			"spec.limits", "spec.limits.perMemberCap cannot exceed spec.limits.totalBonusBudget"}),
		Entry("negative budget", invalidCase{baseCampaign, `spec: {limits: {totalBonusBudget: -1}}`,
			"spec.limits.totalBonusBudget", "should be greater than or equal to 0"}),
		Entry("unknown stacking mode", invalidCase{baseCampaign, `spec: {stacking: Sometimes}`,
			"spec.stacking", `Unsupported value: "Sometimes"`}),
		Entry("priority out of range", invalidCase{baseCampaign, `spec: {priority: 5000}`,
			"spec.priority", "should be less than or equal to 1000"}),
		Entry("zero purchase bonus", invalidCase{baseCampaign, `spec: {rules: {purchaseBonus: {points: 0}}}`,
			"spec.rules.purchaseBonus.points", "should be greater than or equal to 1"}),
		Entry("audience tier not an object name", invalidCase{baseCampaign, `spec: {audience: {tiers: [Gold Members]}}`,
			"spec.audience.tiers[0]", "should match"}),
		Entry("two bonuses for the same action", invalidCase{baseCampaign, `spec: {rules: {actionBonuses: [{action: review, points: 5}, {action: review, points: 10}]}}`,
			"spec.rules.actionBonuses[1]", "Duplicate value"}),
	)

	DescribeTable("keeps programRef immutable",
		func(base string) {
			ns := newNamespace()
			obj := objectFrom(base, "", ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			Expect(unstructured.SetNestedField(obj.Object, "other-program", "spec", "programRef", "name")).To(Succeed())
			err := k8sClient.Update(ctx, obj)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("spec.programRef"))
			Expect(err.Error()).To(ContainSubstring("spec.programRef is immutable"))
		},
		Entry("Tier", baseTier),
		Entry("RewardCatalog", baseCatalog),
		Entry("Campaign", baseCampaign),
	)
})

func clientKey(obj *unstructured.Unstructured) client.ObjectKey {
	return client.ObjectKeyFromObject(obj)
}

// readObjects splits a multi-document YAML file into objects.
func readObjects(path string) []*unstructured.Unstructured {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects
		}
		Expect(err).NotTo(HaveOccurred())
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal(doc, &obj.Object)).To(Succeed(), fmt.Sprintf("decoding %s", path))
		objects = append(objects, obj)
	}
}
