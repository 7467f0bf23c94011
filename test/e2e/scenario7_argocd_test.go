//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Argo CD's repo server and application controller, built from the Go module
// proxy, run as host processes against the cluster with a Redis of their own; they sync config/samples
// from a git repository served on loopback, with config/argocd's health
// checks in argocd-cm.
var _ = Describe("Scenario 7: Argo CD syncs the samples with the project's health checks", Ordered, func() {
	const ns = "e2e-argocd"
	var repoURL, server string

	BeforeAll(func() {
		argocd, crds := mustEnv("E2E_ARGOCD"), mustEnv("E2E_ARGOCD_CRDS")
		restrictedNamespace(ns)
		repoURL = serveSamplesRepo()
		kubectl("apply", "--server-side", "-f", crds)
		kubectl("create", "namespace", "argocd")
		DeferCleanup(func() { _, _ = runErr("kubectl", "delete", "namespace", "argocd", "--wait=false") })
		kubectl("apply", "-n", "argocd", "-f", "config/argocd/argocd-cm-patch.yaml")
		kubectl("label", "-n", "argocd", "configmap", "argocd-cm", "app.kubernetes.io/part-of=argocd")
		kubectl("create", "-n", "argocd", "secret", "generic", "argocd-secret", "--from-literal=server.secretkey=e2e-not-secret")
		kubectl("label", "-n", "argocd", "secret", "argocd-secret", "app.kubernetes.io/part-of=argocd")
		kubectl("create", "-n", "argocd", "configmap", "argocd-rbac-cm")
		kubectl("label", "-n", "argocd", "configmap", "argocd-rbac-cm", "app.kubernetes.io/part-of=argocd")
		kubectl("apply", "-f", "test/e2e/testdata/argocd-project.yaml")
		server = registerCluster()

		redis := "127.0.0.1:" + freeLoopbackPort()
		startProcess("redis-server", "redis-server", nil, "--bind", "127.0.0.1", "--port", strings.TrimPrefix(redis, "127.0.0.1:"), "--save", "", "--appendonly", "no")
		repoServer := freeLoopbackPort()
		startArgoCD(argocd, "argocd-repo-server", "--disable-tls", "--address", "127.0.0.1", "--port", repoServer,
			"--metrics-address", "127.0.0.1", "--metrics-port", freeLoopbackPort(), "--redis", redis)
		startArgoCD(argocd, "argocd-application-controller", "--namespace", "argocd", "--kubeconfig", mustEnv("KUBECONFIG"),
			"--repo-server", "127.0.0.1:"+repoServer, "--repo-server-plaintext", "--metrics-port", freeLoopbackPort(),
			"--redis", redis, "--app-resync", "10",
			// Argo CD 3 keeps resource health out of the Application unless asked.
			"--persist-resource-health")
	})

	It("shows the program Progressing, then Healthy, and the Application Synced and Healthy", func() {
		app := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": "coffee-program", "namespace": "argocd"},
			"spec": map[string]any{
				"project":     "default",
				"source":      map[string]any{"repoURL": repoURL, "targetRevision": "HEAD", "path": "config/samples"},
				"destination": map[string]any{"server": server, "namespace": ns},
				"syncPolicy":  map[string]any{"automated": map[string]any{"prune": true}},
			},
		}}
		Expect(k8s.Create(context.Background(), app)).To(Succeed())
		var programSeen, appSeen []string
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(app), app)).To(Succeed())
			health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
			programSeen = appendChange(programSeen, programHealth(app))
			appSeen = appendChange(appSeen, health)
			sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
			g.Expect(sync).To(Equal("Synced"))
			g.Expect(health).To(Equal("Healthy"))
			g.Expect(programHealth(app)).To(Equal("Healthy"))
		}, 3*time.Minute, 50*time.Millisecond).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "health as Argo CD reported it: LoyaltyProgram %v, Application %v\n", programSeen, appSeen)
		Expect(programSeen).To(ContainElement("Progressing"), "the health check never reported the program Progressing")
		Expect(appSeen).To(ContainElement("Progressing"))
	})
})

// appendChange appends state when it differs from the last one.
func appendChange(states []string, state string) []string {
	if state == "" || (len(states) > 0 && states[len(states)-1] == state) {
		return states
	}
	return append(states, state)
}

// programHealth is the health Argo CD reports for the LoyaltyProgram.
func programHealth(app *unstructured.Unstructured) string {
	resources, _, _ := unstructured.NestedSlice(app.Object, "status", "resources")
	for _, r := range resources {
		res, _ := r.(map[string]any)
		if res["kind"] == "LoyaltyProgram" {
			health, _, _ := unstructured.NestedString(res, "health", "status")
			return health
		}
	}
	return ""
}

// registerCluster declares the cluster to Argo CD by the suite's own
// credentials and returns its server URL: Argo CD's in-cluster destination
// needs a service account token, which a host process does not have.
func registerCluster() string {
	GinkgoHelper()
	cfg, err := clientcmd.BuildConfigFromFlags("", mustEnv("KUBECONFIG"))
	Expect(err).NotTo(HaveOccurred())
	Expect(rest.LoadTLSFiles(cfg)).To(Succeed())
	config, err := json.Marshal(map[string]any{"tlsClientConfig": map[string]any{
		"caData": cfg.CAData, "certData": cfg.CertData, "keyData": cfg.KeyData,
	}})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-cluster", Namespace: "argocd", Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster"}},
		StringData: map[string]string{"name": "e2e", "server": cfg.Host, "config": string(config)},
	})).To(Succeed())
	return cfg.Host
}

// serveSamplesRepo commits config/samples into a git repository and serves
// it with git http-backend on loopback until the container ends.
func serveSamplesRepo() string {
	GinkgoHelper()
	root := GinkgoT().TempDir()
	work := filepath.Join(root, "work")
	Expect(os.CopyFS(filepath.Join(work, "config", "samples"), os.DirFS("config/samples"))).To(Succeed())
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"}, args...)...)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
	}
	git(work, "init", "-q", "-b", "main")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "samples")
	git(root, "clone", "-q", "--bare", work, filepath.Join(root, "samples.git"))
	gitPath, err := exec.LookPath("git")
	Expect(err).NotTo(HaveOccurred())
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	server := &http.Server{Handler: backend, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(ln) }()
	DeferCleanup(func() { _ = server.Close() })
	return "http://" + ln.Addr().String() + "/samples.git"
}

func freeLoopbackPort() string {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	Expect(ln.Close()).To(Succeed())
	return port
}

// startArgoCD runs one Argo CD component from its multi-call binary, with
// kustomize on its PATH.
func startArgoCD(binary, component string, args ...string) {
	GinkgoHelper()
	// Outside its image there is no GnuPG keyring at /app/config/gpg/keys.
	env := []string{"ARGOCD_BINARY_NAME=" + component, "ARGOCD_GPG_ENABLED=false",
		"PATH=" + mustEnv("E2E_KUSTOMIZE_DIR") + ":" + os.Getenv("PATH")}
	startProcess(component, binary, env, args...)
}

// startProcess runs a host process until the container ends, printing the
// end of its log when a spec failed.
func startProcess(name, binary string, env []string, args ...string) {
	GinkgoHelper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	logFile, err := os.Create(filepath.Join(GinkgoT().TempDir(), name+".log"))
	Expect(err).NotTo(HaveOccurred())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if CurrentSpecReport().Failed() {
			out, _ := os.ReadFile(logFile.Name())
			fmt.Fprintf(GinkgoWriter, "--- %s log (last 4 KiB):\n%s\n", name, tail(out, 4096))
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
