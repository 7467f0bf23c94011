//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The engine runs in a namespace enforcing the restricted Pod Security
// Standard, which really refuses there a pod that leaves its security
// context at the defaults; the optional
// NetworkPolicy is rendered. The cluster's bridge plugin does not enforce
// NetworkPolicies, so only the object is checked here, not the traffic.
var _ = Describe("Scenario 6: restricted Pod Security and the NetworkPolicy", Ordered, func() {
	const ns = "e2e-security"

	BeforeAll(func() {
		restrictedNamespace(ns)
		kubectl("apply", "-n", ns, "-k", "config/samples")
	})

	It("admits the engine where the restricted standard is enforced, and refuses a pod with the default security context there", func() {
		waitProgramReady(ns, "bean-rewards", 3*time.Minute)
		plain := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: img}}},
		}
		err := k8s.Create(context.Background(), plain)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden by Pod Security admission, got %v", err)
		Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted`))
	})

	It("renders the NetworkPolicy when it is enabled", func() {
		kubectl("patch", "-n", ns, "loyaltyprogram", "bean-rewards", "--type=merge", "--patch-file", "config/samples/networkpolicy-patch.yaml")
		var policy networkingv1.NetworkPolicy
		Eventually(func() error {
			return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bean-rewards-engine"}, &policy)
		}, time.Minute, time.Second).Should(Succeed())
		Expect(policy.Spec.PodSelector.MatchLabels).To(HaveKeyWithValue("app.kubernetes.io/instance", "bean-rewards"))
		Expect(policy.Spec.Ingress).NotTo(BeEmpty())
		Expect(policy.Spec.Ingress[0].From).To(HaveLen(2), "the checkout pods and the monitoring namespace")
		waitProgramReady(ns, "bean-rewards", time.Minute)
		fmt.Fprintln(GinkgoWriter, "NetworkPolicy rendered; not enforced on this cluster: the CNI bridge plugin has no policy support")
	})
})
