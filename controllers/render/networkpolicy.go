package render

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// NetworkPolicyEnabled reports whether the program asks for a NetworkPolicy.
func NetworkPolicyEnabled(p *loyaltyv1alpha1.LoyaltyProgram) bool {
	return p.Spec.NetworkPolicy != nil && p.Spec.NetworkPolicy.Enabled
}

// NetworkPolicy admits ingress to the engine's pods on the engine's port
// only, from the program's allowed clients, or from the pods of the
// program's namespace when none are listed: an empty peer list in a
// NetworkPolicy rule would admit everyone, the opposite of what enabling the
// policy asks for. Egress is left alone.
func NetworkPolicy(p *loyaltyv1alpha1.LoyaltyProgram) *networkingv1.NetworkPolicy {
	var from []networkingv1.NetworkPolicyPeer
	if p.Spec.NetworkPolicy != nil {
		for _, peer := range p.Spec.NetworkPolicy.AllowedClients {
			from = append(from, *peer.DeepCopy())
		}
	}
	if len(from) == 0 {
		from = []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta(p, EngineName(p.Name)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(p.Name)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(EnginePort))}},
				From:  from,
			}},
		},
	}
}
