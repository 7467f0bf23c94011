package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// outcome of one request, in load units: events for a batch, else 1.
type outcome struct{ ok, failed int }

// worker is one connection's goroutine state; nothing in it is shared.
type worker struct {
	rng  *rand.Rand
	zipf *rand.Zipf // set by scenarios that need it
}

// loadSpec is one open-loop run.
type loadSpec struct {
	rate  float64       // requests per second
	units int           // load units per request
	dur   time.Duration // how long requests are scheduled
	conns int           // connections, one goroutine each
	// grace is how long after the last intended send the run may still
	// finish; requests not answered by then fail and unsent ones count as such.
	grace time.Duration
}

// runResult is measured in load units; latencies from the intended send time.
type runResult struct {
	Offered  float64       `json:"offered"`
	Achieved float64       `json:"achieved"`
	OK       int64         `json:"ok"`
	Failed   int64         `json:"failed"`
	Unsent   int64         `json:"unsent"`
	P50      time.Duration `json:"p50"`
	P90      time.Duration `json:"p90"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
	Pass     bool          `json:"pass"`
	// Parts of the latency, each its own p99: how late the generator
	// queued a request after its intended time (its own scheduling), how
	// long the request then waited for a free connection, and the round
	// trip from sending it to the answer.
	QueuedLateP99 time.Duration `json:"queuedLateP99"`
	ConnWaitP99   time.Duration `json:"connWaitP99"`
	RoundTripP99  time.Duration `json:"roundTripP99"`
	// MachineCPUPerUnit is the CPU time the whole machine used during the
	// run (generator, engine and database together) per unit answered;
	// zero where /proc/stat cannot be read.
	MachineCPUPerUnit time.Duration `json:"machineCpuPerUnit,omitempty"`
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3) // microseconds
}

// latencies are a run's latencies from the intended send time (total) and
// their parts, as runResult reports them.
type latencies struct{ total, late, wait, trip *hdrhistogram.Histogram }

func newLatencies() latencies {
	return latencies{newHist(), newHist(), newHist(), newHist()}
}

// record adds a request that was due, queued, sent and answered at these times.
func (l latencies) record(due, queued, sent, done time.Time) {
	recordClamped(l.total, done.Sub(due))
	recordClamped(l.late, max(queued.Sub(due), 0))
	recordClamped(l.wait, sent.Sub(queued))
	recordClamped(l.trip, done.Sub(sent))
}

// recordClamped records d, counting a latency beyond the histogram's range
// as its highest value rather than losing it (RecordValue's only error).
func recordClamped(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(min(d.Microseconds(), h.HighestTrackableValue()))
}

func (l latencies) merge(o latencies) {
	l.total.Merge(o.total)
	l.late.Merge(o.late)
	l.wait.Merge(o.wait)
	l.trip.Merge(o.trip)
}

// openLoop sends requests at a constant arrival rate regardless of how fast
// they are answered (wrk2-style). Request seq is due at start+seq/rate and its
// latency is counted from then, so a request that waits for a free connection
// (a server that falls behind) is charged for the wait: no coordinated omission.
func openLoop(ctx context.Context, spec loadSpec, do func(ctx context.Context, w *worker, seq int64) outcome, setup func(w *worker)) runResult {
	n := max(int64(spec.rate*spec.dur.Seconds()), 1)
	intended := func(start time.Time, seq int64) time.Time {
		return start.Add(time.Duration(float64(seq) * float64(time.Second) / spec.rate))
	}
	start := time.Now().Add(5 * time.Millisecond)
	runCtx, cancel := context.WithDeadline(ctx, intended(start, n).Add(spec.grace))
	defer cancel()

	// The queue holds every request, so the scheduler never blocks on busy
	// workers: a backlog waits in the queue with its clock running.
	queue := make(chan int64, n)
	// queuedAt[seq] is when the scheduler queued seq; the channel hands it
	// over to the worker that takes seq.
	queuedAt := make([]time.Time, n)
	scheduled := int64(0)
	go func() {
		defer close(queue)
		for scheduled < n {
			now := time.Now()
			for scheduled < n && !intended(start, scheduled).After(now) {
				queuedAt[scheduled] = now
				queue <- scheduled
				scheduled++
			}
			if scheduled == n {
				return
			}
			// Sleep until the next one is due; at high rates several fall due per wake-up.
			t := time.NewTimer(time.Until(intended(start, scheduled)))
			select {
			case <-runCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()

	type tally struct {
		ok, failed, unsent int64
		last               time.Time
		lat                latencies
	}
	tallies := make([]tally, spec.conns)
	var wg sync.WaitGroup
	for i := range spec.conns {
		wg.Go(func() {
			w := &worker{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))}
			if setup != nil {
				setup(w)
			}
			t := &tallies[i]
			t.lat = newLatencies()
			for seq := range queue {
				if runCtx.Err() != nil {
					t.unsent += int64(spec.units)
					continue
				}
				sent := time.Now()
				o := do(runCtx, w, seq)
				done := time.Now()
				t.lat.record(intended(start, seq), queuedAt[seq], sent, done)
				t.ok += int64(o.ok)
				t.failed += int64(o.failed)
				t.last = done
			}
		})
	}
	wg.Wait()

	// Offered is what was scheduled: n is whole requests, which matters at low rates.
	res := runResult{Offered: float64(n*int64(spec.units)) / spec.dur.Seconds()}
	lat := newLatencies()
	last := start
	for _, t := range tallies {
		res.OK += t.ok
		res.Failed += t.failed
		res.Unsent += t.unsent
		lat.merge(t.lat)
		if t.last.After(last) {
			last = t.last
		}
	}
	// The scheduler may have stopped early at the deadline.
	res.Unsent += (n - scheduled) * int64(spec.units)
	// Throughput over the scheduled window, or longer when the server lagged behind.
	elapsed := max(last.Sub(start), spec.dur)
	res.Achieved = float64(res.OK) / elapsed.Seconds()
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	h := lat.total
	res.P50, res.P90, res.P99, res.Max = us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(90)), us(h.ValueAtQuantile(99)), us(h.Max())
	res.QueuedLateP99, res.ConnWaitP99, res.RoundTripP99 = us(lat.late.ValueAtQuantile(99)), us(lat.wait.ValueAtQuantile(99)), us(lat.trip.ValueAtQuantile(99))
	return res
}

// sustained is the pass criterion of the rate search.
func (r *runResult) sustained(p99Bound time.Duration) bool {
	total := r.OK + r.Failed + r.Unsent
	return r.Achieved >= 0.95*r.Offered && r.P99 <= p99Bound && float64(r.Failed+r.Unsent) < 0.001*float64(total)
}
