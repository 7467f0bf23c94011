package rules

import "fmt"

// Error codes of the refusals this package returns. They are stable and
// meant for API responses and batch results.
const (
	// CodeInvalidEvent: the event is malformed (unknown kind, missing action).
	CodeInvalidEvent = "invalidEvent"
	// CodeUnknownAction: the program configures no action of that name.
	CodeUnknownAction = "unknownAction"
	// CodeInvalidSnapshot: the snapshot holds a value Parse would have refused.
	CodeInvalidSnapshot = "invalidSnapshot"

	CodeReferralsDisabled      = "referralsDisabled"
	CodeUnknownReferralCode    = "unknownReferralCode"
	CodeSelfReferral           = "selfReferral"
	CodeAlreadyReferred        = "alreadyReferred"
	CodeReferrerCapReached     = "referrerCapReached"
	CodeBelowQualifyingMinimum = "belowQualifyingMinimum"

	CodeUnknownReward    = "unknownReward"
	CodeBelowMinimumTier = "belowMinimumTier"
	CodeNotAvailable     = "notAvailable"
	CodeLimitReached     = "limitReached"
	// CodeOutOfStock: the reward's stock is taken (CheckStock), decided by
	// the store under the reward's stock row lock.
	CodeOutOfStock = "outOfStock"
)

// Error is a refusal with a stable Code, the request or configuration Field
// it concerns (JSON name) and a human Message. Callers map Code to their
// response; errors.As(err, &*rules.Error) finds it.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Field, e.Message, e.Code) }

func errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}
