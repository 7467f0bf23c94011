package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9}, 2},
	}
	for _, tc := range tests {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 || xs[1] != 1 {
		t.Errorf("median reordered its argument: %v", xs)
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v", got)
	}
	for _, tc := range [][2]float64{{1, 0}, {math.NaN(), 1}, {1, math.NaN()}} {
		if got := ratio(tc[0], tc[1]); !math.IsNaN(got) {
			t.Errorf("ratio(%v, %v) = %v, want NaN", tc[0], tc[1], got)
		}
	}
}

// comparisonSamples are two rounds of two builds, SQLite batch earn with
// 0 and 50 campaigns.
func comparisonSamples() []sample {
	s := func(build string, round, campaigns int, rate float64, cpuUs int, p99ms int) sample {
		return sample{Build: build, Round: round, Store: "sqlite", Campaigns: campaigns, Scenario: "batch-earn", Unit: "events",
			Rate: rate, EngineCPU: time.Duration(cpuUs) * time.Microsecond, HalfP99: time.Duration(p99ms) * time.Millisecond, Errors: 1}
	}
	return []sample{
		s("A", 1, 0, 10_000, 100, 40), s("B", 1, 0, 12_000, 90, 30),
		s("A", 1, 50, 2_000, 400, 80), s("B", 1, 50, 9_000, 110, 35),
		s("B", 2, 0, 14_000, 80, 20), s("A", 2, 0, 8_000, 120, 60),
		s("B", 2, 50, 11_000, 100, 25), s("A", 2, 50, 3_000, 500, 90),
	}
}

func TestSummarizeMediansAndRatios(t *testing.T) {
	rows := summarize(comparisonSamples())
	if len(rows) != 2 || rows[0].Campaigns != 0 || rows[1].Campaigns != 50 {
		t.Fatalf("rows = %+v, want 0 then 50 campaigns", rows)
	}
	r := rows[0]
	if r.A.Rounds != 2 || r.A.Rate != 9_000 || r.A.CPUus != 110 || r.A.P99ms != 50 || r.A.MinRate != 8_000 || r.A.MaxRate != 10_000 || r.A.Errors != 2 {
		t.Errorf("build A without campaigns: %+v", r.A)
	}
	if r.B.Rate != 13_000 || r.B.CPUus != 85 || r.B.P99ms != 25 {
		t.Errorf("build B without campaigns: %+v", r.B)
	}
	costs := campaignCosts(rows)
	want := map[string]float64{"A": 450.0 / 110, "B": 105.0 / 85}
	if len(costs) != 2 {
		t.Fatalf("campaign costs = %+v, want one per build", costs)
	}
	for _, c := range costs {
		if math.Abs(c.Ratio-want[c.Build]) > 1e-9 || c.Campaigns != 50 || c.Store != "sqlite" {
			t.Errorf("campaign cost %+v, want ratio %v", c, want[c.Build])
		}
	}
}

func TestPrintComparison(t *testing.T) {
	var out bytes.Buffer
	printComparison(&out, summarize(comparisonSamples()), "main", "branch", []float64{10_000, 20_000, 15_000})
	text := out.String()
	for _, want := range []string{
		"A = main, B = branch",
		"9000 (8000–10000)", "13000 (12000–14000)", "1.44", // rates and B/A
		"110µs/event", "85µs/event", "0.77", // CPU and B/A
		"main sqlite batch-earn, 50 campaigns: 4.09 MISSED",
		"branch sqlite batch-earn, 50 campaigns: 1.24 met",
		"median 15000 earns/s over 3 runs",
		"main SQLite batch earn: 60% of the floor (target ≥ 90%) MISSED",
		"branch SQLite batch earn: 87% of the floor (target ≥ 90%) MISSED",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("comparison lacks %q:\n%s", want, text)
		}
	}
}

func TestFloorRates(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/loyaltyops/loyalty-operator/engine/store/sqlite
BenchmarkStorageFloor/ledger-model/rows-per-statement=1-2         	  100000	     70001 ns/op	        81.00 cpu-µs/earn	     14286 earns/s
BenchmarkStorageFloor/ledger-model/rows-per-statement=100-2       	  100000	     66000 ns/op	        75.00 cpu-µs/earn	     15151.5 earns/s
PASS
`
	got, err := floorRates(strings.NewReader(out))
	if err != nil || len(got) != 2 || got[0] != 14286 || got[1] != 15151.5 {
		t.Fatalf("floorRates = %v, %v", got, err)
	}
	if _, err := floorRates(strings.NewReader("BenchmarkStorageFloor/x-2 1 2 ns/op x earns/s\n")); err == nil {
		t.Fatal("a rate that is not a number was read")
	}
	if got, err := floorRates(strings.NewReader("PASS\n")); err != nil || len(got) != 0 {
		t.Fatalf("no benchmark lines: %v, %v", got, err)
	}
}

func TestParseCounts(t *testing.T) {
	got, err := parseCounts("0, 50")
	if err != nil || len(got) != 2 || got[0] != 0 || got[1] != 50 {
		t.Fatalf("parseCounts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1", "0,,5"} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("parseCounts(%q) accepted", bad)
		}
	}
}
