package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/hack/internal/freeport"
)

const namespace = "coffee"

type demo struct {
	opts       options
	start      time.Time
	dir        string
	env        *envtest.Environment
	kubeconfig string
	k8s        client.Client
	procs      []*exec.Cmd
	engine     string
	keys       map[string]string
	http       *http.Client
}

func newDemo(opts options) *demo {
	dir, err := os.MkdirTemp("", "loyalty-demo-")
	if err != nil {
		dir = os.TempDir()
	}
	return &demo{opts: opts, start: time.Now(), dir: dir, http: &http.Client{Timeout: 10 * time.Second}}
}

// say prints one line of the timeline, stamped with the time since the start.
func (d *demo) say(format string, args ...any) {
	elapsed := time.Since(d.start)
	fmt.Printf("[%02d:%02d] %s\n", int(elapsed.Minutes()), int(elapsed.Seconds())%60, fmt.Sprintf(format, args...))
}

func (d *demo) section(title string) { fmt.Printf("\n== %s\n", title) }

func (d *demo) run(ctx context.Context) error {
	d.section("Control plane")
	if err := d.startControlPlane(); err != nil {
		return err
	}
	if err := d.startOperator(); err != nil {
		return err
	}

	d.section("The coffee chain's program, declared as YAML")
	opens := d.start.Add(d.opts.campaignDelay).Truncate(time.Second)
	closes := opens.Add(d.opts.campaignLength)
	if err := d.applyProgram(opens, closes); err != nil {
		return err
	}

	d.section("Points engine")
	if err := d.startEngine(ctx); err != nil {
		return err
	}
	if err := d.waitConfigApplied(ctx); err != nil {
		return err
	}
	d.kubectl("get", "loyalty", "-n", namespace)

	d.section("Traffic")
	return d.traffic(ctx, opens, closes)
}

func (d *demo) startControlPlane() error {
	d.say("starting kube-apiserver and etcd from %s", d.opts.assets)
	d.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: d.opts.assets,
	}
	if _, err := d.env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	user, err := d.env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding a user: %w", err)
	}
	config, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing a kubeconfig: %w", err)
	}
	d.kubeconfig = filepath.Join(d.dir, "kubeconfig")
	if err := os.WriteFile(d.kubeconfig, config, 0o600); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = loyaltyv1alpha1.AddToScheme(scheme)
	if d.k8s, err = client.New(user.Config(), client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	d.say("API server up, CRDs installed; kubeconfig: %s", d.kubeconfig)
	return nil
}

func (d *demo) startOperator() error {
	d.say("starting the operator (%s)", filepath.Join(d.opts.bin, "manager"))
	return d.startProcess("manager", filepath.Join(d.opts.bin, "manager"),
		"--kubeconfig="+d.kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0")
}

func (d *demo) startProcess(name, path string, args ...string) error {
	logFile, err := os.Create(filepath.Join(d.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(absolute(path), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	// Its own process group, so Ctrl-C reaches the demo first and the demo
	// stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	d.procs = append(d.procs, cmd)
	return nil
}

// cleanup stops every process the demo started, newest first, then the control plane.
func (d *demo) cleanup() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
		}
	}
	if d.env != nil {
		_ = d.env.Stop()
	}
}

// kubectl runs kubectl against the demo cluster and prints what it shows.
func (d *demo) kubectl(args ...string) string {
	cmd := exec.Command(filepath.Join(d.opts.assets, "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	out, err := cmd.CombinedOutput()
	fmt.Printf("$ kubectl %s\n%s", strings.Join(args, " "), indent(string(out)))
	if err != nil {
		fmt.Printf("  (kubectl: %v)\n", err)
	}
	return string(out)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

func (d *demo) applyProgram(opens, closes time.Time) error {
	campaign := fmt.Sprintf(`# Double beans for everyone, opening %s after the demo started.
apiVersion: loyaltyops.io/v1alpha1
kind: Campaign
metadata:
  name: double-beans-now
spec:
  programRef:
    name: bean-rewards
  displayName: Double beans, right now
  schedule:
    start: %q
    end: %q
  rules:
    pointsMultiplier: "2"
  limits:
    totalBonusBudget: 10000
  stacking: Stack
`, d.opts.campaignDelay, opens.UTC().Format(time.RFC3339), closes.UTC().Format(time.RFC3339))
	path := filepath.Join(d.dir, "double-beans-now.yaml")
	if err := os.WriteFile(path, []byte(campaign), 0o644); err != nil {
		return err
	}
	d.kubectl("create", "namespace", namespace)
	d.say("applying config/samples (program, Bronze/Silver/Gold, catalog, two campaigns) and a campaign opening at %s", opens.Format("15:04:05"))
	out := d.kubectl("apply", "-n", namespace, "-k", "config/samples")
	if !strings.Contains(out, "loyaltyprogram.loyaltyops.io/bean-rewards") {
		return fmt.Errorf("applying the samples failed: %s", out)
	}
	d.kubectl("apply", "-n", namespace, "-f", path)
	return nil
}

func (d *demo) startEngine(ctx context.Context) error {
	var secret corev1.Secret
	if err := d.waitFor(ctx, 30*time.Second, "the API key Secret", func() (bool, error) {
		err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "bean-rewards-api-keys"}, &secret)
		return err == nil, client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	// The engine reads keys as files, the way a pod mounts the Secret.
	keyDir := filepath.Join(d.dir, "api-keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return err
	}
	d.keys = map[string]string{}
	for scope, key := range secret.Data {
		d.keys[scope] = string(key)
		if err := os.WriteFile(filepath.Join(keyDir, scope), key, 0o600); err != nil {
			return err
		}
	}
	port, err := freeport.Get()
	if err != nil {
		return err
	}
	d.engine = fmt.Sprintf("http://127.0.0.1:%d", port)
	d.say("API keys generated by the operator (Secret bean-rewards-api-keys); starting the engine on %s", d.engine)
	if err := d.startProcess("points-engine", filepath.Join(d.opts.bin, "points-engine"),
		fmt.Sprintf("--listen=127.0.0.1:%d", port),
		"--config-configmap="+namespace+"/bean-rewards-config",
		"--kubeconfig="+d.kubeconfig,
		"--store=sqlite", "--sqlite-path="+filepath.Join(d.dir, "ledger.db"),
		"--api-keys-dir="+keyDir,
		"--due-interval=1s"); err != nil {
		return err
	}
	return d.waitFor(ctx, 30*time.Second, "the engine to be ready", func() (bool, error) {
		resp, err := d.http.Get(d.engine + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

func (d *demo) waitConfigApplied(ctx context.Context) error {
	var p loyaltyv1alpha1.LoyaltyProgram
	err := d.waitFor(ctx, 30*time.Second, "ConfigApplied", func() (bool, error) {
		if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "bean-rewards"}, &p); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(p.Status.Conditions, "ConfigApplied"), nil
	})
	if err != nil {
		return err
	}
	d.say("the engine applied snapshot %s: %s", p.Status.SnapshotHash[:12], meta.FindStatusCondition(p.Status.Conditions, "ConfigApplied").Message)
	ready := meta.FindStatusCondition(p.Status.Conditions, "Ready")
	d.say("Ready=%s (%s): no kubelet runs pods here, so the StatefulSet never becomes available", ready.Status, ready.Message)
	return nil
}

func (d *demo) waitFor(ctx context.Context, timeout time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: gave up after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// call sends a JSON request to the engine with the scope's key and decodes the answer.
func (d *demo) call(method, path, scope string, body any, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, d.engine+path, reader)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+d.keys[scope])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(data, out)
	}
	return resp.StatusCode, nil
}
