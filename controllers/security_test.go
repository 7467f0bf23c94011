package controllers_test

import (
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

var _ = Describe("Security", func() {
	It("creates, updates and deletes the engine's NetworkPolicy with spec.networkPolicy", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &corev1.Service{}) }).Should(Succeed())
		var np networkingv1.NetworkPolicy
		Consistently(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &np)) }, "1s").
			Should(BeTrue(), "no NetworkPolicy unless the program enables one")

		By("enabling it with the default clients: the program's namespace")
		update(p, func() { p.Spec.NetworkPolicy = &loyaltyv1alpha1.EngineNetworkPolicy{Enabled: true} })
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &np) }).Should(Succeed())
		expectControlledBy(&np, p)
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{render.LabelName: "points-engine", render.LabelInstance: "beans"}))
		Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(np.Spec.Ingress).To(HaveLen(1))
		Expect(np.Spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}))

		By("following an edit of the allowed clients, removals included")
		monitoring := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}
		checkout := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}}
		update(p, func() { p.Spec.NetworkPolicy.AllowedClients = []networkingv1.NetworkPolicyPeer{checkout, monitoring} })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &np)).To(Succeed())
			g.Expect(np.Spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{checkout, monitoring}))
		}).Should(Succeed())
		update(p, func() { p.Spec.NetworkPolicy.AllowedClients = []networkingv1.NetworkPolicyPeer{monitoring} })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &np)).To(Succeed())
			g.Expect(np.Spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{monitoring}))
		}).Should(Succeed())

		By("putting back a policy edited by hand, without writing when nothing differs")
		update(&np, func() { np.Spec.Ingress = nil })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &np)).To(Succeed())
			g.Expect(np.Spec.Ingress).To(HaveLen(1))
		}).Should(Succeed())
		version := np.ResourceVersion
		update(p, func() { p.Spec.DisplayName = "Bean Rewards Club" }) // a new generation: the program is reconciled again
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &np)).To(Succeed())
			g.Expect(np.ResourceVersion).To(Equal(version))
		}, "1s").Should(Succeed())

		By("deleting it when disabled")
		update(p, func() { p.Spec.NetworkPolicy.Enabled = false })
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &np)) }).Should(BeTrue())
	})

	It("writes no API key or database URI into a ConfigMap, a workload or any status", func() {
		ns := newNamespace()
		const databaseURI = "postgresql://loyalty:s3cret-pa55word@db.example:5432/loyalty"
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg-app"},
			Data:       map[string][]byte{"uri": []byte(databaseURI)},
		})).To(Succeed())
		p := program(ns, "beans")
		p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app", Key: "uri"}}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(k8sClient.Create(ctx, tier(ns, "bronze", "beans", 0, 0))).To(Succeed())
		Expect(k8sClient.Create(ctx, catalog(ns, "rewards", "beans", reward("latte", 120, "")))).To(Succeed())
		Expect(k8sClient.Create(ctx, campaign(ns, "double", "beans", time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))).To(Succeed())
		stop := startEngine(ns, "beans", "engine-0")
		defer stop()
		Eventually(conditionOf(p, "ConfigApplied")).Should(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
		Eventually(conditionOf(&loyaltyv1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "double"}}, loyaltyv1alpha1.ConditionReady)).
			Should(haveCondition(metav1.ConditionTrue, "Active"))

		var keys corev1.Secret
		Expect(k8sClient.Get(ctx, key(ns, render.APIKeySecretName("beans")), &keys)).To(Succeed())
		secrets := []string{databaseURI, "s3cret-pa55word"}
		for scope, value := range keys.Data {
			Expect(len(value)).To(BeNumerically(">", 16), "the %s key", scope)
			secrets = append(secrets, string(value), string(value[len(value)-16:]))
		}

		// Everything the operator writes, the Secret it generates aside.
		lists := []client.ObjectList{
			&loyaltyv1alpha1.LoyaltyProgramList{}, &loyaltyv1alpha1.TierList{}, &loyaltyv1alpha1.RewardCatalogList{}, &loyaltyv1alpha1.CampaignList{},
			&corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}, &appsv1.DeploymentList{}, &corev1.EventList{},
		}
		for _, list := range lists {
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			raw, err := json.Marshal(list)
			Expect(err).NotTo(HaveOccurred())
			for _, s := range secrets {
				Expect(strings.Contains(string(raw), s)).To(BeFalse(), "%T holds secret material", list)
			}
		}
		Expect(p.Status.APIKeySecret).To(Equal("beans-api-keys"), "status names the Secret, never its content")
	})
})
