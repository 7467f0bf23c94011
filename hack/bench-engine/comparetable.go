package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loyaltyops/loyalty-operator/hack/internal/benchinfo"
)

// sample is one measurement of one build in a side-by-side comparison:
// one scenario, on one store, with one snapshot, in one round.
type sample struct {
	Build     string `json:"build"` // "A" (baseline) or "B"
	Round     int    `json:"round"`
	Store     string `json:"store"`
	Campaigns int    `json:"campaigns"`
	Scenario  string `json:"scenario"`
	Unit      string `json:"unit"`
	// Rate is the units answered per second with every connection busy.
	Rate float64 `json:"rate"`
	// EngineCPU is the engine process's user plus system CPU time per unit
	// over that run (PostgreSQL's server is not in it).
	EngineCPU time.Duration `json:"engineCpuPerUnit"`
	// HalfP50 and HalfP99 are latencies at half that rate, open loop.
	HalfP50 time.Duration `json:"halfLoadP50"`
	HalfP99 time.Duration `json:"halfLoadP99"`
	// Errors counts failed and unsent units of both runs.
	Errors int64 `json:"errors"`
}

// median is the middle value, or the mean of the two middle ones; NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// ratio is b/a; NaN when either is unknown or a is zero.
func ratio(b, a float64) float64 {
	if a == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return b / a
}

// buildStats are one build's medians over its rounds of a comparison row.
type buildStats struct {
	Rounds  int     `json:"rounds"`
	Rate    float64 `json:"rate"`
	CPUus   float64 `json:"engineCpuMicrosPerUnit"`
	P99ms   float64 `json:"halfLoadP99Millis"`
	Errors  int64   `json:"errors"`
	MinRate float64 `json:"minRate"`
	MaxRate float64 `json:"maxRate"`
}

// compareRow is one scenario on one store with one snapshot, both builds.
type compareRow struct {
	Store     string     `json:"store"`
	Campaigns int        `json:"campaigns"`
	Scenario  string     `json:"scenario"`
	Unit      string     `json:"unit"`
	A         buildStats `json:"a"`
	B         buildStats `json:"b"`
}

// summarize groups samples by store, campaigns and scenario, in the order
// they were first measured, with each build's medians.
func summarize(samples []sample) []compareRow {
	type key struct {
		store     string
		campaigns int
		scenario  string
	}
	var order []key
	groups := map[key][]sample{}
	for _, s := range samples {
		k := key{s.Store, s.Campaigns, s.Scenario}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	rows := make([]compareRow, 0, len(order))
	for _, k := range order {
		g := groups[k]
		rows = append(rows, compareRow{Store: k.store, Campaigns: k.campaigns, Scenario: k.scenario, Unit: g[0].Unit,
			A: statsOf(g, "A"), B: statsOf(g, "B")})
	}
	return rows
}

func statsOf(samples []sample, build string) buildStats {
	var rates, cpus, p99s []float64
	st := buildStats{}
	for _, s := range samples {
		if s.Build != build {
			continue
		}
		rates = append(rates, s.Rate)
		cpus = append(cpus, float64(s.EngineCPU)/float64(time.Microsecond))
		p99s = append(p99s, float64(s.HalfP99)/float64(time.Millisecond))
		st.Errors += s.Errors
	}
	st.Rounds = len(rates)
	st.Rate, st.CPUus, st.P99ms = median(rates), median(cpus), median(p99s)
	if len(rates) > 0 {
		st.MinRate, st.MaxRate = slices.Min(rates), slices.Max(rates)
	}
	return st
}

// campaignCost is, for one build, a store and a scenario, the engine's CPU
// per unit with campaigns divided by that without any.
type campaignCost struct {
	Build     string  `json:"build"`
	Store     string  `json:"store"`
	Scenario  string  `json:"scenario"`
	Campaigns int     `json:"campaigns"`
	Ratio     float64 `json:"cpuRatio"`
}

// campaignCosts pairs every row with campaigns with the row of the same
// store and scenario without campaigns.
func campaignCosts(rows []compareRow) []campaignCost {
	var out []campaignCost
	for _, r := range rows {
		if r.Campaigns == 0 {
			continue
		}
		for _, base := range rows {
			if base.Campaigns != 0 || base.Store != r.Store || base.Scenario != r.Scenario {
				continue
			}
			out = append(out,
				campaignCost{Build: "A", Store: r.Store, Scenario: r.Scenario, Campaigns: r.Campaigns, Ratio: ratio(r.A.CPUus, base.A.CPUus)},
				campaignCost{Build: "B", Store: r.Store, Scenario: r.Scenario, Campaigns: r.Campaigns, Ratio: ratio(r.B.CPUus, base.B.CPUus)})
		}
	}
	return out
}

// campaignCPUTarget is the project's bound on what active campaigns may
// add: with 50 of them, at most 1.25 times the CPU per event of none.
const campaignCPUTarget = 1.25

// floorShareTarget is the share of make bench-floor's rate that SQLite's
// batch earn is to reach.
const floorShareTarget = 0.9

// printComparison writes the side-by-side table, the cost of campaigns
// and, when floor rates were measured, SQLite batch earn against the floor.
func printComparison(w io.Writer, rows []compareRow, nameA, nameB string, floor []float64) {
	fmt.Fprintf(w, "A = %s, B = %s; medians over the rounds (the range of the rate in brackets)\n\n", nameA, nameB)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tcampaigns\tscenario\tA rate/s\tB rate/s\tB/A\tA engine CPU\tB engine CPU\tB/A\tA p99 half\tB p99 half\tA/B errors\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t\n", r.Store, r.Campaigns, r.Scenario,
			rateCell(r.A), rateCell(r.B), ratioCell(ratio(r.B.Rate, r.A.Rate)),
			micros(r.A.CPUus, r.Unit), micros(r.B.CPUus, r.Unit), ratioCell(ratio(r.B.CPUus, r.A.CPUus)),
			millis(r.A.P99ms), millis(r.B.P99ms), r.A.Errors, r.B.Errors)
	}
	tw.Flush()

	if costs := campaignCosts(rows); len(costs) > 0 {
		fmt.Fprintf(w, "\nengine CPU per unit with campaigns ÷ without (target ≤ %.2f× with 50):\n", campaignCPUTarget)
		for _, c := range costs {
			name := nameA
			if c.Build == "B" {
				name = nameB
			}
			fmt.Fprintf(w, "  %s %s %s, %d campaigns: %s %s\n", name, c.Store, c.Scenario, c.Campaigns, ratioCell(c.Ratio), benchinfo.MetOrMissed(c.Ratio <= campaignCPUTarget))
		}
	}

	if len(floor) == 0 {
		return
	}
	f := median(floor)
	fmt.Fprintf(w, "\nmake bench-floor, SQLite ledger model, 800 earns a commit: median %.0f earns/s over %d runs\n", f, len(floor))
	for _, r := range rows {
		if r.Store != "sqlite" || r.Scenario != "batch-earn" || r.Campaigns != 0 {
			continue
		}
		for _, b := range []struct {
			name string
			st   buildStats
		}{{nameA, r.A}, {nameB, r.B}} {
			share := ratio(b.st.Rate, f)
			fmt.Fprintf(w, "  %s SQLite batch earn: %s of the floor (target ≥ %.0f%%) %s\n", b.name, percent(share), floorShareTarget*100, benchinfo.MetOrMissed(share >= floorShareTarget))
		}
	}
}

func rateCell(s buildStats) string {
	if s.Rounds == 0 {
		return "-"
	}
	if s.Rounds == 1 {
		return fmt.Sprintf("%.0f", s.Rate)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Rate, s.MinRate, s.MaxRate)
}

func ratioCell(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

func micros(us float64, unit string) string {
	if math.IsNaN(us) {
		return "-"
	}
	return fmt.Sprintf("%.0fµs/%s", us, strings.TrimSuffix(unit, "s"))
}

func millis(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1fms", v)
}

func percent(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", r*100)
}

// floorRates reads the earns/s that BenchmarkStorageFloor reported, one per
// benchmark line, from go test's output.
func floorRates(r io.Reader) ([]float64, error) {
	var rates []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "BenchmarkStorageFloor") {
			continue
		}
		for i := 1; i < len(fields); i++ {
			if fields[i] != "earns/s" {
				continue
			}
			v, err := strconv.ParseFloat(fields[i-1], 64)
			if err != nil {
				return nil, fmt.Errorf("floor: rate in %q: %w", sc.Text(), err)
			}
			rates = append(rates, v)
		}
	}
	return rates, sc.Err()
}
