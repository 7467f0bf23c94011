package httpapi

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	requests *prometheus.HistogramVec
	issued   prometheus.Counter
	redeemed prometheus.Counter
	reversed prometheus.Counter
	adjusted *prometheus.CounterVec
	released prometheus.Counter
	expired  prometheus.Counter

	commitBatch    prometheus.Histogram
	commitDuration prometheus.Histogram
	walSync        prometheus.Histogram
	checkpoint     prometheus.Histogram
	walSize        prometheus.Gauge
}

// NewMetrics registers the engine's metrics, the Go runtime's and the
// process's on reg; holder feeds the configuration gauge.
func NewMetrics(reg prometheus.Registerer, holder *config.Holder) *Metrics {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "loyalty_engine_http_request_duration_seconds",
			Help:    "Latency of API requests by route pattern, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_engine_points_issued_total", Help: "Points earned by members (new earns, not replays).",
		}),
		redeemed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_engine_points_redeemed_total", Help: "Points redeemed by members.",
		}),
		reversed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_engine_points_reversed_total", Help: "Points clawed back from members' balances by reversals.",
		}),
		adjusted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_engine_points_adjusted_total", Help: "Points added or removed by admin adjustments, by direction.",
		}, []string{"direction"}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_engine_points_released_total", Help: "Pending points that became available.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loyalty_engine_points_expired_total", Help: "Points that expired.",
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loyalty_engine_commit_batch_size", Help: "Writes committed together by one group commit of the ledger store.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 to 1024, the largest batch
		}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loyalty_engine_commit_duration_seconds", Help: "Time of a group-commit transaction of the ledger store, from begin to durable commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		walSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loyalty_engine_wal_sync_duration_seconds", Help: "Time of one sync of the SQLite store's write-ahead log, which every write waits for before it is answered (SQLite store only).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loyalty_engine_wal_checkpoint_duration_seconds", Help: "Time of one pass copying the SQLite store's write-ahead log into its database file and syncing it, beside the writer (SQLite store only).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		walSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loyalty_engine_wal_bytes", Help: "Size of the SQLite store's write-ahead log file, looked at every 100 ms; it stays under --sqlite-wal-limit plus what is written while a checkpoint waits (SQLite store only).",
		}),
	}
	reg.MustRegister(m.commitBatch, m.commitDuration, m.walSync, m.checkpoint, m.walSize, m.requests, m.issued, m.redeemed, m.reversed, m.adjusted, m.released, m.expired,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "loyalty_engine_config_loaded", Help: "1 when a configuration snapshot is in effect.",
		}, func() float64 {
			if holder.Current() != nil {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "loyalty_engine_config_last_update_failed", Help: "1 when the most recent configuration update was rejected.",
		}, func() float64 {
			if holder.Status().LastError != "" {
				return 1
			}
			return 0
		}),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveCommit records a group commit; it is the store's OnCommit hook.
func (m *Metrics) ObserveCommit(ops int, d time.Duration) {
	m.commitBatch.Observe(float64(ops))
	m.commitDuration.Observe(d.Seconds())
}

// ObserveWALSync records a sync of the SQLite store's write-ahead log; it
// is the store's OnWALSync hook.
func (m *Metrics) ObserveWALSync(d time.Duration) { m.walSync.Observe(d.Seconds()) }

// ObserveCheckpoint records a checkpoint pass of the SQLite store; it is
// the store's OnCheckpoint hook.
func (m *Metrics) ObserveCheckpoint(d time.Duration) { m.checkpoint.Observe(d.Seconds()) }

// ObserveWALSize records the size of the SQLite store's write-ahead log; it
// is the store's OnWALSize hook.
func (m *Metrics) ObserveWALSize(bytes int64) { m.walSize.Set(float64(bytes)) }

// ObserveProcessDue counts the points a due-processing run released and expired.
func (m *Metrics) ObserveProcessDue(r ledger.ProcessDueResult) {
	m.released.Add(float64(r.ReleasedPoints))
	m.expired.Add(float64(r.ExpiredPoints))
}

// storeStates are the states of ledger.StoreHealth.
var storeStates = []string{ledger.StoreOK, ledger.StoreDiskFull, ledger.StoreWriteFailed, ledger.StoreCheckpointStalled}

// registerStoreState registers loyalty_engine_store_state: 1 for the
// state the store is in, 0 for the others.
func registerStoreState(reg prometheus.Registerer, l ledger.Ledger) {
	for _, state := range storeStates {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "loyalty_engine_store_state",
			Help:        "1 for the ledger store's write health state (ok, disk_full, write_failed, checkpoint_stalled), 0 for the others; see GET /v1/status for the reason.",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			if l.Health().State == state {
				return 1
			}
			return 0
		}))
	}
}
