package controllers_test

import (
	"context"
	"errors"
	"log/slog"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

func withWebhook(p *loyaltyv1alpha1.LoyaltyProgram, secret string) *loyaltyv1alpha1.LoyaltyProgram {
	p.Spec.Events = &loyaltyv1alpha1.EventsSpec{Webhooks: []loyaltyv1alpha1.WebhookSinkSpec{{
		Name: "crm", URL: "https://crm.example/hooks",
		SigningSecretRef: loyaltyv1alpha1.EventSecretKeyReference{Name: secret, Key: "signing-secret"},
	}}}
	return p
}

func signingSecret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{"signing-secret": []byte("s3cr3t-s3cr3t-s3cr3t")},
	}
}

var _ = Describe("Event sinks", func() {
	It("renders a webhook sink into the snapshot and mounts its Secret key", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-hook"))).To(Succeed())
		Expect(k8sClient.Create(ctx, withWebhook(program(ns, "beans"), "crm-hook"))).To(Succeed())

		Eventually(func(g Gomega) {
			snap, _ := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Events).NotTo(BeNil())
			g.Expect(snap.Events.Webhooks).To(ConsistOf(And(
				HaveField("Name", "crm"), HaveField("URL", "https://crm.example/hooks"),
				HaveField("SecretFile", contract.EventSecretsDir+"/crm/signing-secret"))))
		}).Should(Succeed())

		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &sts) }).Should(Succeed())
		pod := sts.Spec.Template.Spec
		Expect(pod.Containers[0].VolumeMounts).To(ContainElement(And(
			HaveField("MountPath", contract.EventSecretsDir), HaveField("ReadOnly", true))))
		Expect(pod.Volumes).To(ContainElement(HaveField("Projected.Sources", ConsistOf(
			HaveField("Secret", And(HaveField("Name", "crm-hook"),
				HaveField("Items", ConsistOf(corev1.KeyToPath{Key: "signing-secret", Path: "crm/signing-secret"}))))))))
	})

	It("reports a missing Secret naming the field instead of deploying the engine, and deploys once it exists", func() {
		ns := newNamespace()
		p := withWebhook(program(ns, "beans"), "crm-hook")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())

		Eventually(conditionOf(p, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "SecretNotFound"))
		Expect(message(p.Status.Conditions, loyaltyv1alpha1.ConditionReady)).To(
			ContainSubstring("spec.events.webhooks[0].signingSecretRef: Secret crm-hook not found"))
		Consistently(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.StatefulSet{}) }).
			WithTimeout(2*time.Second).Should(Satisfy(func(err error) bool { return client.IgnoreNotFound(err) == nil && err != nil }),
			"no engine is deployed that could not mount its secrets")

		wrongKey := signingSecret(ns, "crm-hook")
		wrongKey.Data = map[string][]byte{"other": []byte("x")}
		Expect(k8sClient.Create(ctx, wrongKey)).To(Succeed())
		Eventually(func() string {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)
			return message(p.Status.Conditions, loyaltyv1alpha1.ConditionReady)
		}).WithTimeout(30 * time.Second).Should(ContainSubstring(`spec.events.webhooks[0].signingSecretRef: Secret crm-hook has no key "signing-secret"`))

		update(wrongKey, func() { wrongKey.Data = signingSecret(ns, "crm-hook").Data })
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.StatefulSet{}) }).
			WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(conditionOf(p, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionFalse, "Reconciled"))
	})

	It("turns EventsDelivering False while an engine reports a failing sink, and True again after", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, signingSecret(ns, "crm-hook"))).To(Succeed())
		p := withWebhook(program(ns, "beans"), "crm-hook")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		stop := startEngine(ns, "beans", "engine-0")
		defer stop()
		Eventually(conditionOf(p, "ConfigApplied")).Should(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
		Eventually(conditionOf(p, "EventsDelivering")).Should(haveCondition(metav1.ConditionTrue, "Delivering"))

		reporter := &report.Reporter{Client: clientset, Namespace: ns, Program: "beans", Identity: "engine-0"}
		var health report.DeliveryHealth
		followCtx, stopFollow := context.WithCancel(ctx)
		followed := make(chan struct{})
		go func() {
			defer close(followed)
			report.FollowDelivery(followCtx, &health, reporter, 100*time.Millisecond, slog.New(slog.NewTextHandler(GinkgoWriter, nil)))
		}()
		defer func() { stopFollow(); <-followed }()

		health.Failed("crm", errors.New("POST https://crm.example/hooks: 503 Service Unavailable"))
		Eventually(conditionOf(p, "EventsDelivering")).Should(And(haveCondition(metav1.ConditionFalse, "SinkFailing"),
			HaveField("Message", And(ContainSubstring("sink crm fails on engine-0"), ContainSubstring("503 Service Unavailable")))))

		health.Delivered("crm")
		Eventually(conditionOf(p, "EventsDelivering")).Should(haveCondition(metav1.ConditionTrue, "Delivering"))

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		quiet := p.ResourceVersion
		Consistently(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			return p.ResourceVersion
		}).WithTimeout(2*time.Second).Should(Equal(quiet), "a quiet program is never written")
	})
})
