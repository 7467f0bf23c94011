package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RewardType is the kind of a reward.
// +kubebuilder:validation:Enum=Discount;FreeProduct;GiftCard;Experience;Donation;Coupon
type RewardType string

// Reward types.
const (
	RewardDiscount    RewardType = "Discount"
	RewardFreeProduct RewardType = "FreeProduct"
	RewardGiftCard    RewardType = "GiftCard"
	RewardExperience  RewardType = "Experience"
	RewardDonation    RewardType = "Donation"
	RewardCoupon      RewardType = "Coupon"
)

// LimitPeriod is the span a per-member redemption limit counts over.
// +kubebuilder:validation:Enum=Day;Week;Month;Year;Lifetime
type LimitPeriod string

// Limit periods, as calendar spans in the program's time zone.
const (
	LimitPerDay      LimitPeriod = "Day"
	LimitPerWeek     LimitPeriod = "Week"
	LimitPerMonth    LimitPeriod = "Month"
	LimitPerYear     LimitPeriod = "Year"
	LimitPerLifetime LimitPeriod = "Lifetime"
)

// RewardCatalogSpec lists rewards members can redeem points for.
type RewardCatalogSpec struct {
	// ProgramRef names the LoyaltyProgram this catalog belongs to. It cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.programRef is immutable: create a new object to attach it to another program"
	ProgramRef ProgramReference `json:"programRef"`

	// Rewards of the catalog, each with an id unique within the catalog.
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=500
	Rewards []Reward `json:"rewards"`
}

// Reward is one item members can redeem points for.
// +kubebuilder:validation:XValidation:rule="!has(self.availability) || !has(self.availability.start) || !has(self.availability.end) || self.availability.end > self.availability.start",message="availability.end must be after availability.start"
type Reward struct {
	// ID identifies the reward in redemption requests. Unique within the program.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	ID string `json:"id"`

	// DisplayName is the reward's name as members see it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName"`

	// Type of the reward.
	Type RewardType `json:"type"`

	// Cost in points.
	Cost Points `json:"cost"`

	// Value of the reward in the program's currency, used for liability reporting.
	// +optional
	Value *Decimal `json:"value,omitempty"`

	// MinimumTier names the Tier (by object name) a member must hold at least.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	MinimumTier string `json:"minimumTier,omitempty"`

	// Stock is how many can be redeemed in total. Omit for unlimited.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	// +optional
	Stock *int64 `json:"stock,omitempty"`

	// Limit caps redemptions per member per period.
	// +optional
	Limit *RedemptionLimit `json:"limit,omitempty"`

	// Availability restricts when the reward can be redeemed.
	// +optional
	Availability *Availability `json:"availability,omitempty"`

	// Eligibility restricts the reward to members holding a membership or
	// carrying a tag. Omit for every member.
	// +optional
	Eligibility *RewardEligibility `json:"eligibility,omitempty"`
}

// RewardEligibility admits a member who holds any of the memberships
// (active or cancelling) or carries any of the tags.
// +kubebuilder:validation:XValidation:rule="(has(self.memberships) && size(self.memberships) > 0) || (has(self.memberTags) && size(self.memberTags) > 0)",message="eligibility needs at least one membership or member tag"
type RewardEligibility struct {
	// Memberships of the program (spec.memberships of the LoyaltyProgram).
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Memberships []string `json:"memberships,omitempty"`

	// MemberTags, 1 to 63 characters each, as a Campaign's audience.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	// +optional
	MemberTags []string `json:"memberTags,omitempty"`
}

// RedemptionLimit caps how often one member redeems a reward.
type RedemptionLimit struct {
	// Count of redemptions allowed per period.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Count int32 `json:"count"`

	// Period the count applies to.
	Period LimitPeriod `json:"period"`
}

// Availability is an optionally open-ended window [start, end).
// +kubebuilder:validation:XValidation:rule="has(self.start) || has(self.end)",message="availability needs start, end or both"
type Availability struct {
	// Start is the first instant the reward can be redeemed.
	// +optional
	Start *metav1.Time `json:"start,omitempty"`

	// End is the first instant it no longer can.
	// +optional
	End *metav1.Time `json:"end,omitempty"`
}

// RewardCatalogStatus is the observed state of a catalog.
type RewardCatalogStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rcat;rewards,categories=loyalty
// +kubebuilder:printcolumn:name="Program",type=string,JSONPath=`.spec.programRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// RewardCatalog lists rewards a loyalty program's members can redeem points for.
type RewardCatalog struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RewardCatalogSpec   `json:"spec"`
	Status RewardCatalogStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RewardCatalogList is a list of RewardCatalogs.
type RewardCatalogList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RewardCatalog `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RewardCatalog{}, &RewardCatalogList{})
}
