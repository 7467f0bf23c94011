package report

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/loyaltyops/loyalty-operator/contract"
)

func TestDeliveryWritesOnlyWhenTheFailingSinksChange(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	r := &Reporter{Client: client, Namespace: "shop", Program: "beans", Identity: "engine-0"}
	if err := r.Delivery(ctx, []contract.SinkHealth{{Sink: "crm", Error: "boom"}}); !errors.Is(err, ErrNotReported) {
		t.Fatalf("before the first snapshot report: %v, want ErrNotReported", err)
	}
	if err := r.Applied(ctx, "aaa"); err != nil {
		t.Fatal(err)
	}
	crm := []contract.SinkHealth{{Sink: "crm", Error: "503"}}
	for _, failing := range [][]contract.SinkHealth{nil, crm, crm, nil, nil} {
		if err := r.Delivery(ctx, failing); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(writes(client), ","); got != "create,update,update" {
		t.Fatalf("writes = %s; want the create, the failure and the recovery", got)
	}
	lease, err := client.CoordinationV1().Leases("shop").Get(ctx, contract.ReportLeaseName("beans", "engine-0"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lease.Annotations[contract.AnnotationEventsHealth]; ok {
		t.Errorf("a healthy replica keeps the annotation: %v", lease.Annotations)
	}
}

func TestDeliveryHealthStanding(t *testing.T) {
	var h DeliveryHealth
	woken := h.Changed()
	h.Delivered("crm")
	select {
	case <-woken:
		t.Fatal("a delivering sink woke the reporter")
	default:
	}
	h.Failed("crm", errors.New("connection refused"))
	<-woken
	woken = h.Changed()
	h.Failed("crm", errors.New("connection refused again"))
	select {
	case <-woken:
		t.Fatal("a sink failing again woke the reporter")
	default:
	}
	if got := h.Failing(); len(got) != 1 || got[0].Error != "connection refused again" {
		t.Fatalf("failing %+v", got)
	}
	h.DeadLettered("crm", errors.New("gave up"))
	h.Delivered("crm")
	report := h.Failing()
	if len(report) != 1 || report[0].DeadLetters != 1 {
		t.Fatalf("a dead letter must keep the sink failing until reported: %+v", report)
	}
	h.Reported(report)
	if got := h.Failing(); len(got) != 0 {
		t.Errorf("after the report: %+v, want none failing", got)
	}
}

func TestFollowDeliveryReportsFailureAndRecovery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset()
	r := &Reporter{Client: client, Namespace: "shop", Program: "beans", Identity: "engine-0"}
	if err := r.Applied(ctx, "aaa"); err != nil {
		t.Fatal(err)
	}
	var h DeliveryHealth
	done := make(chan struct{})
	go func() {
		FollowDelivery(ctx, &h, r, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	annotation := func() string {
		lease, err := client.CoordinationV1().Leases("shop").Get(ctx, contract.ReportLeaseName("beans", "engine-0"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return lease.Annotations[contract.AnnotationEventsHealth]
	}
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ok(annotation()) {
				return
			}
		}
		t.Fatalf("%s: annotation %q", what, annotation())
	}
	h.Failed("crm", errors.New("503 Service Unavailable"))
	waitFor("failure reported", func(v string) bool { return strings.Contains(v, `"sink":"crm"`) && strings.Contains(v, "503") })
	h.Delivered("crm")
	waitFor("recovery reported", func(v string) bool { return v == "" })
	h.DeadLettered("mail", errors.New("gave up after 12 attempts"))
	waitFor("dead letter reported", func(v string) bool { return strings.Contains(v, `"deadLetters":1`) })
	waitFor("dead letter cleared after the hold", func(v string) bool { return v == "" })
	cancel()
	<-done
}
