package contract

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReportLeaseName(t *testing.T) {
	for identity, want := range map[string]string{
		"beans-engine-0":    "beans-report-beans-engine-0",
		"Laptop.local:4711": "beans-report-laptop-local-4711",
		"--odd--":           "beans-report-odd",
	} {
		if got := ReportLeaseName("beans", identity); got != want {
			t.Errorf("ReportLeaseName(%q) = %q, want %q", identity, got, want)
		}
	}
	if got := ReportLeaseName("beans", strings.Repeat("x", 400)); len(got) > 253 {
		t.Errorf("a lease name must fit in 253 characters, got %d", len(got))
	}
}

func TestExhaustedCampaignsRoundTrip(t *testing.T) {
	tests := []struct {
		campaigns []string
		value     string
		read      []string
	}{
		{campaigns: nil, value: "", read: nil},
		{campaigns: []string{"weekend", "double"}, value: "double,weekend", read: []string{"double", "weekend"}},
		{campaigns: []string{"double", "weekend", "double"}, value: "double,weekend", read: []string{"double", "weekend"}},
	}
	for _, tt := range tests {
		value := FormatExhaustedCampaigns(tt.campaigns)
		if value != tt.value {
			t.Errorf("FormatExhaustedCampaigns(%q) = %q, want %q", tt.campaigns, value, tt.value)
		}
		if got := ExhaustedCampaigns(map[string]string{AnnotationExhaustedCampaigns: value}); !slices.Equal(got, tt.read) {
			t.Errorf("ExhaustedCampaigns(%q) = %q, want %q", value, got, tt.read)
		}
	}
}

func TestSnapshotGzipKey(t *testing.T) {
	if got := GzipKey(SnapshotKey); got != SnapshotGzipKey {
		t.Errorf("GzipKey(SnapshotKey) = %q; SnapshotGzipKey is %q", got, SnapshotGzipKey)
	}
}

// TestImportsOnlyTheStandardLibrary keeps the package a leaf that either side
// can import without pulling in the other's code.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; package contract may import the standard library only", name, path)
			}
		}
	}
}

func TestEventsHealthRoundTrip(t *testing.T) {
	if v := FormatEventsHealth(nil); v != "" {
		t.Errorf("no failing sink formats as %q, want empty", v)
	}
	long := strings.Repeat("é", MaxSinkErrorLength) // two bytes each: the cut must not split one
	v := FormatEventsHealth([]SinkHealth{{Sink: "mail", Error: long, DeadLetters: 2}, {Sink: "crm", Error: "503 Service Unavailable"}})
	got, err := EventsHealth(map[string]string{AnnotationEventsHealth: v})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Sink != "crm" || got[1].Sink != "mail" || got[1].DeadLetters != 2 {
		t.Fatalf("round trip of %s gave %+v", v, got)
	}
	if e := got[1].Error; len(e) > MaxSinkErrorLength || !strings.HasPrefix(long, e) || len(e) < MaxSinkErrorLength-1 {
		t.Errorf("long error cut to %d bytes: %q", len(e), e)
	}
	if _, err := EventsHealth(map[string]string{AnnotationEventsHealth: "not json"}); err == nil {
		t.Error("a malformed annotation was accepted")
	}
}
