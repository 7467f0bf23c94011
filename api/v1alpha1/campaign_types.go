package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// CampaignPhase is where a campaign is in its schedule.
// +kubebuilder:validation:Enum=Scheduled;Active;Paused;Completed
type CampaignPhase string

const (
	// CampaignScheduled waits for its next window to open.
	CampaignScheduled CampaignPhase = "Scheduled"
	// CampaignActive is inside a window: events occurring now are rewarded.
	CampaignActive CampaignPhase = "Active"
	// CampaignPaused applies to no event until it is unpaused.
	CampaignPaused CampaignPhase = "Paused"
	// CampaignCompleted has no window left.
	CampaignCompleted CampaignPhase = "Completed"
)

// StackingMode says how a campaign combines with other campaigns that apply to the same event.
// +kubebuilder:validation:Enum=Stack;Exclusive
type StackingMode string

const (
	// StackingStack adds this campaign's bonus and multiplies its multiplier with the others'.
	StackingStack StackingMode = "Stack"
	// StackingExclusive lets only the highest-priority exclusive campaign apply,
	// and no stacking campaign alongside it.
	StackingExclusive StackingMode = "Exclusive"
)

// CampaignSpec declares a time-boxed promotion of a program.
type CampaignSpec struct {
	// ProgramRef names the LoyaltyProgram this campaign belongs to. It cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.programRef is immutable: create a new object to attach it to another program"
	ProgramRef ProgramReference `json:"programRef"`

	// DisplayName is the campaign's name as members see it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName"`

	// Schedule says when the campaign applies. An event counts when the time it
	// occurred falls inside a window, whenever it arrives.
	Schedule CampaignSchedule `json:"schedule"`

	// Audience restricts the campaign to some members. Omit for every member.
	// +optional
	Audience *CampaignAudience `json:"audience,omitempty"`

	// Rules are what the campaign gives.
	Rules CampaignRules `json:"rules"`

	// Limits cap the bonus points the campaign gives.
	// +optional
	Limits *CampaignLimits `json:"limits,omitempty"`

	// Stacking says how this campaign combines with others on the same event.
	// +kubebuilder:default=Stack
	// +optional
	Stacking StackingMode `json:"stacking,omitempty"`

	// Priority decides between exclusive campaigns: the highest wins, and ties
	// go to the campaign whose name sorts first.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// Paused makes the campaign apply to no event until it is set back to false.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// CampaignSchedule is a single window [start, end), or recurring windows
// between start and end.
// +kubebuilder:validation:XValidation:rule="!has(self.end) || self.end > self.start",message="spec.schedule.end must be after spec.schedule.start"
// +kubebuilder:validation:XValidation:rule="has(self.end) || has(self.recurrence)",message="spec.schedule.end is required unless spec.schedule.recurrence is set"
type CampaignSchedule struct {
	// Start is the first instant of the campaign (RFC 3339, such as 2026-12-05T00:00:00Z).
	Start metav1.Time `json:"start"`

	// End is the first instant after the campaign. Optional for a recurring campaign
	// that runs until further notice.
	// +optional
	End *metav1.Time `json:"end,omitempty"`

	// Recurrence repeats a window inside [start, end), such as a weekday happy hour.
	// +optional
	Recurrence *Recurrence `json:"recurrence,omitempty"`

	// TimeZone is the IANA time zone the recurrence is evaluated in, such as
	// "Europe/Berlin"; windows follow its daylight saving changes.
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+){1,2})$`
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// Recurrence opens a window of the given duration at every cron occurrence.
// +kubebuilder:validation:XValidation:rule="!self.duration.matches('^([0-9]{1,5}(h|m|s)){1,3}$') || duration(self.duration) > duration('0s')",message="spec.schedule.recurrence.duration must be longer than zero"
// +kubebuilder:validation:XValidation:rule="!self.duration.matches('^([0-9]{1,5}(h|m|s)){1,3}$') || !(self.cron == '@hourly' || (size(self.cron.split(' ')) == 5 && self.cron.split(' ')[0].matches('^[0-9]+$') && self.cron.split(' ')[1] == '*')) || duration(self.duration) < duration('1h')",message="spec.schedule.recurrence.duration must be shorter than the time between two occurrences of the cron expression, or the windows would overlap"
// +kubebuilder:validation:XValidation:rule="!self.duration.matches('^([0-9]{1,5}(h|m|s)){1,3}$') || !(self.cron == '@daily' || (size(self.cron.split(' ')) == 5 && self.cron.split(' ')[0].matches('^[0-9]+$') && self.cron.split(' ')[1].matches('^[0-9]+$') && self.cron.split(' ')[2] == '*' && self.cron.split(' ')[3] == '*' && self.cron.split(' ')[4] == '*')) || duration(self.duration) < duration('24h')",message="spec.schedule.recurrence.duration must be shorter than the time between two occurrences of the cron expression, or the windows would overlap"
// +kubebuilder:validation:XValidation:rule="!self.duration.matches('^([0-9]{1,5}(h|m|s)){1,3}$') || !(self.cron == '@weekly' || (size(self.cron.split(' ')) == 5 && self.cron.split(' ')[0].matches('^[0-9]+$') && self.cron.split(' ')[1].matches('^[0-9]+$') && self.cron.split(' ')[2] == '*' && self.cron.split(' ')[3] == '*' && self.cron.split(' ')[4].matches('^([0-7]|[A-Za-z]{3})$'))) || duration(self.duration) < duration('168h')",message="spec.schedule.recurrence.duration must be shorter than the time between two occurrences of the cron expression, or the windows would overlap"
// +kubebuilder:validation:XValidation:rule="!self.duration.matches('^([0-9]{1,5}(h|m|s)){1,3}$') || duration(self.duration) <= duration('8784h')",message="spec.schedule.recurrence.duration must be at most 8784h (366 days)"
type Recurrence struct {
	// Cron is a five-field cron expression (minute hour day-of-month month
	// day-of-week), such as "0 17 * * MON-FRI", or one of @hourly, @daily,
	// @weekly, @monthly, @yearly. Each match opens a window.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:XValidation:rule="self.matches('^@(yearly|annually|monthly|weekly|daily|hourly)$') || self.matches('^([*]|([0-9]{1,2}|[A-Za-z]{3})(-([0-9]{1,2}|[A-Za-z]{3}))?)(/[0-9]{1,2})?(,([*]|([0-9]{1,2}|[A-Za-z]{3})(-([0-9]{1,2}|[A-Za-z]{3}))?)(/[0-9]{1,2})?)*( ([*]|([0-9]{1,2}|[A-Za-z]{3})(-([0-9]{1,2}|[A-Za-z]{3}))?)(/[0-9]{1,2})?(,([*]|([0-9]{1,2}|[A-Za-z]{3})(-([0-9]{1,2}|[A-Za-z]{3}))?)(/[0-9]{1,2})?)*){4}$')",message="spec.schedule.recurrence.cron must be five fields separated by single spaces (minute hour day-of-month month day-of-week), such as '0 17 * * MON-FRI', or a descriptor such as @daily"
	Cron string `json:"cron"`

	// Duration of each window, in hours, minutes and seconds, such as "2h" or "90m".
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s)){1,3}$`
	Duration string `json:"duration"`
}

// CampaignAudience restricts a campaign to matching members. A member must
// match every criterion that is set.
type CampaignAudience struct {
	// Tiers names the Tier objects whose members qualify.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Tiers []string `json:"tiers,omitempty"`

	// MemberTags: a member carrying any of these tags qualifies. A tag is 1
	// to 63 characters, the limit the points engine sets on the tags a
	// member is enrolled with.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	// +optional
	MemberTags []string `json:"memberTags,omitempty"`

	// NewMembersWithin restricts the campaign to members enrolled at most this
	// long before the event, such as "30d".
	// +optional
	NewMembersWithin *Duration `json:"newMembersWithin,omitempty"`

	// Memberships: a member holding any of these memberships of the program
	// (spec.memberships of the LoyaltyProgram), active or cancelling but not
	// paused or ended, qualifies.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Memberships []string `json:"memberships,omitempty"`
}

// CampaignRules are what a campaign gives. At least one must be set.
// +kubebuilder:validation:XValidation:rule="has(self.pointsMultiplier) || has(self.purchaseBonus) || (has(self.actionBonuses) && size(self.actionBonuses) > 0)",message="spec.rules needs at least one of pointsMultiplier, purchaseBonus or actionBonuses"
type CampaignRules struct {
	// PointsMultiplier scales the base points of purchases, such as "2" for double points.
	// +optional
	PointsMultiplier *Multiplier `json:"pointsMultiplier,omitempty"`

	// PurchaseBonus adds fixed points to qualifying purchases.
	// +optional
	PurchaseBonus *PurchaseBonus `json:"purchaseBonus,omitempty"`

	// ActionBonuses add points to named actions, such as "review" or "app-order".
	// +listType=map
	// +listMapKey=action
	// +kubebuilder:validation:MaxItems=16
	// +optional
	ActionBonuses []ActionBonus `json:"actionBonuses,omitempty"`
}

// PurchaseBonus adds fixed points to each purchase of at least a minimum spend.
type PurchaseBonus struct {
	// Points added to the purchase.
	// +kubebuilder:validation:Minimum=1
	Points Points `json:"points"`

	// MinimumSpend is the smallest purchase amount, in the program's currency, that earns the bonus.
	// +kubebuilder:default="0"
	// +optional
	MinimumSpend Decimal `json:"minimumSpend,omitempty"`
}

// ActionBonus adds points to a named action.
type ActionBonus struct {
	// Action name, as in spec.points.actions of the program: "review", "birthday",
	// "app-order" or a custom name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]*$`
	Action string `json:"action"`

	// Points added each time the action occurs inside a window.
	// +kubebuilder:validation:Minimum=1
	Points Points `json:"points"`
}

// CampaignLimits cap the bonus points a campaign gives: the points it adds on
// top of what the event would have earned without it.
// +kubebuilder:validation:XValidation:rule="!has(self.perMemberCap) || !has(self.totalBonusBudget) || self.perMemberCap <= self.totalBonusBudget",message="spec.limits.perMemberCap cannot exceed spec.limits.totalBonusBudget"
type CampaignLimits struct {
	// TotalBonusBudget is the most bonus points the campaign gives across all members.
	// +optional
	TotalBonusBudget *Points `json:"totalBonusBudget,omitempty"`

	// PerMemberCap is the most bonus points one member receives from the campaign.
	// +optional
	PerMemberCap *Points `json:"perMemberCap,omitempty"`
}

// CampaignStatus is the observed state of a campaign.
type CampaignStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase is where the campaign is in its schedule.
	// +optional
	Phase CampaignPhase `json:"phase,omitempty"`

	// CurrentWindow is the window the campaign is in, while Active.
	// +optional
	CurrentWindow *TimeWindow `json:"currentWindow,omitempty"`

	// NextTransitionTime is when the phase next changes by the clock alone.
	// +optional
	NextTransitionTime *metav1.Time `json:"nextTransitionTime,omitempty"`

	// BudgetExhausted is true once an engine reports that the campaign has
	// granted its whole spec.limits.totalBonusBudget; it then adds no bonus.
	// +optional
	BudgetExhausted bool `json:"budgetExhausted,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lcamp;campaign,categories=loyalty
// +kubebuilder:printcolumn:name="Program",type=string,JSONPath=`.spec.programRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Next Transition",type=string,JSONPath=`.status.nextTransitionTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Campaign is a time-boxed promotion of a loyalty program: multipliers and
// bonus points inside declared windows.
type Campaign struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CampaignSpec   `json:"spec"`
	Status CampaignStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// CampaignList is a list of Campaigns.
type CampaignList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Campaign `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Campaign{}, &CampaignList{})
}
