package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The engine's own latency histograms, read from its /metrics before and
// after a run, tell how much of the latency the generator measured was
// spent inside the engine: the rest is the network stack and the generator
// sharing the cores. Buckets are coarse, so each figure is the smallest
// bucket bound holding that share of the run's requests.

const (
	requestHistogram = "loyalty_engine_http_request_duration_seconds_bucket"
	commitHistogram  = "loyalty_engine_commit_duration_seconds_bucket"
	syncHistogram    = "loyalty_engine_wal_sync_duration_seconds_bucket" // SQLite only
)

// buckets are cumulative counts by upper bound (seconds; +Inf included).
type buckets map[float64]float64

// engineMetrics is a scrape: the request buckets of each route (summed
// over status codes), the commit buckets and the WAL sync buckets.
type engineMetrics struct {
	routes  map[string]buckets
	commits buckets
	syncs   buckets
}

func newEngineMetrics() engineMetrics {
	return engineMetrics{routes: map[string]buckets{}, commits: buckets{}, syncs: buckets{}}
}

func scrapeMetrics(ctx context.Context, base string) (engineMetrics, error) {
	m := newEngineMetrics()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("scrape metrics: status %d", resp.StatusCode)
	}
	return m, parseMetrics(resp.Body, &m)
}

// parseMetrics reads the histograms from the Prometheus text format.
func parseMetrics(r io.Reader, m *engineMetrics) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != requestHistogram && name != commitHistogram && name != syncHistogram) {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			return fmt.Errorf("metrics: malformed line %q", line)
		}
		labels := parseLabels(labelText)
		le, err := strconv.ParseFloat(labels["le"], 64)
		if err != nil {
			return fmt.Errorf("metrics: bucket bound in %q: %w", line, err)
		}
		n, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return fmt.Errorf("metrics: count in %q: %w", line, err)
		}
		switch name {
		case commitHistogram:
			m.commits[le] += n
			continue
		case syncHistogram:
			m.syncs[le] += n
			continue
		}
		b := m.routes[labels["route"]]
		if b == nil {
			b = buckets{}
			m.routes[labels["route"]] = b
		}
		b[le] += n
	}
	return sc.Err()
}

// parseLabels reads `a="x",b="y"`; the engine's label values hold no quotes.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// engineView is what the engine's histograms saw of one run.
type engineView struct {
	Requests float64 `json:"requests"`
	// P50Within and P99Within are the smallest bucket bounds holding half
	// and 99% of the run's requests of the scenario's route.
	P50Within time.Duration `json:"p50Within"`
	P99Within time.Duration `json:"p99Within"`
	// CommitP99Within is the same for the store's group commits.
	Commits         float64       `json:"commits"`
	CommitP99Within time.Duration `json:"commitP99Within"`
	// SyncP99Within is the same for the syncs of the SQLite store's WAL,
	// which every answer waits for; 0 on PostgreSQL, whose commits sync.
	WALSyncs      float64       `json:"walSyncs"`
	SyncP99Within time.Duration `json:"walSyncP99Within"`
}

func engineDelta(before, after engineMetrics, route string) engineView {
	req := diff(before.routes[route], after.routes[route])
	com := diff(before.commits, after.commits)
	syn := diff(before.syncs, after.syncs)
	return engineView{
		Requests: total(req), P50Within: within(req, 0.5), P99Within: within(req, 0.99),
		Commits: total(com), CommitP99Within: within(com, 0.99),
		WALSyncs: total(syn), SyncP99Within: within(syn, 0.99),
	}
}

func diff(before, after buckets) buckets {
	out := buckets{}
	for le, n := range after {
		out[le] = n - before[le]
	}
	return out
}

func total(b buckets) float64 { return b[math.Inf(1)] }

// within is the smallest bound holding the share q of the observations;
// -1 when they are beyond the largest finite bound, 0 without any.
func within(b buckets, q float64) time.Duration {
	n := total(b)
	if n == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(b))
	for le := range b {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	for _, le := range bounds {
		if b[le] >= q*n {
			if math.IsInf(le, 1) {
				return -1
			}
			return time.Duration(le * float64(time.Second))
		}
	}
	return -1
}

// bound prints a within figure.
func bound(d time.Duration) string {
	switch {
	case d < 0:
		return "beyond buckets"
	case d == 0:
		return "-"
	}
	return "≤" + strings.Replace(ms(d), ".00ms", "ms", 1)
}
