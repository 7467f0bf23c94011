package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/loyaltyops/loyalty-operator/engine/internal/jsonenc"
	"github.com/loyaltyops/loyalty-operator/engine/internal/strictjson"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
	"github.com/loyaltyops/loyalty-operator/engine/rules"
	"github.com/loyaltyops/loyalty-operator/engine/service"
)

func (s *Server) enroll(r *http.Request) (int, any, error) {
	var req ledger.EnrollRequest
	raw, err := decode(r, &req)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.Enroll(r.Context(), req, raw)
	if err != nil {
		return 0, nil, err
	}
	if res.Replayed {
		return http.StatusOK, res, nil
	}
	return http.StatusCreated, res, nil
}

func (s *Server) history(r *http.Request) (int, any, error) {
	q := ledger.HistoryQuery{MemberID: r.PathValue("id"), Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return 0, nil, invalid("limit", fmt.Sprintf("must be 1 to %d", ledger.MaxHistoryLimit))
		}
		q.Limit = n
		if n == 0 {
			q.Limit = -1 // an explicit 0 is out of range, not "default"
		}
	}
	page, err := s.ledger.History(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	if page.Entries == nil {
		page.Entries = []ledger.Entry{}
	}
	return http.StatusOK, page, nil
}

// EarnEvent is the body of POST /v1/earn and /v1/earn/price and each
// event of a batch (see service.EarnEvent, which it converts to).
type EarnEvent struct {
	IdempotencyKey string `json:"idempotencyKey"`
	MemberID       string `json:"memberId"`
	EventID        string `json:"eventId"`
	Amount         string `json:"amount,omitempty"`
	Action         string `json:"action,omitempty"`
	Currency       string `json:"currency,omitempty"`
	OccurredAt     string `json:"occurredAt"`
}

// EarnBatch is up to ledger.MaxBatchEvents independent events.
type EarnBatch struct {
	Events []EarnEvent `json:"events"`
}

// explainFull reads the explain query parameter of an earn: "summary"
// (the default) answers the compact explanation an earn stores, "full"
// the full one.
func explainFull(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("explain"); v {
	case "", "summary":
		return false, nil
	case "full":
		return true, nil
	default:
		return false, invalid("explain", fmt.Sprintf("%q: must be summary or full", v))
	}
}

// earnResponse is an earn's response: its record as stored (the compact
// explanation) by default, the full explanation when asked for. A replay
// has only the stored record.
type earnResponse struct {
	res *ledger.EarnResult
	// stored is the record's encoding when the store handed it on.
	stored []byte
	full   bool
}

// AppendJSON appends the response; by default the stored record's bytes,
// with replayed set when it is a replay.
func (b earnResponse) AppendJSON(dst []byte) ([]byte, error) {
	if b.full {
		return b.res.AppendFullJSON(dst)
	}
	var err error
	if b.stored != nil {
		dst = append(dst, b.stored...)
	} else if dst, err = b.res.AppendJSON(dst); err != nil {
		return dst, err
	}
	if b.res.Replayed {
		dst = append(dst[:len(dst)-1], `,"replayed":true}`...)
	}
	return dst, nil
}

func (s *Server) earn(r *http.Request) (int, any, error) {
	full, err := explainFull(r)
	if err != nil {
		return 0, nil, err
	}
	var ev EarnEvent
	raw, err := decode(r, &ev)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.Earn(r.Context(), service.EarnEvent(ev), raw)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		s.metrics.issued.Add(float64(res.Points))
	}
	return http.StatusOK, earnResponse{res: &res, full: full}, nil
}

// Quote is the body of POST /v1/earn/price: what the event would earn now.
type Quote struct {
	MemberID    string             `json:"memberId"`
	EventID     string             `json:"eventId"`
	Points      int64              `json:"points"`
	Pending     bool               `json:"pending"`
	AvailableAt time.Time          `json:"availableAt"`
	ExpiresAt   time.Time          `json:"expiresAt,omitzero"`
	Explanation *rules.Explanation `json:"explanation"`
}

func (s *Server) priceEarn(r *http.Request) (int, any, error) {
	var ev EarnEvent
	if _, err := decode(r, &ev); err != nil {
		return 0, nil, err
	}
	q, err := s.svc.Price(r.Context(), service.EarnEvent(ev))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Quote{MemberID: q.MemberID, EventID: q.EventID, Points: q.Points, Pending: q.Pending,
		AvailableAt: q.AvailableAt, ExpiresAt: q.ExpiresAt, Explanation: &q.Explanation}, nil
}

// rawBatch is a batch with each event as sent, to decode and fingerprint
// one by one.
type rawBatch struct {
	Events []jsontext.Value `json:"events"`
}

// decodeBatch decodes a batch strictly, each event like the body of a
// single earn, and returns the events as sent.
func decodeBatch(r *http.Request) ([]service.EarnEvent, [][]byte, error) {
	var rb rawBatch
	if _, err := decode(r, &rb); err != nil {
		return nil, nil, err
	}
	switch {
	case len(rb.Events) == 0:
		return nil, nil, invalid("events", "required")
	case len(rb.Events) > ledger.MaxBatchEvents:
		return nil, nil, invalid("events", fmt.Sprintf("more than %d events", ledger.MaxBatchEvents))
	}
	events := make([]service.EarnEvent, len(rb.Events))
	bodies := make([][]byte, len(rb.Events))
	for i, raw := range rb.Events {
		var ev EarnEvent
		if err := strictjson.Unmarshal(raw, &ev); err != nil {
			var se *strictjson.Error
			if errors.As(err, &se) {
				return nil, nil, invalid(strings.TrimSuffix(fmt.Sprintf("events[%d].%s", i, se.Field), "."), se.Reason)
			}
			return nil, nil, err
		}
		events[i], bodies[i] = service.EarnEvent(ev), raw
	}
	return events, bodies, nil
}

func (s *Server) earnBatch(r *http.Request) (int, any, error) {
	full, err := explainFull(r)
	if err != nil {
		return 0, nil, err
	}
	events, bodies, err := decodeBatch(r)
	if err != nil {
		return 0, nil, err
	}
	items, err := s.svc.EarnBatch(r.Context(), events, bodies)
	if err != nil {
		return 0, nil, err
	}
	for _, it := range items {
		if it.Result != nil && !it.Result.Replayed {
			s.metrics.issued.Add(float64(it.Result.Points))
		}
	}
	return http.StatusOK, earnBatchResponse{items: items, full: full}, nil
}

// earnBatchResponse is a batch's response: one item per event, in request
// order, with its result (see earnResponse) or its error.
type earnBatchResponse struct {
	items []service.BatchItem
	full  bool
}

func (b earnBatchResponse) AppendJSON(dst []byte) ([]byte, error) {
	succeeded := 0
	dst = append(jsonenc.Field(append(dst, '{'), "items"), '[')
	for i := range b.items {
		it := &b.items[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		dst = jsonenc.Int(jsonenc.Field(dst, "index"), int64(i))
		dst = jsonenc.String(jsonenc.Field(dst, "eventId"), it.EventID)
		if it.Err != nil {
			dst = appendItemError(jsonenc.Field(dst, "error"), itemError(i, it.Err))
		} else {
			var err error
			if dst, err = (earnResponse{res: it.Result, stored: it.Stored, full: b.full}).AppendJSON(jsonenc.Field(dst, "result")); err != nil {
				return dst, err
			}
			succeeded++
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = jsonenc.Int(jsonenc.Field(dst, "succeeded"), int64(succeeded))
	dst = jsonenc.Int(jsonenc.Field(dst, "failed"), int64(len(b.items)-succeeded))
	return append(dst, '}'), nil
}

func appendItemError(dst []byte, e *ledger.ItemError) []byte {
	dst = append(dst, '{')
	dst = jsonenc.String(jsonenc.Field(dst, "code"), e.Code)
	if e.Field != "" {
		dst = jsonenc.String(jsonenc.Field(dst, "field"), e.Field)
	}
	dst = jsonenc.String(jsonenc.Field(dst, "message"), e.Message)
	return append(dst, '}')
}

// itemError describes a failed batch event, naming fields from the batch
// root ("events[3].amount") like a single request's problem names them.
func itemError(i int, err error) *ledger.ItemError {
	var te *rules.TimeError
	if errors.As(err, &te) {
		return &ledger.ItemError{Code: "late_event", Field: fmt.Sprintf("events[%d].occurredAt", i), Message: te.Detail}
	}
	if errors.Is(err, ledger.ErrIdempotencyReuse) {
		return &ledger.ItemError{Code: ledger.ErrorCode(err), Field: fmt.Sprintf("events[%d].idempotencyKey", i), Message: err.Error()}
	}
	return ledger.NewItemError(ledger.BatchItemError(i, err))
}

func (s *Server) redeem(r *http.Request) (int, any, error) {
	var req ledger.RedeemRequest
	raw, err := decode(r, &req)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.Redeem(r.Context(), req, raw)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		s.metrics.redeemed.Add(float64(res.Points))
	}
	return http.StatusOK, res, nil
}

// ReverseBody is the body of POST /v1/reverse (see service.Reversal, which
// it converts to).
type ReverseBody struct {
	IdempotencyKey string `json:"idempotencyKey"`
	MemberID       string `json:"memberId"`
	EventID        string `json:"eventId"`
	Points         int64  `json:"points,omitempty"`
	RefundAmount   string `json:"refundAmount,omitempty"`
	Reference      string `json:"reference,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func (s *Server) reverse(r *http.Request) (int, any, error) {
	var body ReverseBody
	raw, err := decode(r, &body)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.Reverse(r.Context(), service.Reversal(body), raw)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		s.metrics.reversed.Add(float64(res.FromAvailable + res.FromPending))
	}
	return http.StatusOK, res, nil
}

func (s *Server) adjust(r *http.Request) (int, any, error) {
	var req ledger.AdjustRequest
	raw, err := decode(r, &req)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.svc.Adjust(r.Context(), req, raw)
	if err != nil {
		return 0, nil, err
	}
	if !res.Replayed {
		if res.Points > 0 {
			s.metrics.adjusted.WithLabelValues("credit").Add(float64(res.Points))
		} else {
			s.metrics.adjusted.WithLabelValues("debit").Add(float64(-res.Points))
		}
	}
	return http.StatusOK, res, nil
}
