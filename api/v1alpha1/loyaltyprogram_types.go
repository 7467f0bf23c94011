package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoundingMode says how fractional points from the earn rate become whole points.
// +kubebuilder:validation:Enum=Floor;Nearest;Ceiling
type RoundingMode string

const (
	// RoundingFloor drops the fraction: 9.9 points earn 9.
	RoundingFloor RoundingMode = "Floor"
	// RoundingNearest rounds half away from zero: 9.5 points earn 10.
	RoundingNearest RoundingMode = "Nearest"
	// RoundingCeiling rounds any fraction up: 9.1 points earn 10.
	RoundingCeiling RoundingMode = "Ceiling"
)

// RetentionPolicy says what happens to member data when a program is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type RetentionPolicy string

const (
	// RetentionRetain keeps the volume claim or database rows after deletion.
	RetentionRetain RetentionPolicy = "Retain"
	// RetentionDelete removes member data together with the program.
	RetentionDelete RetentionPolicy = "Delete"
)

// LoyaltyProgramSpec declares a loyalty program and the points engine that serves it.
// +kubebuilder:validation:XValidation:rule="!has(self.memberships) || self.memberships.all(m, m.price.currency == self.currency)",message="spec.memberships: each membership's price.currency must be the program's currency"
// +kubebuilder:validation:XValidation:rule="!has(self.referral) || !has(self.referral.referrerRewardTiers) || self.referral.referrerRewardTiers.all(t, t.reward >= self.referral.referrerReward)",message="spec.referral.referrerRewardTiers: each tier's reward must be at least spec.referral.referrerReward; tiers only raise the reward"
type LoyaltyProgramSpec struct {
	// DisplayName is the program's name as members see it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName"`

	// Currency of purchases, as an ISO 4217 code such as "EUR" or "USD".
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency"`

	// TimeZone is the IANA time zone the program counts calendar periods in,
	// such as "Asia/Seoul" or "Europe/Berlin": the days, weeks, months and
	// years of action limits and reward redemption limits, and the calendar
	// years of tiers, turn over at midnight there and follow its daylight
	// saving changes. Defaults to "UTC".
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+){1,2})$`
	// +optional
	TimeZone string `json:"timeZone,omitempty"`

	// Points says how points are named, earned and how long they last.
	Points PointsPolicy `json:"points"`

	// Referral rewards members who bring in new members. Omit to disable referrals.
	// +optional
	Referral *ReferralPolicy `json:"referral,omitempty"`

	// Memberships are the paid memberships and subscriptions members can
	// start through the engine's API, each with a price, a billing period and
	// the benefits it gives while active. Names are unique.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Memberships []Membership `json:"memberships,omitempty"`

	// Engine configures the points engine deployed for this program.
	// +kubebuilder:default={}
	// +optional
	Engine EngineSpec `json:"engine,omitzero"`

	// RetentionPolicy says whether member data (the volume claim of the embedded
	// store, or the program's rows in PostgreSQL) outlives the program.
	// +kubebuilder:default=Retain
	// +optional
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`

	// Paused stops the operator from changing the program's engine and
	// configuration; the engine keeps serving with its last configuration.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// NetworkPolicy, when enabled, has the operator create a NetworkPolicy
	// that admits traffic to the engine only from the listed clients. Off by
	// default: the cluster's own policies apply.
	// +optional
	NetworkPolicy *EngineNetworkPolicy `json:"networkPolicy,omitempty"`

	// Events declares the webhooks and NATS JetStream streams the engine
	// delivers its events to, and the streams it ingests purchases from.
	// Omit to deliver nothing; the engine keeps its outbox either way.
	// +optional
	Events *EventsSpec `json:"events,omitempty"`
}

// EngineNetworkPolicy restricts who may reach the points engine.
type EngineNetworkPolicy struct {
	// Enabled creates a NetworkPolicy selecting the engine's pods that allows
	// ingress to the engine's HTTP port (the API and /metrics) from the
	// clients in allowedClients only, and nothing to any other port. Egress
	// is not restricted: the engine needs the Kubernetes API and, with
	// PostgreSQL storage, the database. Disabling it deletes the NetworkPolicy.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// AllowedClients are the peers allowed to connect, as in a NetworkPolicy
	// rule: a podSelector (pods of the program's namespace), a
	// namespaceSelector (every pod of the matching namespaces), both (the
	// matching pods of the matching namespaces) or an ipBlock. Empty allows
	// every pod of the program's namespace and nothing else. Add the
	// namespace of your Prometheus to have /metrics scraped, and that of your
	// ingress controller to expose the API.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	AllowedClients []networkingv1.NetworkPolicyPeer `json:"allowedClients,omitempty"`
}

// PointsPolicy says how points are earned and how long they last.
type PointsPolicy struct {
	// Name of the points currency as members see it, such as "beans" or "stars".
	// +kubebuilder:default=points
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Name string `json:"name,omitempty"`

	// EarnRate is the points earned per whole unit of currency spent, before
	// tier and campaign multipliers, such as "1" or "2.5".
	EarnRate Decimal `json:"earnRate"`

	// Rounding turns fractional points into whole points.
	// +kubebuilder:default=Floor
	// +optional
	Rounding RoundingMode `json:"rounding,omitempty"`

	// PendingPeriod holds earned points back before they can be redeemed, so that
	// returns within it can be clawed back cleanly. "0s" makes points available at once.
	// +kubebuilder:default="0s"
	// +optional
	PendingPeriod Duration `json:"pendingPeriod,omitempty"`

	// Expiry says when points expire. Omit for points that never expire.
	// +optional
	Expiry *PointsExpiry `json:"expiry,omitempty"`

	// LateEventGracePeriod is how long after it happened an event may still
	// arrive and be judged by its occurrence time (for campaign windows, for
	// example). Older events are refused.
	// +kubebuilder:default="72h"
	// +optional
	LateEventGracePeriod Duration `json:"lateEventGracePeriod,omitempty"`

	// Actions are the points earned for engagement events, such as a review,
	// a birthday or an order placed in the app.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Actions []ActionReward `json:"actions,omitempty"`

	// Birthday gives each member with a birth date points once a year in a
	// window around the birthday, counted in the program's time zone: by the
	// due work, or at the member's first event in the window, whichever comes
	// first. The member sees an earn entry with reason "birthday".
	// +optional
	Birthday *BirthdayReward `json:"birthday,omitempty"`
}

// BirthdayReward is the points a member gets once a year for a birthday.
type BirthdayReward struct {
	// Points granted once per year; no tier or campaign multiplier applies.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Points Points `json:"points"`

	// Window in which the points are granted: the Day of the birthday, its
	// Week (from Monday) or its Month. A 29 February birthday falls on 28
	// February in other years.
	// +kubebuilder:validation:Enum=Day;Week;Month
	// +kubebuilder:default=Day
	// +optional
	Window string `json:"window,omitempty"`
}

// PointsExpiry sets exactly one way for points to expire.
// +kubebuilder:validation:XValidation:rule="has(self.afterEarn) != has(self.afterInactivity)",message="set exactly one of afterEarn or afterInactivity"
type PointsExpiry struct {
	// AfterEarn expires each earned lot this long after it was earned.
	// +optional
	AfterEarn *Duration `json:"afterEarn,omitempty"`

	// AfterInactivity expires a member's whole balance after this long without
	// any earning or redemption.
	// +optional
	AfterInactivity *Duration `json:"afterInactivity,omitempty"`
}

// ActionReward gives points for a named engagement action.
// +kubebuilder:validation:XValidation:rule="!(has(self.maxPerDay) && has(self.limit))",message="set limit or maxPerDay, not both: maxPerDay N is limit {count: N, per: Day}"
type ActionReward struct {
	// Name of the action as back ends send it: "review", "birthday",
	// "app-order" or any custom name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]*$`
	Name string `json:"name"`

	// Points earned for the action, before tier multipliers.
	Points Points `json:"points"`

	// MaxPerDay caps how often one member earns for this action per day.
	// Deprecated: use limit {count: N, per: Day}, which it stands for.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxPerDay *int32 `json:"maxPerDay,omitempty"`

	// Limit caps how often one member earns for this action per calendar
	// period of the program's time zone: {count: 1, per: Lifetime} makes a
	// one-time action (an app download), {count: 2, per: Week} two a week
	// (weeks start on Monday). Events over the limit earn nothing.
	// +optional
	Limit *ActionLimit `json:"limit,omitempty"`
}

// ActionLimit caps how often one member earns for an action per period.
type ActionLimit struct {
	// Count of events that earn per period.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Count int32 `json:"count"`

	// Per is the period the count applies to: Day, Week (from Monday),
	// Month, Year or Lifetime (never resets), in the program's time zone.
	Per LimitPeriod `json:"per"`
}

// ReferralPolicy rewards both sides of a referral once the new member makes a
// qualifying purchase.
type ReferralPolicy struct {
	// ReferrerReward is the points the existing member earns per converted referral.
	ReferrerReward Points `json:"referrerReward"`

	// RefereeReward is the points the new member earns on their qualifying purchase.
	RefereeReward Points `json:"refereeReward"`

	// QualifyingPurchaseMinimum is the smallest first purchase, in the program's
	// currency, that converts a referral.
	// +kubebuilder:default="0"
	// +optional
	QualifyingPurchaseMinimum Decimal `json:"qualifyingPurchaseMinimum,omitempty"`

	// MaxReferralsPerReferrer caps the rewarded referrals of one member. Omit for no cap.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxReferralsPerReferrer *int32 `json:"maxReferralsPerReferrer,omitempty"`

	// HoldPeriod keeps referral rewards pending this long, so that a reversed
	// qualifying purchase can claw them back.
	// +kubebuilder:default="0s"
	// +optional
	HoldPeriod Duration `json:"holdPeriod,omitempty"`

	// ReferrerRewardTiers raise the referrer's reward once they have converted
	// at least minReferrals referrals (counting the one being rewarded).
	// +listType=map
	// +listMapKey=minReferrals
	// +kubebuilder:validation:MaxItems=10
	// +optional
	ReferrerRewardTiers []ReferrerRewardTier `json:"referrerRewardTiers,omitempty"`
}

// ReferrerRewardTier is the referrer's reward from a number of referrals on.
type ReferrerRewardTier struct {
	// MinReferrals is the count of converted referrals from which this reward applies.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=100000
	MinReferrals int32 `json:"minReferrals"`

	// Reward is the referrer's points per converted referral from then on.
	Reward Points `json:"reward"`
}

// Membership is a paid membership or subscription, such as a yearly VIP fee
// or a monthly coffee subscription.
type Membership struct {
	// Name of the membership as the engine's API and campaigns refer to it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Price charged by the billing system for each billing period; the
	// engine counts it as fee revenue on every start and renewal.
	Price Money `json:"price"`

	// BillingPeriod is how long one paid period lasts: "Month" (a calendar
	// month from the start), "Year", or a number of days such as "30d".
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^(Month|Year|[1-9][0-9]{0,2}d)$`
	BillingPeriod string `json:"billingPeriod"`

	// Benefits are what an active membership gives its member.
	// +kubebuilder:default={}
	// +optional
	Benefits MembershipBenefits `json:"benefits,omitzero"`

	// Streak rewards consecutive renewals of a subscription: a missed
	// renewal or a pause starts the count again.
	// +optional
	Streak *RenewalStreak `json:"streak,omitempty"`
}

// Money is an amount in a currency.
type Money struct {
	// Amount such as "9.99".
	Amount Decimal `json:"amount"`

	// Currency as an ISO 4217 code; it must be the program's currency.
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency"`
}

// MembershipBenefits apply while a membership is active.
type MembershipBenefits struct {
	// EarnMultiplier multiplies the points earned on purchases and actions,
	// on top of tier and campaign multipliers, such as "2" or "5".
	// +kubebuilder:default="1"
	// +optional
	EarnMultiplier Multiplier `json:"earnMultiplier,omitempty"`

	// TierFloor names a Tier of the program the member holds at least while
	// the membership is active, whatever their qualifying activity.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	TierFloor string `json:"tierFloor,omitempty"`
}

// RenewalStreak grants bonus points once a subscription has been renewed a
// number of times in a row.
type RenewalStreak struct {
	// Renewals in a row that earn the bonus, counting neither the start nor
	// renewals before a break.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=120
	Renewals int32 `json:"renewals"`

	// BonusPoints granted once per streak, on the renewal that reaches Renewals.
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="bonusPoints must be at least 1"
	BonusPoints Points `json:"bonusPoints"`
}

// EngineSpec configures the points engine that serves the program.
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || (has(self.storage) && has(self.storage.postgres))",message="spec.engine.replicas greater than 1 needs spec.engine.storage.postgres: the embedded store lives on one volume with one writer"
type EngineSpec struct {
	// Image of the points engine. Defaults to the image the operator was started with.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Replicas of the engine. More than one requires PostgreSQL storage.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Resources of the engine container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Storage is where the ledger lives.
	// +kubebuilder:default={embedded:{}}
	// +optional
	Storage EngineStorage `json:"storage,omitzero"`
}

// EngineStorage selects exactly one ledger store.
// +kubebuilder:validation:XValidation:rule="has(self.embedded) != has(self.postgres)",message="spec.engine.storage: set exactly one of embedded or postgres"
type EngineStorage struct {
	// Embedded keeps the ledger in SQLite on a persistent volume (one replica).
	// +optional
	Embedded *EmbeddedStorage `json:"embedded,omitempty"`

	// Postgres keeps the ledger in a PostgreSQL database (any number of replicas).
	// +optional
	Postgres *PostgresStorage `json:"postgres,omitempty"`
}

// EmbeddedStorage is a SQLite ledger on a volume claimed for the program.
type EmbeddedStorage struct {
	// Size of the volume claim.
	// +kubebuilder:default="1Gi"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName of the volume claim. Omit for the cluster default.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// PostgresStorage is a PostgreSQL database the engine connects to.
type PostgresStorage struct {
	// URISecretRef names a Secret key holding a connection URI such as
	// postgresql://user:pass@host:5432/db. A CloudNativePG "<cluster>-app"
	// Secret works as is with key "uri".
	URISecretRef SecretKeyReference `json:"uriSecretRef"`
}

// SecretKeyReference names one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the Secret's data.
	// +kubebuilder:default=uri
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// LoyaltyProgramStatus is the observed state of a program.
type LoyaltyProgramStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled, ConfigApplied (every engine
	// replica runs the current snapshot) and, with spec.events,
	// EventsDelivering (every sink delivers; False with reason SinkFailing
	// naming the sink and its last error while one fails).
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// SnapshotHash is the SHA-256 of the configuration snapshot rendered from
	// the program and its tiers, catalogs and campaigns.
	// +optional
	SnapshotHash string `json:"snapshotHash,omitempty"`

	// Endpoint is the in-cluster URL of the engine's HTTP API.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// APIKeySecret names the Secret holding the engine's API keys, one key per
	// scope (admin, ingest, read). Delete a key to have a new one generated.
	// +optional
	APIKeySecret string `json:"apiKeySecret,omitempty"`

	// AppliedReplicas counts the engine replicas that report running SnapshotHash.
	// +optional
	AppliedReplicas int32 `json:"appliedReplicas,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lp;lprog,categories=loyalty
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.engine.replicas`
// +kubebuilder:printcolumn:name="Config",type=string,JSONPath=`.status.conditions[?(@.type=="ConfigApplied")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LoyaltyProgram declares a customer loyalty program and runs a points engine for it.
type LoyaltyProgram struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LoyaltyProgramSpec   `json:"spec"`
	Status LoyaltyProgramStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LoyaltyProgramList is a list of LoyaltyPrograms.
type LoyaltyProgramList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoyaltyProgram `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LoyaltyProgram{}, &LoyaltyProgramList{})
}
