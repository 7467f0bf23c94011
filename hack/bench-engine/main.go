// Command bench-engine measures the points engine (cmd/points-engine) as a
// separate process over HTTP, on SQLite and on PostgreSQL: for each scenario
// the highest arrival rate it sustains, then latency at half that rate.
//
// The load is open loop (wrk2-style): requests are scheduled at a constant
// rate and each latency is counted from the request's intended send time, so
// a server that falls behind is charged for the queueing it causes.
// After the load the engine is stopped, the store is opened directly, its
// invariants are checked and every acknowledged write is looked for.
//
// Run it with `make bench-engine`; it is not a test and never runs under go test.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/loyaltyops/loyalty-operator/hack/internal/benchinfo"
)

type options struct {
	engineBin   string
	stores      string
	postgresURL string
	scenarios   string
	tiers       int
	campaigns   int
	members     int
	hotMembers  int
	clients     int
	batchConns  int
	step        time.Duration
	final       time.Duration
	maxSteps    int
	startRate   float64
	p99Bound    time.Duration
	timeout     time.Duration
	jsonOut     bool
	walSoak     time.Duration
	walSettle   time.Duration
	volumeMiB   int
	restartBin  string
	// A side-by-side comparison of two builds (compare.go).
	baselineBin      string
	baselineName     string
	engineName       string
	rounds           int
	compareCampaigns string
	saturate         time.Duration
	half             time.Duration
	floorBin         string
	floorBench       string
	// With and without a webhook sink, side by side (sink.go).
	sink string
}

// result is one scenario on one store.
type result struct {
	Store    string      `json:"store"`
	Scenario string      `json:"scenario"`
	Unit     string      `json:"unit"`
	MaxRate  float64     `json:"maxSustainedRate"` // 0 when no rate tried was sustained
	Search   []runResult `json:"search"`
	Half     *runResult  `json:"halfLoad,omitempty"`
	// EngineHalf is what the engine's own histograms saw of the half-load
	// run (absent when /metrics could not be read).
	EngineHalf *engineView `json:"engineHalfLoad,omitempty"`
}

// storeReport is one store's results and the check after the load.
type storeReport struct {
	Store        string   `json:"store"`
	Skipped      string   `json:"skipped,omitempty"`
	Results      []result `json:"results"`
	Verification *verdict `json:"verification,omitempty"`
	// CPU seconds used while the store was measured, to show how the two
	// shared cores were split between the load generator and the engine.
	GeneratorCPU float64 `json:"generatorCpuSeconds"`
	EngineCPU    float64 `json:"engineCpuSeconds"`
	WallSeconds  float64 `json:"wallSeconds"`
	Error        string  `json:"error,omitempty"`
}

// logf reports progress on stderr, so that stdout is only the table or the JSON.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func main() {
	var o options
	flag.StringVar(&o.engineBin, "engine", "bin/points-engine", "points-engine binary (make bench-engine builds it)")
	flag.StringVar(&o.stores, "stores", "sqlite,postgres", "stores to measure")
	flag.StringVar(&o.postgresURL, "postgres-url", os.Getenv("TEST_DATABASE_URL"), "PostgreSQL URL; the bench creates and drops a schema of its own (TEST_DATABASE_URL)")
	flag.StringVar(&o.scenarios, "scenarios", "batch-earn,single-earn,hot-redeem", "scenarios to run")
	flag.IntVar(&o.tiers, "tiers", 3, "rungs of the tier ladder in the generated snapshot")
	flag.IntVar(&o.campaigns, "campaigns", 0, "active campaigns open to every member in the generated snapshot")
	flag.IntVar(&o.members, "members", 5000, "members that earn")
	flag.IntVar(&o.hotMembers, "hot-members", 1000, "members that redeem (zipf-distributed)")
	flag.IntVar(&o.clients, "clients", 64, "concurrent connections of the single-request scenarios")
	flag.IntVar(&o.batchConns, "batch-conns", 16, "concurrent connections of the batch scenario")
	flag.DurationVar(&o.step, "step", 3*time.Second, "duration of each run of the rate search")
	flag.DurationVar(&o.final, "final", 10*time.Second, "duration of the run at half the max sustained rate")
	flag.IntVar(&o.maxSteps, "max-steps", 8, "runs per rate search at most")
	flag.Float64Var(&o.startRate, "start-rate", 0, "first rate of each search, in the scenario's units per second (0: the scenario's own); with --max-steps 1 a run at this one rate")
	flag.DurationVar(&o.p99Bound, "p99-bound", 100*time.Millisecond, "p99 latency above which a rate is not sustained")
	flag.DurationVar(&o.timeout, "timeout", 0, "the whole benchmark stops after this long (default 9m, 40m with --baseline)")
	flag.BoolVar(&o.jsonOut, "json", false, "print the results as JSON instead of a table")
	flag.DurationVar(&o.walSoak, "wal-soak", 0, "instead of the rate search: --clients connections send single earns to SQLite as fast as answered for this long, and the WAL's size is reported (see walsoak.go)")
	flag.DurationVar(&o.walSettle, "wal-settle", 20*time.Second, "with --wal-soak: how long the WAL is watched after the load, and writes retried on a full volume")
	flag.IntVar(&o.volumeMiB, "volume-mib", 0, "with --wal-soak: put the database on a tmpfs of this many MiB (needs root), so that the load can fill it")
	flag.StringVar(&o.restartBin, "restart-engine", "", "with --wal-soak: the points-engine binary restarted on a full volume (default --engine), e.g. a newer one on the volume an older one filled")
	flag.StringVar(&o.baselineBin, "baseline", "", "a second points-engine binary (A) to compare side by side with --engine (B), alternately in one run (see compare.go); make bench-engine BASELINE=<git rev> builds it")
	flag.StringVar(&o.baselineName, "baseline-name", "baseline", "with --baseline: what build A is, for the table")
	flag.StringVar(&o.engineName, "engine-name", "current", "with --baseline: what build B is, for the table")
	flag.IntVar(&o.rounds, "rounds", 2, "with --baseline: rounds, each measuring both builds")
	flag.StringVar(&o.compareCampaigns, "compare-campaigns", "0,50", "with --baseline: the campaign counts each build is measured with")
	flag.DurationVar(&o.saturate, "saturate", 5*time.Second, "with --baseline: how long each scenario runs flat out")
	flag.DurationVar(&o.half, "half", 4*time.Second, "with --baseline: how long each scenario then runs at half that rate")
	flag.StringVar(&o.floorBin, "floor-bin", "", "with --baseline: the SQLite store's test binary, to run make bench-floor's benchmark once a round (go test -c ./engine/store/sqlite)")
	flag.StringVar(&o.floorBench, "floor-bench", "StorageFloor/ledger-model/rows-per-statement=1$", "with --floor-bin: the benchmark it runs")
	flag.StringVar(&o.sink, "sink", "none", "slow or failing: measure --engine without a webhook sink (A) and with one (B) side by side, alternately in one run, the sink pointing at a loopback receiver that answers after 200 ms (slow) or with 500 (failing); the table gives the earn rate with ÷ without")
	flag.Parse()
	if o.sink == "none" {
		o.sink = ""
	}
	os.Exit(run(o))
}

// run measures and reports, returning the exit code so that its deferred
// cleanups run before the process exits.
func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.timeout <= 0 {
		o.timeout = 9 * time.Minute
		if o.baselineBin != "" || o.sink != "" {
			o.timeout = 40 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	if o.baselineBin != "" || o.sink != "" {
		return compareMain(ctx, o)
	}
	if o.walSoak > 0 {
		if err := soakMain(ctx, o); err != nil {
			logf("wal-soak: %v", err)
			return 1
		}
		return 0
	}

	start := time.Now()
	var reports []storeReport
	failed := false
	for _, store := range strings.Split(o.stores, ",") {
		rep := benchStore(ctx, o, strings.TrimSpace(store))
		if rep.Error != "" || (rep.Verification != nil && !rep.Verification.OK) {
			failed = true
		}
		reports = append(reports, rep)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"machine": benchinfo.Machine(), "options": fmt.Sprintf("%+v", o), "stores": reports, "elapsed": time.Since(start).Round(time.Second).String()})
	} else {
		printTable(os.Stdout, reports, o)
		fmt.Printf("\n%s; elapsed %s\n", benchinfo.Machine(), time.Since(start).Round(time.Second))
	}
	if failed {
		return 1
	}
	return 0
}

func benchStore(ctx context.Context, o options, store string) (rep storeReport) {
	rep.Store = store
	logf("== %s", store)
	wall, self0, children0 := time.Now(), cpuSeconds(syscall.RUSAGE_SELF), cpuSeconds(syscall.RUSAGE_CHILDREN)
	defer func() {
		// The engine is a child: its CPU time is counted once it has been waited for.
		rep.WallSeconds = time.Since(wall).Seconds()
		rep.GeneratorCPU = cpuSeconds(syscall.RUSAGE_SELF) - self0
		rep.EngineCPU = cpuSeconds(syscall.RUSAGE_CHILDREN) - children0
	}()
	dir, err := os.MkdirTemp("", "bench-engine-")
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	defer func() { _ = os.RemoveAll(dir) }() // a leftover temporary directory harms no result

	st, err := setupStore(o, store, dir)
	if errors.Is(err, errSkipped) {
		rep.Skipped = strings.TrimPrefix(err.Error(), errSkipped.Error()+": ")
		logf("  skipped: %s", rep.Skipped)
		return rep
	}
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	defer st.cleanup()

	snap, err := snapshotJSON(o.tiers, o.campaigns, time.Now())
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	eng, err := startEngine(ctx, o.engineBin, dir, snap, st.args, "/readyz")
	if err != nil {
		rep.Error = err.Error()
		logf("  %v", err)
		return rep
	}
	b := newBench(eng, o.members, o.hotMembers, max(o.clients, o.batchConns, 32))
	running := true
	defer func() {
		if running {
			_ = eng.stop()
		}
	}()
	if err := b.seed(ctx); err != nil {
		rep.Error = err.Error()
		return rep
	}

	wanted := map[string]bool{}
	for _, s := range strings.Split(o.scenarios, ",") {
		wanted[strings.TrimSpace(s)] = true
	}
	for _, sc := range b.scenarios(o.batchConns, o.clients) {
		if !wanted[sc.name] || ctx.Err() != nil {
			continue
		}
		rep.Results = append(rep.Results, searchAndMeasure(ctx, b, sc, o, store))
	}

	retried, unresolved := b.settleUnknown(context.Background())
	if retried > 0 {
		logf("  retried %d writes whose outcome was unknown with their idempotency keys; %d still unknown", retried, unresolved)
	}
	running = false
	if err := eng.stop(); err != nil {
		rep.Error = err.Error()
		return rep
	}
	v, err := verify(context.Background(), st.open, b)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Verification = v
	logf("  verification: %s", v.Summary)
	return rep
}

// errSkipped is a store that cannot be measured here.
var errSkipped = errors.New("skipped")

// storeSetup is where an engine keeps its ledger: its flags, how the
// check after the load opens the store, and what removes it afterwards.
type storeSetup struct {
	args    []string
	open    func(context.Context) (checker, error)
	cleanup func()
}

// setupStore prepares an empty store in dir (SQLite) or in a schema of its
// own (PostgreSQL); errSkipped without a PostgreSQL URL.
func setupStore(o options, store, dir string) (storeSetup, error) {
	switch store {
	case "sqlite":
		path := filepath.Join(dir, "ledger.db")
		return storeSetup{
			args:    []string{"--store", "sqlite", "--sqlite-path", path},
			open:    func(ctx context.Context) (checker, error) { return openSQLite(ctx, path) },
			cleanup: func() {}, // the directory goes with its caller's
		}, nil
	case "postgres":
		if o.postgresURL == "" {
			return storeSetup{}, fmt.Errorf("%w: TEST_DATABASE_URL is not set", errSkipped)
		}
		schema := fmt.Sprintf("bench_engine_%d", time.Now().UnixNano())
		return storeSetup{
			args: []string{"--store", "postgres", "--postgres-url", o.postgresURL, "--postgres-schema", schema},
			open: func(ctx context.Context) (checker, error) { return openPostgres(ctx, o.postgresURL, schema) },
			cleanup: func() {
				// A fresh context: the schema goes even when the benchmark timed out.
				c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := dropSchema(c, o.postgresURL, schema); err != nil {
					logf("  dropping schema %s: %v", schema, err)
				}
			},
		}, nil
	}
	return storeSetup{}, fmt.Errorf("unknown store %q: want sqlite or postgres", store)
}

// searchAndMeasure finds the highest sustained rate by doubling from the
// start rate until a run fails, then bisecting; then it measures at half.
func searchAndMeasure(ctx context.Context, b *bench, sc scenario, o options, store string) result {
	res := result{Store: store, Scenario: sc.name, Unit: sc.unit}
	var pass, fail float64 // highest sustained, lowest not sustained
	rate := sc.startRate
	if o.startRate > 0 {
		rate = o.startRate
	}
	for range o.maxSteps {
		if ctx.Err() != nil {
			break
		}
		r := b.run(ctx, sc, rate, o.step, o.p99Bound)
		res.Search = append(res.Search, r)
		logf("  %-12s offered %8.0f %s/s  achieved %8.0f  p99 %8s  failed %d unsent %d  %s  (%s%s)",
			sc.name, r.Offered, sc.unit, r.Achieved, r.P99.Round(10*time.Microsecond), r.Failed, r.Unsent, map[bool]string{true: "sustained", false: "NOT sustained"}[r.Pass], latencyParts(r), machineCost(r, sc.unit))
		if r.Pass {
			pass = rate
		} else {
			fail = rate
		}
		switch {
		case fail == 0 && rate*2 > sc.maxRate:
			rate = sc.maxRate
			if pass == sc.maxRate {
				goto done // the generator's ceiling, not the engine's
			}
		case fail == 0:
			rate *= 2
		case pass == 0:
			rate = fail / 4 // even the start rate was too much
		default:
			if fail/pass < 1.1 {
				goto done // close enough for runs this short
			}
			rate = (pass + fail) / 2
		}
		// Let a failed run's backlog drain out of the engine before the next one.
		time.Sleep(time.Second)
	}
done:
	res.MaxRate = pass
	half := pass / 2
	if pass == 0 {
		half = sc.startRate / 8 // nothing sustained: still show latency at a low rate
	}
	if ctx.Err() == nil {
		time.Sleep(time.Second)
		before, berr := scrapeMetrics(ctx, b.eng.base)
		r := b.run(ctx, sc, half, o.final, o.p99Bound)
		res.Half = &r
		logf("  %-12s half load %8.0f %s/s: p50 %s p90 %s p99 %s max %s, failed %d (%s%s)",
			sc.name, half, sc.unit, r.P50, r.P90, r.P99, r.Max, r.Failed+r.Unsent, latencyParts(r), machineCost(r, sc.unit))
		after, aerr := scrapeMetrics(ctx, b.eng.base)
		if err := errors.Join(berr, aerr); err != nil {
			logf("  %-12s engine's histograms not read: %v", sc.name, err)
		} else {
			v := engineDelta(before, after, sc.route)
			res.EngineHalf = &v
			logf("  %-12s the engine saw %.0f requests: p50 %s, p99 %s; %.0f commits, p99 %s; %.0f WAL syncs, p99 %s",
				sc.name, v.Requests, bound(v.P50Within), bound(v.P99Within), v.Commits, bound(v.CommitP99Within), v.WALSyncs, bound(v.SyncP99Within))
		}
	}
	return res
}

// targets are the project's throughput goals, in units per second.
var targets = map[string]float64{
	"sqlite/batch-earn": 50_000, "sqlite/single-earn": 10_000, "sqlite/hot-redeem": 5_000,
	"postgres/batch-earn": 25_000, "postgres/single-earn": 5_000, "postgres/hot-redeem": 5_000,
}

// latencyParts names the p99 of each part of a run's latency, so that a
// tail can be told apart: the generator's own lateness, waiting for a
// connection (the engine is behind), or the round trip.
func latencyParts(r runResult) string {
	ms := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	return "p99 queued late " + ms(r.QueuedLateP99) + ", waited for a connection " + ms(r.ConnWaitP99) + ", round trip " + ms(r.RoundTripP99)
}

// machineCost says how much CPU the whole machine spent per unit of the run.
func machineCost(r runResult, unit string) string {
	if r.MachineCPUPerUnit <= 0 {
		return ""
	}
	return fmt.Sprintf("; machine CPU %s per %s", r.MachineCPUPerUnit.Round(time.Microsecond), strings.TrimSuffix(unit, "s"))
}

// p99Target is the project's latency goal at half load.
const p99Target = 10 * time.Millisecond

func printTable(w *os.File, reports []storeReport, o options) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tscenario\tmax sustained/s\ttarget/s\thalf load/s\tachieved/s\tp50\tp90\tp99\tmax\tengine p99\terrors\tthroughput\tp99≤10ms\t")
	for _, rep := range reports {
		if rep.Skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped: %s\t\t\t\t\t\t\t\t\t\t\t\t\t\n", rep.Store, rep.Skipped)
			continue
		}
		for _, r := range rep.Results {
			target := targets[r.Store+"/"+r.Scenario]
			fmt.Fprintf(tw, "%s\t%s\t%.0f %s\t%.0f\t", r.Store, r.Scenario, r.MaxRate, r.Unit, target)
			if h := r.Half; h != nil {
				engine := "-"
				if r.EngineHalf != nil {
					engine = bound(r.EngineHalf.P99Within)
				}
				fmt.Fprintf(tw, "%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", h.Offered, h.Achieved, ms(h.P50), ms(h.P90), ms(h.P99), ms(h.Max),
					engine, h.Failed+h.Unsent, benchinfo.MetOrMissed(r.MaxRate >= target), benchinfo.MetOrMissed(h.P99 <= p99Target))
			} else {
				fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t%s\t\t\n", benchinfo.MetOrMissed(r.MaxRate >= target))
			}
		}
	}
	tw.Flush()
	for _, rep := range reports {
		if rep.Verification != nil {
			fmt.Fprintf(w, "%s after the load: %s\n", rep.Store, rep.Verification.Summary)
			for _, p := range rep.Verification.Problems {
				fmt.Fprintf(w, "  %s\n", p)
			}
		}
		if rep.Error != "" {
			fmt.Fprintf(w, "%s: ERROR: %s\n", rep.Store, rep.Error)
		}
		if rep.Skipped == "" {
			fmt.Fprintf(w, "%s CPU over %.0fs: load generator %.0fs, engine %.0fs (of %d cores)\n",
				rep.Store, rep.WallSeconds, rep.GeneratorCPU, rep.EngineCPU, runtime.NumCPU())
		}
	}
	fmt.Fprintf(w, "\nsustained: achieved ≥ 95%% of offered, p99 ≤ %s from the intended send time, < 0.1%% errors, over %s runs; half load for %s.\n",
		o.p99Bound, o.step, o.final)
}

// cpuSeconds is user plus system CPU time of who (RUSAGE_SELF or RUSAGE_CHILDREN).
func cpuSeconds(who int) float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// soakMain runs the WAL soak on SQLite and prints what it saw.
func soakMain(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "bench-engine-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a leftover temporary directory harms no result
	snap, err := snapshotJSON(o.tiers, o.campaigns, time.Now())
	if err != nil {
		return err
	}
	res, v, err := soakStore(ctx, o, dir, snap)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"machine": benchinfo.Machine(), "loadAverage": benchinfo.LoadAverage(), "walSoak": res, "verification": v})
	} else {
		fmt.Printf("wal-soak: %d clients, %.0fs: %d single earns acknowledged (%.0f/s), %d refused\n", res.Clients, res.Seconds, res.Acked, res.Rate, res.Refused)
		fmt.Printf("WAL peak %s, %s when the load stopped, %s %.1fs later; database %s\n", mib(res.PeakWAL), mib(res.WALAtEnd), mib(res.FinalWAL), res.SettledAfter, mib(res.Database))
		if res.TruncatedAfter != nil {
			fmt.Printf("WAL truncated %.1fs after the load stopped\n", *res.TruncatedAfter)
		}
		if res.VolumeMiB > 0 {
			fmt.Printf("volume %d MiB:%s%s%s\n", res.VolumeMiB, refusalNote(res.FirstRefusalAfter), recoveryNote("after the load stopped", res.FirstRefusalAfter, res.WritableAfterStop),
				recoveryNote("after a restart", res.FirstRefusalAfter, res.WritableAfterReboot))
		}
		fmt.Printf("after the load: %s\n%s; load average %s\n", v.Summary, benchinfo.Machine(), benchinfo.LoadAverage())
	}
	if !v.OK {
		return errors.New("verification failed")
	}
	return nil
}

func refusalNote(after *float64) string {
	if after == nil {
		return " never full, no write refused"
	}
	return fmt.Sprintf(" first write refused after %.1fs", *after)
}

func recoveryNote(when string, refused, after *float64) string {
	switch {
	case refused == nil:
		return ""
	case after == nil:
		return "; writes still refused " + when
	default:
		return fmt.Sprintf("; writes accepted %.1fs %s", *after, when)
	}
}
