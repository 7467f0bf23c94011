package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loyaltyops/loyalty-operator/hack/internal/benchinfo"
)

// A side-by-side comparison (--baseline) measures two engine binaries in
// one run: for every round, store and snapshot (3 tiers, with each count of
// --compare-campaigns), an engine of each build is started on an empty
// store, seeded, and every scenario is run against it; the builds take
// turns A, B in odd rounds and B, A in even ones, so that a machine
// getting busier or quieter over the run weighs on both alike. Each
// scenario runs closed loop with all its connections busy for --saturate
// (its rate and the engine process's CPU per unit), then open loop at half
// that rate for --half (its latency). Afterwards the store is checked as in
// the rate search. When --floor-bin is set, make bench-floor's SQLite
// ledger model runs once per round between the engines.

// compareMain runs the comparison and prints it; it returns the exit code.
func compareMain(ctx context.Context, o options) int {
	counts, err := parseCounts(o.compareCampaigns)
	if err != nil {
		logf("--compare-campaigns: %v", err)
		return 2
	}
	if o.rounds < 1 {
		logf("--rounds: %d: want at least 1", o.rounds)
		return 2
	}
	start := time.Now()
	builds := [2]compareBuild{{"A", o.baselineBin, nil}, {"B", o.engineBin, nil}}
	if o.sink != "" {
		rcv, err := startSinkReceiver(o.sink)
		if err != nil {
			logf("%v", err)
			return 2
		}
		defer rcv.close()
		defer func() { logf("the %s sink received %d requests", o.sink, rcv.requests.Load()) }()
		builds = [2]compareBuild{{"A", o.engineBin, nil}, {"B", o.engineBin, rcv}}
		o.baselineName, o.engineName = "no sink", o.sink+" sink"
	}
	var samples []sample
	var floor []float64
	failed := false
	for round := 1; round <= o.rounds && ctx.Err() == nil; round++ {
		order := builds
		if round%2 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		if o.floorBin != "" {
			rates, err := runFloor(ctx, o.floorBin, o.floorBench)
			if err != nil {
				logf("round %d: floor: %v", round, err)
				failed = true
			}
			floor = append(floor, rates...)
		}
		for _, store := range strings.Split(o.stores, ",") {
			store = strings.TrimSpace(store)
			for _, campaigns := range counts {
				for _, b := range order {
					if ctx.Err() != nil {
						break
					}
					logf("== round %d, %s, %d campaigns, build %s (%s)", round, store, campaigns, b.id, b.bin)
					got, err := compareSession(ctx, o, b, store, campaigns, round)
					if errors.Is(err, errSkipped) {
						logf("  skipped: %v", err)
						continue
					}
					if err != nil {
						logf("  %v", err)
						failed = true
					}
					samples = append(samples, got...)
				}
			}
		}
	}
	rows := summarize(samples)
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"machine": benchinfo.Machine(), "loadAverage": benchinfo.LoadAverage(),
			"a": o.baselineName, "b": o.engineName, "samples": samples, "rows": rows, "campaignCosts": campaignCosts(rows),
			"floorEarnsPerSecond": floor, "elapsed": time.Since(start).Round(time.Second).String()})
	} else {
		printComparison(os.Stdout, rows, o.baselineName, o.engineName, floor)
		if o.sink != "" {
			printSinkRatios(os.Stdout, rows, o.sink)
		}
		fmt.Printf("\nclosed loop for %s per scenario (rate, engine CPU), then open loop at half that rate for %s (p99); %d rounds, builds alternating.\n%s; load average %s at the end; elapsed %s\n",
			o.saturate, o.half, o.rounds, benchinfo.Machine(), benchinfo.LoadAverage(), time.Since(start).Round(time.Second))
	}
	if failed {
		return 1
	}
	return 0
}

// parseCounts reads a comma-separated list of campaign counts.
func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want comma-separated counts of 0 or more", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// compareBuild is one side of a comparison: a binary, and with --sink the
// receiver its snapshot's webhook sink points at.
type compareBuild struct {
	id, bin string
	sink    *sinkReceiver
}

// compareSession starts one build's engine on an empty store, measures
// every wanted scenario and checks the store afterwards.
func compareSession(ctx context.Context, o options, build compareBuild, store string, campaigns, round int) ([]sample, error) {
	dir, err := os.MkdirTemp("", "bench-engine-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a leftover temporary directory harms no result
	st, err := setupStore(o, store, dir)
	if err != nil {
		return nil, err
	}
	defer st.cleanup()
	snap, err := snapshotJSON(o.tiers, campaigns, time.Now())
	if err != nil {
		return nil, err
	}
	if build.sink != nil {
		if snap, err = withSink(snap, dir, build.sink.url); err != nil {
			return nil, err
		}
	}
	eng, err := startEngine(ctx, build.bin, dir, snap, st.args, "/readyz")
	if err != nil {
		return nil, err
	}
	b := newBench(eng, o.members, o.hotMembers, max(o.clients, o.batchConns, 32))
	running := true
	defer func() {
		if running {
			_ = eng.stop()
		}
	}()
	if err := b.seed(ctx); err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for s := range strings.SplitSeq(o.scenarios, ",") {
		wanted[strings.TrimSpace(s)] = true
	}
	var out []sample
	for _, sc := range b.scenarios(o.batchConns, o.clients) {
		if !wanted[sc.name] || ctx.Err() != nil {
			continue
		}
		s, err := measureSide(ctx, b, sc, o)
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc.name, err)
		}
		s.Build, s.Round, s.Store, s.Campaigns = build.id, round, store, campaigns
		out = append(out, s)
	}
	if retried, unresolved := b.settleUnknown(context.Background()); retried > 0 {
		logf("  retried %d writes whose outcome was unknown; %d still unknown", retried, unresolved)
	}
	running = false
	if err := eng.stop(); err != nil {
		return out, err
	}
	v, err := verify(context.Background(), st.open, b)
	if err != nil {
		return out, err
	}
	logf("  verification: %s", v.Summary)
	if !v.OK {
		return out, fmt.Errorf("verification failed: %s", strings.Join(v.Problems, "; "))
	}
	return out, nil
}

// measureSide runs one scenario flat out, then at half the rate reached.
func measureSide(ctx context.Context, b *bench, sc scenario, o options) (sample, error) {
	s := sample{Scenario: sc.name, Unit: sc.unit}
	pid := b.eng.cmd.Process.Pid
	cpu0, err := processCPU(pid)
	if err != nil {
		return s, fmt.Errorf("engine CPU: %w", err)
	}
	sat := b.saturate(ctx, sc, o.saturate)
	cpu1, err := processCPU(pid)
	if err != nil {
		return s, fmt.Errorf("engine CPU: %w", err)
	}
	if sat.ok == 0 {
		return s, fmt.Errorf("no %s answered in %s", sc.unit, o.saturate)
	}
	s.Rate = float64(sat.ok) / sat.elapsed.Seconds()
	s.EngineCPU = (cpu1 - cpu0) / time.Duration(sat.ok)
	time.Sleep(time.Second) // let the writer's backlog drain
	half := b.run(ctx, sc, s.Rate/2, o.half, o.p99Bound)
	s.HalfP50, s.HalfP99 = half.P50, half.P99
	s.Errors = sat.failed + half.Failed + half.Unsent
	logf("  %-12s %8.0f %s/s flat out, engine CPU %s per %s; half load p50 %s p99 %s; errors %d",
		sc.name, s.Rate, sc.unit, s.EngineCPU.Round(time.Microsecond), strings.TrimSuffix(sc.unit, "s"), ms(s.HalfP50), ms(s.HalfP99), s.Errors)
	time.Sleep(time.Second)
	return s, nil
}

// saturation is a closed-loop run's tally, in units.
type saturation struct {
	ok, failed int64
	elapsed    time.Duration // until the last answer
}

// saturate sends sc's requests on all its connections, each as soon as the
// previous one is answered, for dur: the rate the engine reaches with the
// scenario's concurrency.
func (b *bench) saturate(ctx context.Context, sc scenario, dur time.Duration) saturation {
	run := b.runID.Add(1)
	// A stuck engine fails the run instead of hanging it.
	ctx, cancel := context.WithTimeout(ctx, dur+time.Minute)
	defer cancel()
	start := time.Now()
	stopAt := start.Add(dur)
	var seq, ok, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range sc.conns {
		wg.Go(func() {
			w := &worker{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))}
			if sc.setup != nil {
				sc.setup(w)
			}
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				o := b.send(ctx, sc.request(w, run, seq.Add(1)-1))
				ok.Add(int64(o.ok))
				failed.Add(int64(o.failed))
			}
		})
	}
	wg.Wait()
	return saturation{ok: ok.Load(), failed: failed.Load(), elapsed: time.Since(start)}
}

// runFloor runs make bench-floor's SQLite benchmark once from its test
// binary and returns the earns/s it reported.
func runFloor(ctx context.Context, bin, pattern string) ([]float64, error) {
	logf("== floor: %s -test.bench %s", bin, pattern)
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", "100000x", "-test.count", "1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w:\n%s", bin, err, out.String())
	}
	rates, err := floorRates(&out)
	if err != nil {
		return nil, err
	}
	if len(rates) == 0 {
		return nil, fmt.Errorf("%s reported no earns/s:\n%s", bin, out.String())
	}
	logf("  floor: %v earns/s", rates)
	return rates, nil
}
