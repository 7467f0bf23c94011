// Command bench-operator measures the operator at scale on a real API server:
// an envtest control plane (kube-apiserver and etcd), the manager built from
// cmd/manager as a separate process, and about 1,600 objects (100 programs,
// each with 4 Tiers, a RewardCatalog of 200 rewards and 10 Campaigns).
//
// It reports the time until every object is Ready, the operator's API writes
// while nothing changes (goal 0), the manager's peak memory, how fast a
// Campaign edit reaches the rendered snapshot and a real points engine (goal
// p99 ≤ 1 s), and how far campaign phase changes lag behind their window
// boundaries (goal ≤ 1 s).
//
// There is no kubelet and no engine pod: the bench stands in for the kubelet
// (it sets each engine StatefulSet's status the way a kubelet and the
// StatefulSet controller would once the pod runs) and for the engines of all
// programs but the first (it writes their report Lease with the hash of the
// ConfigMap it just saw). The first program is served by a real
// bin/points-engine process that watches its ConfigMap.
//
// Run it with `make bench-operator`; it is not a test and never runs under go test.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/loyaltyops/loyalty-operator/hack/internal/benchinfo"
)

type options struct {
	assets       string
	managerBin   string
	engineBin    string
	programs     int
	tiers        int
	rewards      int
	campaigns    int
	concurrency  int
	engines      int
	idle         time.Duration
	edits        int
	editPause    time.Duration
	phaseCamps   int
	phaseLead    time.Duration
	timeout      time.Duration
	jsonOut      bool
	keep         bool
	readyTimeout time.Duration
}

// logf reports progress on stderr, so that stdout is only the table or the JSON.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory holding kube-apiserver and etcd (KUBEBUILDER_ASSETS)")
	flag.StringVar(&o.managerBin, "manager", "", "manager binary; built from ./cmd/manager into a temporary directory when empty")
	flag.StringVar(&o.engineBin, "engine", "bin/points-engine", "points-engine binary (make bench-operator builds it)")
	flag.IntVar(&o.programs, "programs", 100, "LoyaltyPrograms, each in a namespace of its own")
	flag.IntVar(&o.tiers, "tiers", 4, "Tiers per program")
	flag.IntVar(&o.rewards, "rewards", 200, "rewards in each program's RewardCatalog")
	flag.IntVar(&o.campaigns, "campaigns", 10, "Campaigns per program")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent creates of the setup")
	flag.IntVar(&o.engines, "engines", 1, "programs served by a real points-engine process (the first ones); the bench stands in for the others")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long writes are counted once everything is Ready")
	flag.IntVar(&o.edits, "edits", 100, "Campaign edits whose propagation is measured")
	flag.DurationVar(&o.editPause, "edit-pause", 0, "pause between one edit's propagation and the next edit; 0 edits back to back")
	flag.IntVar(&o.phaseCamps, "phase-campaigns", 25, "short Campaigns whose start and end boundaries are measured (two each)")
	flag.DurationVar(&o.phaseLead, "phase-lead", 8*time.Second, "how far in the future the first phase boundary lies when those Campaigns are created")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 6*time.Minute, "how long to wait for every object to be Ready")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "the whole benchmark stops after this long")
	flag.BoolVar(&o.jsonOut, "json", false, "print the results as JSON instead of a table")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, audit log) after a successful run")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		os.Exit(2)
	}
	os.Exit(run(o))
}

// run measures and reports, returning the exit code so that its deferred
// cleanups run before the process exits.
func run(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	b, err := newBench(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		return 1
	}
	res, err := b.run(ctx)
	b.cleanup()
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		printTable(res)
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		logf("interrupted; everything started is stopped (logs in %s)", b.dir)
		return 130
	case err != nil:
		logf("FAILED: %v (logs of the control plane, manager and engine in %s)", err, b.dir)
		return 1
	}
	if !o.keep {
		_ = os.RemoveAll(b.dir)
	}
	return 0
}

func (o options) validate() error {
	switch {
	case o.assets == "":
		return errors.New("set --assets or KUBEBUILDER_ASSETS (make bench-operator does)")
	case o.programs < 1:
		return errors.New("--programs must be at least 1")
	case o.tiers < 1:
		return errors.New("--tiers must be at least 1: every program needs an entry tier")
	case o.campaigns < 1:
		return errors.New("--campaigns must be at least 1: the propagation edits change the first campaign")
	case o.engines < 1 || o.engines > o.programs:
		return fmt.Errorf("--engines must be between 1 and --programs (%d): the propagation is measured on a real engine", o.programs)
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.idle < 0 || o.editPause < 0:
		return errors.New("--idle and --edit-pause cannot be negative")
	case o.phaseLead < 2*time.Second:
		return errors.New("--phase-lead must be at least 2s so that the Campaigns exist before their first boundary")
	}
	return nil
}

// results is everything the bench measured; missing parts stay zero when a
// step failed.
type results struct {
	Machine     string `json:"machine"`
	LoadBefore  string `json:"loadAverageBefore"`
	LoadAfter   string `json:"loadAverageAfter"`
	Objects     int    `json:"objects"`
	Programs    int    `json:"programs"`
	RealEngines int    `json:"realEngines"`
	Elapsed     string `json:"elapsed"`
	Error       string `json:"error,omitempty"`

	CreateSeconds float64 `json:"createSeconds"`
	// ReadySeconds is from the first create until every object is Ready at
	// its current generation.
	ReadySeconds      float64        `json:"readySeconds"`
	SetupWrites       int            `json:"operatorWritesUntilReady"`
	SetupWritesByKind map[string]int `json:"operatorWritesUntilReadyByKind,omitempty"`
	SetupManagerCPU   float64        `json:"managerCpuSecondsUntilReady"`

	IdleSeconds     float64        `json:"idleSeconds"`
	IdleWrites      int            `json:"operatorIdleWrites"`
	IdleWritesBy    map[string]int `json:"operatorIdleWritesByKind,omitempty"`
	IdleOtherWrites map[string]int `json:"otherIdleWritesByUser,omitempty"`
	IdleManagerCPU  float64        `json:"managerCpuSecondsIdle"`

	ManagerPeakRSSMiB float64 `json:"managerPeakRssMiB"`
	ManagerRSSMiB     float64 `json:"managerRssMiBAfterIdle"`

	Edits         int          `json:"edits"`
	EditPause     string       `json:"editPause"`
	Rendered      *percentiles `json:"editToRendered,omitempty"`
	Applied       *percentiles `json:"editToEngineApplied,omitempty"`
	StatusApplied *percentiles `json:"editToProgramConfigApplied,omitempty"`
	WritesPerEdit float64      `json:"operatorWritesPerEdit"`
	PhaseLag      *percentiles `json:"phaseLag,omitempty"`
	PhaseBoundary int          `json:"phaseBoundaries"`
	PhaseEarly    int          `json:"phaseChangesBeforeBoundary"`
}

// percentiles summarises durations, in milliseconds.
type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

func summarise(ds []time.Duration) *percentiles {
	if len(ds) == 0 {
		return nil
	}
	sorted := append([]time.Duration(nil), ds...)
	slices.Sort(sorted)
	// Nearest rank: the value below which the given share of samples lies.
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(sorted))+0.999999) - 1
		return sorted[min(max(i, 0), len(sorted)-1)]
	}
	msOf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return &percentiles{N: len(sorted), P50: msOf(rank(0.50)), P99: msOf(rank(0.99)), Max: msOf(sorted[len(sorted)-1])}
}

func printTable(r results) {
	fmt.Printf("Operator at scale: %d programs, %d objects, %d real engine(s)\n\n", r.Programs, r.Objects, r.RealEngines)
	row := func(metric, value, goal, verdict string) {
		fmt.Printf("%-50s %-34s %-12s %s\n", metric, value, goal, verdict)
	}
	row("metric", "value", "goal", "")
	row("creates (bounded concurrency)", secs(r.CreateSeconds), "", "")
	row("first create → every object Ready", secs(r.ReadySeconds), "", "")
	row("operator writes until Ready", fmt.Sprint(r.SetupWrites), "", "")
	row("manager CPU until Ready", secs(r.SetupManagerCPU), "", "")
	row(fmt.Sprintf("operator writes in %s idle", secs(r.IdleSeconds)), fmt.Sprint(r.IdleWrites), "0", benchinfo.MetOrMissed(r.IdleSeconds > 0 && r.IdleWrites == 0))
	row("manager CPU while idle", secs(r.IdleManagerCPU), "", "")
	row("manager peak RSS (VmHWM)", fmt.Sprintf("%.0f MiB", r.ManagerPeakRSSMiB), "", "")
	row("manager RSS after idle", fmt.Sprintf("%.0f MiB", r.ManagerRSSMiB), "", "")
	row(fmt.Sprintf("edit → rendered ConfigMap (%d edits, pause %s)", r.Edits, r.EditPause), pct(r.Rendered), "p99 ≤ 1s", p99Verdict(r.Rendered, time.Second))
	row("edit → engine reports it applied", pct(r.Applied), "p99 ≤ 1s", p99Verdict(r.Applied, time.Second))
	row("edit → program status ConfigApplied", pct(r.StatusApplied), "", "")
	row("operator writes per edit", fmt.Sprintf("%.1f", r.WritesPerEdit), "", "")
	row(fmt.Sprintf("phase change lag (%d boundaries)", r.PhaseBoundary), pct(r.PhaseLag), "max ≤ 1s", maxVerdict(r.PhaseLag, time.Second))
	if len(r.IdleWritesBy) > 0 {
		fmt.Printf("\noperator writes while idle: %v\n", r.IdleWritesBy)
	}
	if len(r.IdleOtherWrites) > 0 {
		fmt.Printf("other writes while idle, by user: %v\n", r.IdleOtherWrites)
	}
	if r.PhaseEarly > 0 {
		fmt.Printf("phase changes seen before their boundary: %d\n", r.PhaseEarly)
	}
	fmt.Printf("\n%s; load average %s before, %s after; elapsed %s\n", r.Machine, r.LoadBefore, r.LoadAfter, r.Elapsed)
	if r.Error != "" {
		fmt.Printf("FAILED: %s\n", r.Error)
	}
}

func secs(s float64) string { return fmt.Sprintf("%.1fs", s) }

func pct(p *percentiles) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("p50 %.0fms p99 %.0fms max %.0fms", p.P50, p.P99, p.Max)
}

func p99Verdict(p *percentiles, goal time.Duration) string {
	if p == nil {
		return "not measured"
	}
	return benchinfo.MetOrMissed(p.P99 <= float64(goal.Milliseconds()))
}

func maxVerdict(p *percentiles, goal time.Duration) string {
	if p == nil {
		return "not measured"
	}
	return benchinfo.MetOrMissed(p.Max <= float64(goal.Milliseconds()))
}
