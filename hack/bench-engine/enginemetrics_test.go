package main

import (
	"strings"
	"testing"
	"time"
)

const scrapeBefore = `# HELP loyalty_engine_http_request_duration_seconds Latency
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="0.005"} 10
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="0.01"} 10
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="0.025"} 10
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="+Inf"} 10
loyalty_engine_commit_duration_seconds_bucket{le="0.005"} 5
loyalty_engine_commit_duration_seconds_bucket{le="+Inf"} 5
loyalty_engine_wal_sync_duration_seconds_bucket{le="0.001"} 3
loyalty_engine_wal_sync_duration_seconds_bucket{le="0.0025"} 5
loyalty_engine_wal_sync_duration_seconds_bucket{le="+Inf"} 5
`

// After: 100 more earns with code 200 (60 ≤ 5 ms, 98 ≤ 10 ms, all ≤ 25 ms)
// and 100 with code 422 (all ≤ 5 ms); 10 commits, 9 ≤ 5 ms; 100 WAL
// syncs, 98 ≤ 1 ms and 99 ≤ 2.5 ms.
const scrapeAfter = `loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="0.005"} 70
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="0.01"} 108
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="0.025"} 110
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/earn",le="+Inf"} 110
loyalty_engine_http_request_duration_seconds_bucket{code="422",route="POST /v1/earn",le="0.005"} 100
loyalty_engine_http_request_duration_seconds_bucket{code="422",route="POST /v1/earn",le="0.01"} 100
loyalty_engine_http_request_duration_seconds_bucket{code="422",route="POST /v1/earn",le="0.025"} 100
loyalty_engine_http_request_duration_seconds_bucket{code="422",route="POST /v1/earn",le="+Inf"} 100
loyalty_engine_http_request_duration_seconds_bucket{code="200",route="POST /v1/redeem",le="+Inf"} 7
loyalty_engine_commit_duration_seconds_bucket{le="0.005"} 14
loyalty_engine_commit_duration_seconds_bucket{le="+Inf"} 15
loyalty_engine_wal_sync_duration_seconds_bucket{le="0.001"} 101
loyalty_engine_wal_sync_duration_seconds_bucket{le="0.0025"} 104
loyalty_engine_wal_sync_duration_seconds_bucket{le="+Inf"} 105
`

func TestEngineDelta(t *testing.T) {
	parse := func(text string) engineMetrics {
		m := newEngineMetrics()
		if err := parseMetrics(strings.NewReader(text), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	got := engineDelta(parse(scrapeBefore), parse(scrapeAfter), "POST /v1/earn")
	want := engineView{Requests: 200, P50Within: 5 * time.Millisecond, P99Within: 10 * time.Millisecond,
		Commits: 10, CommitP99Within: -1, WALSyncs: 100, SyncP99Within: 2500 * time.Microsecond}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for d, want := range map[time.Duration]string{10 * time.Millisecond: "≤10ms", 2500 * time.Microsecond: "≤2.50ms", -1: "beyond buckets", 0: "-"} {
		if s := bound(d); s != want {
			t.Errorf("bound(%v) = %q, want %q", d, s, want)
		}
	}
}
