package httpapi

import (
	"errors"
	"net/http"
	"slices"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// redeliverRequest is the body of POST /v1/admin/events/redeliver.
type redeliverRequest struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Sink           string `json:"sink"`
	FromSequence   int64  `json:"fromSequence"`
	ToSequence     int64  `json:"toSequence"`
}

// redeliver asks a sink to be sent a range of the outbox again. The sink's
// deliverer serves it before its next page; the answer is 202.
func (s *Server) redeliver(r *http.Request) (int, any, error) {
	var req redeliverRequest
	if _, err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := ledger.CheckKey(req.IdempotencyKey); err != nil {
		return 0, nil, err
	}
	if !slices.Contains(s.sinkNames(), req.Sink) {
		return 0, nil, invalid("sink", "no event sink of that name is configured")
	}
	if s.outbox == nil {
		return 0, nil, unavailable("this engine keeps no outbox", nil)
	}
	err := s.outbox.RequestRedelivery(r.Context(), ledger.Redelivery{IdempotencyKey: req.IdempotencyKey, Sink: req.Sink,
		FromSeq: req.FromSequence, ToSeq: req.ToSequence})
	if errors.Is(err, ledger.ErrRedeliveryRange) {
		field := "fromSequence"
		if req.FromSequence >= 1 {
			field = "toSequence"
		}
		return 0, nil, invalid(field, err.Error())
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, req, nil
}

// sinkNames are the sinks of the snapshot in effect.
func (s *Server) sinkNames() []string {
	snap := s.config.Current()
	if snap == nil || snap.Events == nil {
		return nil
	}
	var names []string
	for _, w := range snap.Events.Webhooks {
		names = append(names, w.Name)
	}
	for _, n := range snap.Events.NATS {
		names = append(names, n.Name)
	}
	return names
}
