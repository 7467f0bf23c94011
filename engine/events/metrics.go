package events

import "github.com/prometheus/client_golang/prometheus"

// Metrics count deliveries by sink.
type Metrics struct {
	Delivered, Failed, DeadLetter *prometheus.CounterVec
	Backlog                       *prometheus.GaugeVec
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_engine_events_delivered_total", Help: "Events delivered, by sink (redeliveries included).",
		}, []string{"sink"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_engine_events_failed_total", Help: "Failed delivery attempts, by sink.",
		}, []string{"sink"}),
		DeadLetter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_engine_events_dead_letter_total", Help: "Events given up on after their attempts, by sink.",
		}, []string{"sink"}),
		Backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loyalty_engine_events_backlog", Help: "Events in the outbox the sink has not had yet.",
		}, []string{"sink"}),
	}
	reg.MustRegister(m.Delivered, m.Failed, m.DeadLetter, m.Backlog)
	return m
}

func (m *Metrics) delivered(sink string) {
	if m != nil {
		m.Delivered.WithLabelValues(sink).Inc()
	}
}

func (m *Metrics) failed(sink string) {
	if m != nil {
		m.Failed.WithLabelValues(sink).Inc()
	}
}

func (m *Metrics) dead(sink string) {
	if m != nil {
		m.DeadLetter.WithLabelValues(sink).Inc()
	}
}

func (m *Metrics) backlog(sink string, n int64) {
	if m != nil {
		m.Backlog.WithLabelValues(sink).Set(float64(n))
	}
}
