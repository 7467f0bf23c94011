package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// QualificationPeriod is the span over which qualifying activity is counted.
// +kubebuilder:validation:Enum=RollingWindow;CalendarYear
type QualificationPeriod string

const (
	// QualificationRollingWindow counts activity in the last spec.qualification.window.
	QualificationRollingWindow QualificationPeriod = "RollingWindow"
	// QualificationCalendarYear counts activity since 1 January in the program's time zone.
	QualificationCalendarYear QualificationPeriod = "CalendarYear"
)

// TierSpec declares one rung of a program's tier ladder.
type TierSpec struct {
	// ProgramRef names the LoyaltyProgram this tier belongs to. It cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.programRef is immutable: create a new object to attach it to another program"
	ProgramRef ProgramReference `json:"programRef"`

	// DisplayName is the tier's name as members see it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName"`

	// Rank orders the ladder: 0 is the entry tier every member starts in, and
	// higher ranks are better. Ranks are unique within a program.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Rank int32 `json:"rank"`

	// Qualification is what a member needs to reach this tier.
	Qualification TierQualification `json:"qualification"`

	// Benefits of members in this tier.
	// +kubebuilder:default={}
	// +optional
	Benefits TierBenefits `json:"benefits,omitzero"`

	// DowngradeGracePeriod keeps a member in this tier this long after they
	// stop qualifying, so that a quiet month does not cost them their status.
	// +kubebuilder:default="0s"
	// +optional
	DowngradeGracePeriod Duration `json:"downgradeGracePeriod,omitempty"`
}

// TierQualification sets exactly one threshold and the period it is counted over.
// +kubebuilder:validation:XValidation:rule="has(self.minQualifyingPoints) != has(self.minSpend)",message="spec.qualification: set exactly one of minQualifyingPoints or minSpend"
// +kubebuilder:validation:XValidation:rule="self.period == 'RollingWindow' ? has(self.window) : !has(self.window)",message="spec.qualification.window is required with period RollingWindow and not allowed with CalendarYear"
type TierQualification struct {
	// MinQualifyingPoints is the points earned in the period needed to qualify.
	// Points from redemptions' cancellations and admin adjustments do not count.
	// +optional
	MinQualifyingPoints *Points `json:"minQualifyingPoints,omitempty"`

	// MinSpend is the spend in the period, in the program's currency, needed to qualify.
	// +optional
	MinSpend *Decimal `json:"minSpend,omitempty"`

	// Period over which activity is counted.
	// +kubebuilder:default=RollingWindow
	// +optional
	Period QualificationPeriod `json:"period,omitempty"`

	// Window is the length of the rolling window, such as "365d".
	// +optional
	Window *Duration `json:"window,omitempty"`
}

// TierBenefits are what a tier gives its members.
type TierBenefits struct {
	// EarnMultiplier scales the points members of this tier earn.
	// +kubebuilder:default="1"
	// +optional
	EarnMultiplier Multiplier `json:"earnMultiplier,omitempty"`

	// Perks are benefits described to members, such as "free size upgrade".
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:MinLength=1
	// +listType=set
	// +optional
	Perks []string `json:"perks,omitempty"`
}

// TierStatus is the observed state of a tier.
type TierStatus struct {
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
// +kubebuilder:resource:shortName=lt;ltier,categories=loyalty
// +kubebuilder:printcolumn:name="Program",type=string,JSONPath=`.spec.programRef.name`
// +kubebuilder:printcolumn:name="Rank",type=integer,JSONPath=`.spec.rank`
// +kubebuilder:printcolumn:name="Multiplier",type=string,JSONPath=`.spec.benefits.earnMultiplier`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Tier is one rung of a loyalty program's tier ladder, with its qualification and benefits.
type Tier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TierSpec   `json:"spec"`
	Status TierStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TierList is a list of Tiers.
type TierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tier `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Tier{}, &TierList{})
}
