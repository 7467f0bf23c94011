//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

const leaseName = "loyalty-operator.loyaltyops.io"

// Two operator replicas with leader election: deleting the leader's pod hands
// the lease to the other, which goes on reconciling. Upgrading the operator
// to a new image leaves alone an engine whose pod spec does not change (its
// image is pinned in the program).
var _ = Describe("Scenario 5: two operator replicas, leader election and an upgrade", Ordered, func() {
	const ns = "e2e-operator"

	BeforeAll(func() {
		restrictedNamespace(ns)
		applySamples(ns, func(p *loyaltyv1alpha1.LoyaltyProgram) { p.Spec.Engine.Image = img })
		waitProgramReady(ns, "bean-rewards", 3*time.Minute)
		kubectl("scale", "-n", operatorNamespace, "deployment/"+operatorName, "--replicas=2")
		waitDeploymentAvailable(operatorNamespace, operatorName, 2*time.Minute)
	})

	// The other scenarios expect the operator as make deploy installed it.
	AfterAll(func() {
		kubectl("set", "image", "-n", operatorNamespace, "deployment/"+operatorName, "manager="+img)
		kubectl("scale", "-n", operatorNamespace, "deployment/"+operatorName, "--replicas=1")
		waitDeploymentAvailable(operatorNamespace, operatorName, 3*time.Minute)
	})

	It("hands the lease to the other replica when the leader's pod is deleted", func() {
		leader := leaderPod()
		deleted := time.Now()
		Expect(k8s.Delete(context.Background(), &corev1.Pod{ObjectMeta: leader.ObjectMeta})).To(Succeed())
		Eventually(func(g Gomega) {
			holder := leaseHolder()
			g.Expect(holder).NotTo(BeEmpty())
			g.Expect(holder).NotTo(HavePrefix(leader.Name + "_"))
		}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "lease taken over %s after the leader's pod was deleted\n", time.Since(deleted).Round(100*time.Millisecond))

		By("the new leader reconciles a change")
		kubectl("patch", "-n", ns, "loyaltyprogram", "bean-rewards", "--type=merge", "-p", `{"spec":{"displayName":"Bean Rewards (new leader)"}}`)
		waitProgramReady(ns, "bean-rewards", time.Minute)
		waitDeploymentAvailable(operatorNamespace, operatorName, 2*time.Minute)
	})

	It("upgrades to a new image without restarting an engine whose pod spec is unchanged", func() {
		before := enginePods(ns, "bean-rewards")
		Expect(before).To(HaveLen(1))
		var sts appsv1.StatefulSet
		Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bean-rewards-engine"}, &sts)).To(Succeed())
		generation := sts.Generation

		kubectl("set", "image", "-n", operatorNamespace, "deployment/"+operatorName, "manager="+nextImg)
		waitDeploymentAvailable(operatorNamespace, operatorName, 3*time.Minute)
		// The old leader may hold the lease until its pod has terminated.
		Eventually(func() string { return leaderPod().Spec.Containers[0].Image }, 2*time.Minute, time.Second).Should(Equal(nextImg))

		By("the upgraded operator reconciles the program")
		kubectl("patch", "-n", ns, "loyaltyprogram", "bean-rewards", "--type=merge", "-p", `{"spec":{"displayName":"Bean Rewards (upgraded operator)"}}`)
		waitProgramReady(ns, "bean-rewards", time.Minute)

		Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bean-rewards-engine"}, &sts)).To(Succeed())
		Expect(sts.Generation).To(Equal(generation), "the StatefulSet's spec was rewritten")
		after := enginePods(ns, "bean-rewards")
		Expect(after).To(HaveLen(1))
		Expect(after[0].UID).To(Equal(before[0].UID), "the engine pod was replaced")
	})
})

func leaseHolder() string {
	GinkgoHelper()
	var lease coordinationv1.Lease
	Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: operatorNamespace, Name: leaseName}, &lease)).To(Succeed())
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// leaderPod is the operator pod holding the lease; controller-runtime names
// the holder "<pod name>_<random>".
func leaderPod() corev1.Pod {
	GinkgoHelper()
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		holder := leaseHolder()
		name, _, ok := strings.Cut(holder, "_")
		g.Expect(ok).To(BeTrue(), "lease holder %q", holder)
		g.Expect(k8s.Get(context.Background(), types.NamespacedName{Namespace: operatorNamespace, Name: name}, &pod)).To(Succeed())
	}, time.Minute, time.Second).Should(Succeed())
	return pod
}
