//go:build e2e

// Package e2e runs the operator and the points engine on a real single-node
// cluster whose pods really run: `make e2e` (hack/e2e/run.sh) brings it up,
// runs this suite from the repository root and tears the cluster down.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

const (
	operatorNamespace = "loyalty-system"
	operatorName      = "loyalty-operator-controller-manager"
)

var (
	k8s client.Client
	// img is the operator image make deploy installs; nextImg is a second
	// tag of it, for the upgrade scenario.
	img, nextImg string
	// dnsServer is CoreDNS's address on the node.
	dnsServer string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End-to-end on a single-node cluster")
}

var _ = BeforeSuite(func() {
	img, nextImg, dnsServer = mustEnv("E2E_IMG"), mustEnv("E2E_NEXT_IMG"), mustEnv("E2E_DNS_SERVER")
	cfg, err := clientcmd.BuildConfigFromFlags("", mustEnv("KUBECONFIG"))
	Expect(err).NotTo(HaveOccurred())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(loyaltyv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	By("make deploy with the local image " + img)
	run("make", "deploy", "IMG="+img)
	waitDeploymentAvailable(operatorNamespace, operatorName, 3*time.Minute)
})

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		Fail(name + " is not set: run the suite with make e2e")
	}
	return v
}

// run runs a command from the repository root and returns its standard
// output, failing the spec with its output when it fails.
func run(name string, args ...string) string {
	GinkgoHelper()
	out, err := runErr(name, args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

func runErr(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = "."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func kubectl(args ...string) string {
	GinkgoHelper()
	return run("kubectl", args...)
}

// restrictedNamespace makes a namespace that enforces the restricted Pod
// Security Standard, removed when the spec's container ends.
func restrictedNamespace(name string) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	DeferCleanup(func() {
		Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), ns))).To(Succeed())
	})
}

// applySamples applies config/samples in a namespace with the program
// changed by edit first, so a program can start with, say, PostgreSQL storage.
func applySamples(namespace string, edit func(*loyaltyv1alpha1.LoyaltyProgram)) {
	GinkgoHelper()
	for _, kind := range []string{"tier", "rewardcatalog", "campaign"} {
		kubectl("apply", "-n", namespace, "-f", "config/samples/loyaltyops_v1alpha1_"+kind+".yaml")
	}
	data, err := os.ReadFile("config/samples/loyaltyops_v1alpha1_loyaltyprogram.yaml")
	Expect(err).NotTo(HaveOccurred())
	var program loyaltyv1alpha1.LoyaltyProgram
	Expect(yaml.UnmarshalStrict(data, &program)).To(Succeed())
	program.Namespace = namespace
	edit(&program)
	Expect(k8s.Create(context.Background(), &program)).To(Succeed())
}

// waitDeploymentAvailable waits until every replica runs the current template.
func waitDeploymentAvailable(namespace, name string, timeout time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.Replicas).To(Equal(*d.Spec.Replicas), "old pods still terminating")
	}, timeout, time.Second).Should(Succeed())
}

// waitProgramReady waits for Ready=True and ConfigApplied=True on a program's
// current generation and returns how long it took.
func waitProgramReady(namespace, name string, timeout time.Duration) time.Duration {
	GinkgoHelper()
	start := time.Now()
	Eventually(func(g Gomega) {
		var p loyaltyv1alpha1.LoyaltyProgram
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &p)).To(Succeed())
		for _, cond := range []string{"Ready", "ConfigApplied"} {
			c := meta.FindStatusCondition(p.Status.Conditions, cond)
			g.Expect(c).NotTo(BeNil(), cond)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", cond, c.Message)
			g.Expect(c.ObservedGeneration).To(Equal(p.Generation), cond)
		}
	}, timeout, time.Second).Should(Succeed())
	return time.Since(start)
}

// enginePods lists a program's engine pods.
func enginePods(namespace, program string) []corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8s.List(context.Background(), &pods, client.InNamespace(namespace),
		client.MatchingLabels{"app.kubernetes.io/name": "points-engine", "app.kubernetes.io/instance": program})).To(Succeed())
	return pods.Items
}
