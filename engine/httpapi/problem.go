package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/auth"
	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

// ProblemTypeBase prefixes the type URI of every problem; the code follows.
const ProblemTypeBase = "https://loyaltyops.io/problems/"

// Problem is an RFC 9457 problem detail, served as application/problem+json.
// Code repeats the last segment of Type for clients that switch on a string;
// Errors names each invalid field and why.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Code   string       `json:"code"`
	Errors []FieldIssue `json:"errors,omitempty"`
	// Needed and Available are set on insufficient_points: the points the
	// request would debit and those the member has available.
	Needed    *int64 `json:"needed,omitempty"`
	Available *int64 `json:"available,omitempty"`

	retryAfter time.Duration
	cause      error // logged for 5xx, never sent
}

// FieldIssue is one invalid field of a request.
type FieldIssue struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

func newProblem(status int, code, title, detail string, issues ...FieldIssue) *Problem {
	return &Problem{Type: ProblemTypeBase + code, Title: title, Status: status, Detail: detail, Code: code, Errors: issues}
}

func invalid(field, reason string) *Problem {
	return newProblem(http.StatusBadRequest, "invalid_request", "Invalid request",
		fmt.Sprintf("%s: %s", field, reason), FieldIssue{Field: field, Reason: reason})
}

func unavailable(detail string, cause error) *Problem {
	p := newProblem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail)
	p.retryAfter = time.Second
	p.cause = cause
	return p
}

// problemFor maps any error of a handler to the problem the client sees.
func problemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var fe *ledger.FieldError
	var ip *ledger.InsufficientPointsError
	var rl *auth.RateLimitedError
	var te *rules.TimeError
	var re *rules.Error
	switch {
	case errors.Is(err, service.ErrNoConfiguration):
		return unavailable("no configuration loaded yet", nil)
	case errors.As(err, &fe):
		return invalid(fe.Field, fe.Reason)
	case errors.As(err, &te):
		return newProblem(http.StatusUnprocessableEntity, "late_event", "Event outside the accepted time window",
			"occurredAt: "+te.Detail, FieldIssue{Field: "occurredAt", Reason: te.Detail})
	case errors.Is(err, auth.ErrMissingKey), errors.Is(err, auth.ErrInvalidKey):
		return newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", err.Error())
	case errors.Is(err, auth.ErrForbidden):
		return newProblem(http.StatusForbidden, "forbidden", "Forbidden", err.Error())
	case errors.As(err, &rl):
		limited := newProblem(http.StatusTooManyRequests, "rate_limited", "Too many requests", err.Error())
		limited.retryAfter = rl.RetryAfter
		return limited
	case errors.As(err, &re) && re.Code != rules.CodeInvalidSnapshot:
		// A refusal of the program's rules (a reward out of stock, a
		// referral code unknown): its code is the problem's.
		return newProblem(http.StatusUnprocessableEntity, re.Code, "Cannot be applied", re.Field+": "+re.Message,
			FieldIssue{Field: re.Field, Reason: re.Message})
	case errors.Is(err, ledger.ErrRedemptionCancelled):
		return newProblem(http.StatusConflict, ledger.ErrorCode(err), "Conflict", err.Error(),
			FieldIssue{Field: "code", Reason: "the redemption was cancelled already"})
	case errors.Is(err, ledger.ErrMemberNotFound), errors.Is(err, ledger.ErrEventNotFound), errors.Is(err, ledger.ErrRedemptionNotFound),
		errors.Is(err, ledger.ErrNoMembership):
		return newProblem(http.StatusNotFound, ledger.ErrorCode(err), "Not found", err.Error())
	case errors.Is(err, ledger.ErrIdempotencyReuse):
		return newProblem(http.StatusConflict, ledger.ErrorCode(err), "Conflict", err.Error(),
			FieldIssue{Field: "idempotencyKey", Reason: "already used with a different request body"})
	case errors.Is(err, ledger.ErrMemberExists), errors.Is(err, ledger.ErrDuplicateEvent), errors.Is(err, ledger.ErrMembershipState):
		return newProblem(http.StatusConflict, ledger.ErrorCode(err), "Conflict", err.Error())
	case errors.Is(err, ledger.ErrMemberErased):
		return newProblem(http.StatusGone, ledger.ErrorCode(err), "Member erased", err.Error())
	case errors.Is(err, ledger.ErrTierChanged):
		return newProblem(http.StatusConflict, ledger.ErrorCode(err), "Conflict", err.Error()+"; nothing was recorded: retry with the same idempotency key")
	case errors.As(err, &ip):
		p := newProblem(http.StatusUnprocessableEntity, ledger.ErrorCode(err), "Cannot be applied", err.Error())
		p.Needed, p.Available = &ip.Needed, &ip.Available
		return p
	case errors.Is(err, ledger.ErrInsufficientPoints), errors.Is(err, ledger.ErrNothingToReverse):
		return newProblem(http.StatusUnprocessableEntity, ledger.ErrorCode(err), "Cannot be applied", err.Error())
	case errors.Is(err, ledger.ErrReadAborted):
		// The store's maximum read age: on SQLite a longer read would keep
		// the write-ahead log from being checkpointed.
		p := newProblem(http.StatusServiceUnavailable, ledger.ErrorCode(err), "Read aborted",
			"the read held its snapshot of the ledger longer than the engine allows (--max-read-age) and was aborted; retry, with a narrower window for analytics")
		p.retryAfter = time.Second
		p.cause = err
		return p
	case errors.Is(err, ledger.ErrStoreUnavailable), errors.Is(err, ledger.ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// A cancelled request may still have been applied: the client retries with its key.
		return unavailable("the ledger store is unavailable; retry with the same idempotency key", err)
	}
	internal := newProblem(http.StatusInternalServerError, "internal", "Internal error", "internal error; retry with the same idempotency key")
	internal.cause = err
	return internal
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.retryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// decode reads a JSON body into dst strictly (see strictjson: unknown,
// duplicate and differently cased names, invalid UTF-8, NUL, times before
// 1970 and trailing data are refused) after checking its Content-Type.
// Problems name the field by its JSON path when one is at fault. It
// returns the body as sent, for fingerprinting.
func decode(r *http.Request, dst any) ([]byte, error) {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, decodeProblem(err)
	}
	if err := strictjson.Unmarshal(raw, dst); err != nil {
		return nil, decodeProblem(err)
	}
	return raw, nil
}

// checkJSONContentType accepts application/json, with any parameters but
// a charset other than UTF-8 (JSON is UTF-8). A body without a
// Content-Type is refused too: a client that does not say it sends JSON
// may be sending something else.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return unsupportedMediaType("the Content-Type header is missing: send application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupportedMediaType(fmt.Sprintf("Content-Type %q: send application/json", ct))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupportedMediaType(fmt.Sprintf("Content-Type %q: JSON is sent as UTF-8 (charset=utf-8 or none)", ct))
	}
	return nil
}

func unsupportedMediaType(detail string) *Problem {
	return newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported media type", detail)
}

func decodeProblem(err error) *Problem {
	var mbe *http.MaxBytesError
	var se *strictjson.Error
	switch {
	case errors.As(err, &mbe):
		return newProblem(http.StatusRequestEntityTooLarge, "body_too_large", "Request body too large",
			fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit))
	case errors.Is(err, strictjson.ErrEmpty):
		return invalid("(body)", "empty request body: send a JSON object")
	case errors.As(err, &se):
		return invalid(cmp.Or(se.Field, "(body)"), se.Reason)
	}
	return invalid("(body)", err.Error())
}
