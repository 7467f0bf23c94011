package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Seeded balance of each hot (redeem) member: far more than a run can spend.
const hotBalance = 1_000_000_000

// request is one API write, kept so that its outcome can be accounted and,
// when unknown, settled by a retry with the same idempotency key.
type request struct {
	path    string
	scope   string
	body    []byte
	members []int // member index of each event (one for non-batch writes)
}

// memberAcct is what the engine acknowledged for one member; the store must
// agree with it after the run.
type memberAcct struct {
	enrolled  atomic.Bool
	seeded    atomic.Int64 // points of acknowledged positive adjustments
	earned    atomic.Int64 // points of acknowledged earns
	earns     atomic.Int64 // acknowledged earn events
	redeemed  atomic.Int64 // points of acknowledged redemptions
	uncertain atomic.Bool  // some write's outcome is still unknown
}

// bench drives one engine process.
type bench struct {
	eng     *engineProc
	client  *http.Client
	members []string
	acct    []memberAcct
	nEarn   int // members 0..nEarn-1 earn; the rest are hot redeem members
	runID   atomic.Int64

	mu      sync.Mutex
	unknown []*request // sent, outcome unknown: retried before verification
}

const maxUnknown = 100_000

func newBench(eng *engineProc, nEarn, nHot, conns int) *bench {
	b := &bench{
		eng: eng,
		client: &http.Client{Transport: &http.Transport{
			// Keep-alive connections, one per worker, none opened per request.
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		}},
		nEarn: nEarn,
		acct:  make([]memberAcct, nEarn+nHot),
	}
	for i := range nEarn {
		b.members = append(b.members, fmt.Sprintf("member-%06d", i))
	}
	for i := range nHot {
		b.members = append(b.members, fmt.Sprintf("hot-%05d", i))
	}
	return b
}

func (b *bench) post(ctx context.Context, r *request) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.eng.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.eng.keys[r.scope])
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// send posts r and accounts its answer. A request without a definite
// answer (transport error, timeout, 5xx, 429) is remembered for a retry.
func (b *bench) send(ctx context.Context, r *request) outcome {
	status, body, err := b.post(ctx, r)
	if err == nil {
		if o, ok := b.account(r, status, body); ok {
			return o
		}
	}
	b.mu.Lock()
	if len(b.unknown) < maxUnknown {
		b.unknown = append(b.unknown, r)
	} else {
		b.markUncertain(r)
	}
	b.mu.Unlock()
	return outcome{failed: len(r.members)}
}

func (b *bench) markUncertain(r *request) {
	for _, m := range r.members {
		b.acct[m].uncertain.Store(true)
	}
}

// account books an answer; ok is false when the outcome is unknown.
// A replayed answer (same key) counts too: the original was not booked.
func (b *bench) account(r *request, status int, body []byte) (o outcome, ok bool) {
	m := r.members[0]
	switch {
	case r.path == "/v1/members" && (status == http.StatusCreated || status == http.StatusOK):
		b.acct[m].enrolled.Store(true)
		return outcome{ok: 1}, true
	case r.path == "/v1/adjustments" && status == http.StatusOK:
		var res struct{ Points int64 }
		if json.Unmarshal(body, &res) != nil {
			return o, false
		}
		b.acct[m].seeded.Add(res.Points)
		return outcome{ok: 1}, true
	case r.path == "/v1/earn" && status == http.StatusOK:
		var res struct{ Points int64 }
		if json.Unmarshal(body, &res) != nil {
			return o, false
		}
		b.acct[m].earned.Add(res.Points)
		b.acct[m].earns.Add(1)
		return outcome{ok: 1}, true
	case r.path == "/v1/earn/batch" && status == http.StatusOK:
		var res struct {
			Items []struct {
				Index  int
				Result *struct{ Points int64 }
			}
		}
		if json.Unmarshal(body, &res) != nil || len(res.Items) != len(r.members) {
			return o, false
		}
		for _, it := range res.Items {
			a := &b.acct[r.members[it.Index]]
			if it.Result == nil {
				// A failed event should not happen here; its member can no longer be checked exactly.
				a.uncertain.Store(true)
				o.failed++
				continue
			}
			a.earned.Add(it.Result.Points)
			a.earns.Add(1)
			o.ok++
		}
		return o, true
	case r.path == "/v1/redeem" && status == http.StatusOK:
		var res struct{ Points int64 }
		if json.Unmarshal(body, &res) != nil {
			return o, false
		}
		b.acct[m].redeemed.Add(res.Points)
		return outcome{ok: 1}, true
	case r.path == "/v1/redeem" && status == http.StatusUnprocessableEntity:
		// Insufficient points is a correct, definite answer: nothing was debited.
		var p struct{ Code string }
		if json.Unmarshal(body, &p) == nil && p.Code == "insufficient_points" {
			return outcome{ok: 1}, true
		}
	}
	return o, false
}

// settleUnknown retries every request whose outcome is unknown with its
// original idempotency key: the engine then applies it or replays the
// original result, so each is booked exactly once. It returns how many
// were retried and how many are still unknown.
func (b *bench) settleUnknown(ctx context.Context) (retried, unresolved int) {
	b.mu.Lock()
	list := b.unknown
	b.unknown = nil
	b.mu.Unlock()
	// A bound for the whole retry; what is left is checked loosely (uncertain).
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var next, left atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(list) {
					return
				}
				r := list[i]
				c, cancel := context.WithTimeout(ctx, 10*time.Second)
				status, body, err := b.post(c, r)
				cancel()
				if err == nil {
					if _, ok := b.account(r, status, body); ok {
						continue
					}
				}
				b.markUncertain(r)
				left.Add(1)
			}
		})
	}
	wg.Wait()
	return len(list), int(left.Load())
}

// closedLoop runs do for 0..n-1 on conns workers as fast as answers come: for seeding only.
func closedLoop(n, conns int, do func(i int) outcome) (failed int) {
	var next, bad atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				bad.Add(int64(do(i).failed))
			}
		})
	}
	wg.Wait()
	return int(bad.Load())
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// seed enrolls every member and gives each hot member a balance.
func (b *bench) seed(ctx context.Context) error {
	start := time.Now()
	// Seeding is closed loop: bound the whole of it so that a stuck engine fails the run instead of hanging it.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if f := closedLoop(len(b.members), 32, func(i int) outcome {
		return b.send(ctx, &request{path: "/v1/members", scope: "ingest", members: []int{i},
			body: mustJSON(map[string]any{"idempotencyKey": "enroll-" + b.members[i], "memberId": b.members[i]})})
	}); f > 0 {
		return fmt.Errorf("%d enrollments failed", f)
	}
	hot := len(b.members) - b.nEarn
	if f := closedLoop(hot, 32, func(i int) outcome {
		m := b.nEarn + i
		return b.send(ctx, &request{path: "/v1/adjustments", scope: "admin", members: []int{m},
			body: mustJSON(map[string]any{"idempotencyKey": "seed-" + b.members[m], "memberId": b.members[m],
				"points": hotBalance, "reason": "benchmark seed"})})
	}); f > 0 {
		return fmt.Errorf("%d seed adjustments failed", f)
	}
	logf("  enrolled %d members and seeded %d hot balances in %s", len(b.members), hot, time.Since(start).Round(time.Millisecond))
	return nil
}

// scenario is one kind of load; rates are in its units per second.
type scenario struct {
	name      string
	route     string // the route label of its requests in the engine's metrics
	unit      string // what a unit is: "events" or "requests"
	units     int    // units per request
	conns     int
	startRate float64
	maxRate   float64
	setup     func(w *worker)
	request   func(w *worker, run, seq int64) *request
}

func amount(rng *rand.Rand) string {
	cents := 100 + rng.IntN(5000) // 1.00 to 50.99
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// occurredAt is a second in the past, so that truncation never makes an event lie in the future.
func occurredAt() string {
	return time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
}

func (b *bench) earnEvent(w *worker, run, seq int64, j int) (map[string]any, int) {
	m := w.rng.IntN(b.nEarn)
	id := fmt.Sprintf("r%d-%d-%d", run, seq, j)
	return map[string]any{"idempotencyKey": "earn-" + id, "memberId": b.members[m], "eventId": "order-" + id,
		"amount": amount(w.rng), "occurredAt": occurredAt()}, m
}

func (b *bench) scenarios(batchConns, clients int) []scenario {
	const batchSize = 100
	hot := len(b.members) - b.nEarn
	return []scenario{{
		name: "batch-earn", route: "POST /v1/earn/batch", unit: "events", units: batchSize, conns: batchConns, startRate: 10_000, maxRate: 400_000,
		request: func(w *worker, run, seq int64) *request {
			events := make([]map[string]any, batchSize)
			members := make([]int, batchSize)
			for j := range events {
				events[j], members[j] = b.earnEvent(w, run, seq, j)
			}
			return &request{path: "/v1/earn/batch", scope: "ingest", body: mustJSON(map[string]any{"events": events}), members: members}
		},
	}, {
		name: "single-earn", route: "POST /v1/earn", unit: "requests", units: 1, conns: clients, startRate: 1_000, maxRate: 50_000,
		request: func(w *worker, run, seq int64) *request {
			ev, m := b.earnEvent(w, run, seq, 0)
			return &request{path: "/v1/earn", scope: "ingest", body: mustJSON(ev), members: []int{m}}
		},
	}, {
		name: "hot-redeem", route: "POST /v1/redeem", unit: "requests", units: 1, conns: clients, startRate: 1_000, maxRate: 50_000,
		// Zipf s=1.1 over the hot members: a few members take most redemptions,
		// so writes contend on the same balance rows.
		setup: func(w *worker) { w.zipf = rand.NewZipf(w.rng, 1.1, 1, uint64(hot-1)) },
		request: func(w *worker, run, seq int64) *request {
			m := b.nEarn + int(w.zipf.Uint64())
			points := int64(10)
			if w.rng.IntN(10) == 0 {
				// One in ten asks for more than the member ever had: 422 insufficient_points.
				points = 2 * hotBalance
			}
			return &request{path: "/v1/redeem", scope: "ingest", members: []int{m}, body: mustJSON(map[string]any{
				"idempotencyKey": fmt.Sprintf("redeem-r%d-%d", run, seq), "memberId": b.members[m], "points": points, "reference": "free-latte"})}
		},
	}}
}

// run is one open-loop run of sc at rate units per second.
func (b *bench) run(ctx context.Context, sc scenario, rate float64, dur time.Duration, p99Bound time.Duration) runResult {
	run := b.runID.Add(1)
	cpu0, cpuErr := machineCPU()
	res := openLoop(ctx, loadSpec{rate: rate / float64(sc.units), units: sc.units, dur: dur, conns: sc.conns, grace: 2 * time.Second},
		func(ctx context.Context, w *worker, seq int64) outcome { return b.send(ctx, sc.request(w, run, seq)) }, sc.setup)
	res.Pass = res.sustained(p99Bound)
	if cpu1, err := machineCPU(); cpuErr == nil && err == nil && res.OK > 0 {
		res.MachineCPUPerUnit = time.Duration((cpu1 - cpu0) / float64(res.OK) * float64(time.Second)) // OK counts units
	}
	return res
}
