package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types every kind reports, following kstatus.
const (
	// ConditionReady is True when the object is fully reconciled and in effect.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs a change by the user.
	ConditionStalled = "Stalled"
)

// ProgramReference names a LoyaltyProgram in the same namespace.
type ProgramReference struct {
	// Name of the LoyaltyProgram in this namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
}

// Decimal is a non-negative decimal number written as a string, such as "1",
// "2.5" or "0.25", with at most four decimal places. Strings keep amounts exact;
// floating point never touches money or points.
// +kubebuilder:validation:MaxLength=14
// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,8})(\.[0-9]{1,4})?$`
type Decimal string

// Multiplier scales points, written as a decimal string from "1" to "10" with at
// most two decimal places, such as "1.25" or "2".
// +kubebuilder:validation:MaxLength=5
// +kubebuilder:validation:Pattern=`^([1-9]|10)(\.[0-9]{1,2})?$`
// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]+([.][0-9]+)?$') || double(self) <= 10.0",message="a multiplier must be at most 10"
type Multiplier string

// Duration is a length of time in days, hours, minutes and seconds, in that
// order, such as "30d", "36h", "1d12h" or "90m". Zero is written "0s".
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=24
// +kubebuilder:validation:Pattern=`^([0-9]{1,5}d)?([0-9]{1,6}h)?([0-9]{1,7}m)?([0-9]{1,8}s)?$`
type Duration string

// Points is a whole number of points.
// +kubebuilder:validation:Minimum=0
// +kubebuilder:validation:Maximum=1000000000
type Points int64

// TimeWindow is a half-open interval [start, end).
type TimeWindow struct {
	// Start is the first instant inside the window.
	Start metav1.Time `json:"start"`
	// End is the first instant after the window.
	End metav1.Time `json:"end"`
}
