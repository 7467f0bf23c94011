package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// sampleDocuments returns every YAML document of the sample program's files.
func sampleDocuments(t *testing.T) map[string][][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "loyaltyops_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	docs := map[string][][]byte{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			docs[meta.Kind] = append(docs[meta.Kind], doc)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return docs
}

// TestSamplesNeverGoStale: make demo and the README apply config/samples on
// any day, so no sample may hold a date that passes. A campaign recurs
// without an end, and keeps opening windows years from now; a reward is not
// available only until some date.
func TestSamplesNeverGoStale(t *testing.T) {
	docs := sampleDocuments(t)
	if len(docs["Campaign"]) == 0 || len(docs["RewardCatalog"]) == 0 {
		t.Fatalf("want campaigns and a reward catalog among the samples, got kinds %v", docs)
	}
	for _, doc := range docs["Campaign"] {
		var c loyaltyv1alpha1.Campaign
		if err := yaml.UnmarshalStrict(doc, &c); err != nil {
			t.Fatal(err)
		}
		if end := c.Spec.Schedule.End; end != nil {
			t.Errorf("campaign %s ends at %s; a sample must not", c.Name, end.Format(time.RFC3339))
			continue
		}
		sched, err := render.ScheduleOf(c)
		if err != nil {
			t.Fatalf("campaign %s: %v", c.Name, err)
		}
		for _, years := range []int{0, 1, 5, 20} {
			from := time.Now().AddDate(years, 0, 0)
			if _, ok := sched.NextTransition(from); !ok {
				t.Errorf("campaign %s has no window after %s", c.Name, from.Format(time.RFC3339))
			}
		}
	}
	for _, doc := range docs["RewardCatalog"] {
		var catalog loyaltyv1alpha1.RewardCatalog
		if err := yaml.UnmarshalStrict(doc, &catalog); err != nil {
			t.Fatal(err)
		}
		for _, r := range catalog.Spec.Rewards {
			if a := r.Availability; a != nil && a.End != nil {
				t.Errorf("reward %s of %s is available until %s; a sample must not be", r.ID, catalog.Name, a.End.Format(time.RFC3339))
			}
		}
	}
}
