package render_test

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

func TestNetworkPolicy(t *testing.T) {
	p := program()
	if render.NetworkPolicyEnabled(p) {
		t.Fatal("no spec.networkPolicy: the policy must be off")
	}
	p.Spec.NetworkPolicy = &loyaltyv1alpha1.EngineNetworkPolicy{}
	if render.NetworkPolicyEnabled(p) {
		t.Fatal("enabled unset: the policy must be off")
	}
	p.Spec.NetworkPolicy.Enabled = true
	if !render.NetworkPolicyEnabled(p) {
		t.Fatal("enabled: the policy must be on")
	}

	np := render.NetworkPolicy(p)
	if np.Name != "beans-engine" || np.Namespace != "shop" || np.Labels[contract.LabelProgram] != "beans" || np.Labels["team"] != "" {
		t.Errorf("metadata %+v", np.ObjectMeta)
	}
	// The policy must select exactly the engine's pods: those of the workloads' template.
	selector, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if pod := render.StatefulSet(p, "img").Spec.Template.Labels; !selector.Matches(labels.Set(pod)) {
		t.Errorf("selector %s does not select the engine pod %v", selector, pod)
	}
	if other := (labels.Set{render.LabelName: "points-engine", render.LabelInstance: "other"}); selector.Matches(other) {
		t.Errorf("selector %s selects another program's engine", selector)
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policy types %v: only ingress is restricted", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("ingress rules %+v", np.Spec.Ingress)
	}
	rule := np.Spec.Ingress[0]
	if len(rule.Ports) != 1 || rule.Ports[0].Port.IntValue() != render.EnginePort || *rule.Ports[0].Protocol != "TCP" {
		t.Errorf("ports %+v, want the engine's port only", rule.Ports)
	}
	// No clients listed: the program's namespace only, never an empty peer list (which admits all).
	if len(rule.From) != 1 || rule.From[0].PodSelector == nil || len(rule.From[0].PodSelector.MatchLabels) != 0 ||
		rule.From[0].NamespaceSelector != nil || rule.From[0].IPBlock != nil {
		t.Errorf("default peers %+v, want every pod of the program's namespace", rule.From)
	}

	monitoring := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}
	shop := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}}
	p.Spec.NetworkPolicy.AllowedClients = []networkingv1.NetworkPolicyPeer{shop, monitoring}
	np = render.NetworkPolicy(p)
	from := np.Spec.Ingress[0].From
	if len(from) != 2 || from[0].PodSelector.MatchLabels["app"] != "checkout" || from[1].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
		t.Errorf("peers %+v, want the allowed clients in order", from)
	}
	// The rendered policy is a copy: changing it must not change the program.
	from[0].PodSelector.MatchLabels["app"] = "changed"
	if p.Spec.NetworkPolicy.AllowedClients[0].PodSelector.MatchLabels["app"] != "checkout" {
		t.Error("the rendered policy shares selectors with the program's spec")
	}
}
