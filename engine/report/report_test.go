package report

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/loyaltyops/loyalty-operator/contract"
)

func writes(c *fake.Clientset) []string {
	var verbs []string
	for _, a := range c.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			verbs = append(verbs, a.GetVerb())
		}
	}
	return verbs
}

func TestReporterWritesOnlyWhenTheHashChanges(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	r := &Reporter{
		Client: client, Namespace: "shop", Program: "beans", Identity: "beans-engine-0", Pod: "beans-engine-0",
		Owners: []metav1.OwnerReference{{APIVersion: "loyaltyops.io/v1alpha1", Kind: "LoyaltyProgram", Name: "beans", UID: "u1", Controller: new(bool)}},
	}
	for _, hash := range []string{"aaa", "aaa", "aaa", "bbb", "bbb"} {
		if err := r.Applied(ctx, hash); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(writes(client), ","); got != "create,update" {
		t.Fatalf("writes = %s; want one create and one update for two distinct hashes", got)
	}
	lease, err := client.CoordinationV1().Leases("shop").Get(ctx, contract.ReportLeaseName("beans", "beans-engine-0"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Annotations[contract.AnnotationAppliedSnapshot] != "bbb" || lease.Labels[contract.LabelProgram] != "beans" || lease.Labels[contract.LabelReport] != "true" || lease.Labels[contract.LabelPod] != "beans-engine-0" {
		t.Errorf("lease metadata %v %v", lease.Labels, lease.Annotations)
	}
	if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].Controller != nil {
		t.Errorf("the report is owned by the program but not controlled: %+v", lease.OwnerReferences)
	}

	if err := r.Withdraw(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Withdraw(ctx); err != nil {
		t.Fatalf("withdrawing twice must not fail: %v", err)
	}
	if last := client.Actions()[len(client.Actions())-1]; last.GetVerb() != "delete" {
		t.Errorf("last action %s", last.GetVerb())
	}
}

func TestReporterSurfacesWriteErrors(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("leases is forbidden")
	})
	r := &Reporter{Client: client, Namespace: "shop", Program: "beans", Identity: "x"}
	if err := r.Applied(context.Background(), "aaa"); err == nil || !strings.Contains(err.Error(), "creating report lease shop/beans-report-x") {
		t.Fatalf("err = %v", err)
	}
}

func TestExhaustedWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	r := &Reporter{Client: client, Namespace: "shop", Program: "beans", Identity: "e0"}
	if err := r.Exhausted(ctx, []string{"double"}); err != nil {
		t.Fatal(err)
	}
	if len(writes(client)) != 0 {
		t.Fatal("no report exists before a snapshot is applied; nothing to write")
	}
	if err := r.Applied(ctx, "aaa"); err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]string{{"weekend", "double"}, {"double", "weekend"}, {"double", "weekend", "double"}, nil, nil} {
		if err := r.Exhausted(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(writes(client), ","); got != "create,update,update" {
		t.Fatalf("writes = %s; want the create, one update for the list and one to clear it", got)
	}
	lease, err := client.CoordinationV1().Leases("shop").Get(ctx, contract.ReportLeaseName("beans", "e0"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if contract.ExhaustedCampaigns(lease.Annotations) != nil || lease.Annotations[contract.AnnotationAppliedSnapshot] != "aaa" {
		t.Errorf("annotations %v", lease.Annotations)
	}
}
