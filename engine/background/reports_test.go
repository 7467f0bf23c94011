package background

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

const reportSnapshot = `{
  "version": "loyaltyops.io/snapshot/v1",
  "program": {"name": "club", "namespace": "shop", "displayName": "Club", "currency": "EUR"},
  "points": {"earnRate": "2", "pendingPeriod": "0s", "expiry": {"afterEarn": "365d"}, "lateEventGracePeriod": "72h"},
  "campaigns": [
    {"name": "spring", "displayName": "Spring", "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
     "rules": {"pointsMultiplier": "2"}, "limits": {"totalBonusBudget": 100}}
  ]
}`

func reportFixture(t *testing.T) (*fake.Clientset, *config.Holder) {
	t.Helper()
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "club-engine", Namespace: "shop",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "loyaltyops.io/v1alpha1", Kind: "LoyaltyProgram", Name: "club", UID: "u1"}},
	}})
	return client, config.NewHolder(nil)
}

func lease(t *testing.T, client *fake.Clientset, identity string) (map[string]string, error) {
	t.Helper()
	l, err := client.CoordinationV1().Leases("shop").Get(context.Background(), contract.ReportLeaseName("club", identity), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return l.Annotations, nil
}

// The job waits for the first snapshot, which names the program, reports
// it and the spent budgets, and withdraws the report when it stops.
func TestReportsFollowTheSnapshotAndTheBudgets(t *testing.T) {
	client, holder := reportFixture(t)
	l := newFakeLedger(t0)
	log, _ := newLog()
	clock := newManualClock()
	stop := running(t, Reports{Client: client, Config: holder, Ledger: l, Namespace: "shop", ConfigMap: "club-engine", Pod: "club-engine-0",
		Interval: time.Second, Log: log, Clock: clock}.Run)

	select {
	case tm := <-clock.timers:
		t.Fatalf("the job asked for a %v timer before a snapshot named the program", tm.d)
	case <-time.After(50 * time.Millisecond):
	}
	if err := holder.Apply("test", []byte(reportSnapshot)); err != nil {
		t.Fatal(err)
	}
	hash := holder.Status().Hash
	eventually(t, "the applied snapshot's report", func() bool {
		a, err := lease(t, client, "club-engine-0")
		return err == nil && a[contract.AnnotationAppliedSnapshot] == hash
	})

	ticker := clock.next(t)
	ticker.fire(t)
	l.grant("spring", 100)
	ticker.fire(t)
	eventually(t, "the spent budget's report", func() bool {
		a, err := lease(t, client, "club-engine-0")
		return err == nil && a[contract.AnnotationExhaustedCampaigns] == contract.FormatExhaustedCampaigns([]string{"spring"})
	})

	stop()
	if _, err := lease(t, client, "club-engine-0"); !apierrors.IsNotFound(err) {
		t.Errorf("report after stop: %v, want it withdrawn", err)
	}
}

// The sinks' delivery health rides on the same report.
func TestReportsCarryTheDeliveryHealth(t *testing.T) {
	client, holder := reportFixture(t)
	if err := holder.Apply("test", []byte(reportSnapshot)); err != nil {
		t.Fatal(err)
	}
	log, _ := newLog()
	var health report.DeliveryHealth
	running(t, Reports{Client: client, Config: holder, Ledger: newFakeLedger(t0), Namespace: "shop", ConfigMap: "club-engine", Pod: "club-engine-0",
		Interval: time.Second, Log: log, Clock: newManualClock(), Delivery: &health, DeliveryHold: 10 * time.Millisecond}.Run)
	health.Failed("crm", errors.New("503 Service Unavailable"))
	eventually(t, "the failing sink's report", func() bool {
		a, err := lease(t, client, "club-engine-0")
		return err == nil && a[contract.AnnotationEventsHealth] == contract.FormatEventsHealth([]contract.SinkHealth{{Sink: "crm", Error: "503 Service Unavailable"}})
	})
	health.Delivered("crm")
	eventually(t, "the recovered sink's report", func() bool {
		a, err := lease(t, client, "club-engine-0")
		_, failing := a[contract.AnnotationEventsHealth]
		return err == nil && !failing
	})
}

// A plain process, outside a pod, is named by its host.
func TestReportsOfAPlainProcess(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	client, holder := reportFixture(t)
	if err := holder.Apply("test", []byte(reportSnapshot)); err != nil {
		t.Fatal(err)
	}
	log, _ := newLog()
	running(t, Reports{Client: client, Config: holder, Ledger: newFakeLedger(t0), Namespace: "shop", ConfigMap: "club-engine",
		Interval: time.Second, Log: log, Clock: newManualClock()}.Run)
	eventually(t, "the report named by the host", func() bool {
		_, err := lease(t, client, host)
		return err == nil
	})
}

// Stopped before any snapshot, the job has nothing to report or withdraw.
func TestReportsStopBeforeASnapshot(t *testing.T) {
	client, holder := reportFixture(t)
	log, _ := newLog()
	stop := running(t, Reports{Client: client, Config: holder, Ledger: newFakeLedger(t0), Namespace: "shop", ConfigMap: "club-engine",
		Interval: time.Second, Log: log, Clock: newManualClock()}.Run)
	stop()
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d API calls: %v", n, client.Actions())
	}
}
