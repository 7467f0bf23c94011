// Package contract holds every name the operator and the points engine both
// rely on to find each other's objects in a cluster: the ConfigMap keys the
// snapshot is published under, the program label, the labels, annotations
// and names of the engine's report Leases, the keys of the API key Secret,
// the environment the operator gives the engine's container and the paths it
// probes. Both sides import these names and spell none of them, so the two
// cannot drift apart.
//
// It is a package of its own, importing only the standard library, so that
// the engine depends on no controller code and the operator on no engine
// runtime (store, HTTP server, Kubernetes clientset). The snapshot's schema
// is not here: it lives in engine/config with the parser and validation that
// give it meaning, and the operator builds it with those types.
package contract

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Keys of the ConfigMap the operator publishes a program's snapshot in. It
// holds the snapshot under SnapshotKey, or under SnapshotGzipKey when it is
// too large for a ConfigMap uncompressed; never both.
const (
	// SnapshotKey is the data key of the snapshot's canonical JSON.
	SnapshotKey = "snapshot.json"
	// SnapshotGzipKey is the binaryData key of the gzip-compressed JSON:
	// GzipKey(SnapshotKey).
	SnapshotGzipKey = "snapshot.json.gz"
	// SnapshotHashKey is the data key of the snapshot's hash, for people and
	// tools; the engine hashes the snapshot it applies itself.
	SnapshotHashKey = "snapshot.sha256"
)

// GzipKey is the binaryData key holding the gzip-compressed form of what
// would otherwise be stored under the data key key.
func GzipKey(key string) string { return key + ".gz" }

// LabelProgram names the program an object belongs to: every object the
// operator renders for a program, and every report an engine writes.
const LabelProgram = "loyaltyops.io/program"

// Labels and annotations of an engine's report Lease. Each replica keeps one,
// labelled with LabelProgram too; the operator lists them by label.
const (
	// LabelReport marks a Lease as an engine report.
	LabelReport = "loyaltyops.io/engine-report"
	// LabelPod names the pod of the reporting replica, when it runs in one;
	// the operator deletes reports whose pod no longer exists.
	LabelPod = "loyaltyops.io/pod"
	// AnnotationAppliedSnapshot carries the hash of the snapshot the replica applied.
	AnnotationAppliedSnapshot = "loyaltyops.io/applied-snapshot"
	// AnnotationExhaustedCampaigns lists, comma-separated and sorted, the
	// campaigns whose total bonus budget the engine has granted in full.
	AnnotationExhaustedCampaigns = "loyaltyops.io/exhausted-campaigns"
)

// ReportTrue is the value of LabelReport.
const ReportTrue = "true"

// EventSecretsDir is where the engine's pod mounts the Secrets of its event
// sinks (webhook signing secrets, NATS credentials); the snapshot's
// events section names files under it.
const EventSecretsDir = "/var/run/loyaltyops/events"

var invalidNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// ReportLeaseName names the report Lease of the replica identity of program:
// the identity lower-cased, with anything a Kubernetes name cannot hold
// replaced by dashes, after "<program>-report-".
func ReportLeaseName(program, identity string) string {
	id := strings.Trim(invalidNameChars.ReplaceAllString(strings.ToLower(identity), "-"), "-")
	name := program + "-report-" + id
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.TrimRight(name, "-")
}

// FormatExhaustedCampaigns is the value of AnnotationExhaustedCampaigns for
// campaigns: sorted, without repeats, comma-separated; "" for none.
func FormatExhaustedCampaigns(campaigns []string) string {
	sorted := slices.Clone(campaigns)
	slices.Sort(sorted)
	return strings.Join(slices.Compact(sorted), ",")
}

// ExhaustedCampaigns reads the campaigns a report's annotations list as exhausted.
func ExhaustedCampaigns(annotations map[string]string) []string {
	if v := annotations[AnnotationExhaustedCampaigns]; v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// Keys of a program's API key Secret, mounted into the engine's container as
// one file per key. Each key names the scope its API keys grant.
const (
	// APIKeyIngest grants writes from shops and apps.
	APIKeyIngest = "ingest"
	// APIKeyRead grants reads.
	APIKeyRead = "read"
	// APIKeyAdmin grants adjustments, and implies read and ingest.
	APIKeyAdmin = "admin"
)

// APIKeyScopes lists every key of the API key Secret.
func APIKeyScopes() []string { return []string{APIKeyAdmin, APIKeyIngest, APIKeyRead} }

// Environment of the engine's container, set by the operator.
const (
	// EnvPodName carries the pod's name, which the engine reports under LabelPod.
	EnvPodName = "POD_NAME"
	// EnvDatabaseURL carries the PostgreSQL connection URI.
	EnvDatabaseURL = "DATABASE_URL"
)

// Paths of the engine's HTTP API the operator's probes call.
const (
	// LivenessPath answers 200 while the process serves.
	LivenessPath = "/healthz"
	// ReadinessPath answers 200 once a snapshot is in effect and the ledger
	// store is reachable.
	ReadinessPath = "/readyz"
)

// AnnotationEventsHealth carries, on an engine's report Lease, the event
// sinks the replica currently fails to deliver to or has dead-lettered
// events for since its last report, as FormatEventsHealth writes them. It
// is absent while every sink delivers, so a healthy engine never writes it.
const AnnotationEventsHealth = "loyaltyops.io/events-health"

// SinkHealth is one failing sink in AnnotationEventsHealth.
type SinkHealth struct {
	// Sink is the sink's name in the snapshot's events section.
	Sink string `json:"sink"`
	// Error is the last delivery error, cut to MaxSinkErrorLength bytes.
	Error string `json:"error,omitempty"`
	// DeadLetters counts the events given up on since the last report.
	DeadLetters int64 `json:"deadLetters,omitempty"`
}

// MaxSinkErrorLength bounds an error in AnnotationEventsHealth, so that a
// report stays small whatever a receiver answers.
const MaxSinkErrorLength = 256

// FormatEventsHealth is the value of AnnotationEventsHealth for the failing
// sinks: a JSON array sorted by sink; "" for none.
func FormatEventsHealth(failing []SinkHealth) string {
	if len(failing) == 0 {
		return ""
	}
	sorted := slices.Clone(failing)
	slices.SortFunc(sorted, func(a, b SinkHealth) int { return strings.Compare(a.Sink, b.Sink) })
	for i := range sorted {
		if e := sorted[i].Error; len(e) > MaxSinkErrorLength {
			sorted[i].Error = strings.ToValidUTF8(e[:MaxSinkErrorLength], "")
		}
	}
	data, err := json.Marshal(sorted)
	if err != nil {
		// Strings and integers always encode.
		panic(err)
	}
	return string(data)
}

// EventsHealth reads the failing sinks a report's annotations list.
func EventsHealth(annotations map[string]string) ([]SinkHealth, error) {
	v := annotations[AnnotationEventsHealth]
	if v == "" {
		return nil, nil
	}
	var failing []SinkHealth
	if err := json.Unmarshal([]byte(v), &failing); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationEventsHealth, err)
	}
	return failing, nil
}
