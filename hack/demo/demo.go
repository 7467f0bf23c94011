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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/hack/internal/freeport"
)

const namespace = "coffee"

// demoCampaignName is the campaign the demo adds to the samples.
const demoCampaignName = "double-beans-now"

type demo struct {
	opts  options
	start time.Time
	// dir holds what the run writes: API keys, an admin kubeconfig, the
	// ledger and the logs. It is removed at the end unless opts.keep.
	dir        string
	env        *envtest.Environment
	kubeconfig string
	k8s        client.Client
	procs      []*exec.Cmd
	engine     string
	keys       map[string]string
	http       *http.Client
	// campaigns and entryTier are the program as the cluster holds it: what
	// the demo's expectations are worked out from.
	campaigns []loyaltyv1alpha1.Campaign
	entryTier string
	// enrolled is when each member was enrolled.
	enrolled map[string]time.Time
}

func newDemo(opts options) (*demo, error) {
	dir, err := os.MkdirTemp("", "loyalty-demo-")
	if err != nil {
		return nil, fmt.Errorf("creating the working directory: %w", err)
	}
	return &demo{opts: opts, start: time.Now(), dir: dir, http: &http.Client{Timeout: 10 * time.Second}, enrolled: map[string]time.Time{}}, nil
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
	if err := d.loadProgram(ctx); err != nil {
		return err
	}

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
	d.say("API server up, CRDs installed; admin kubeconfig: %s (removed at the end; make demo KEEP=1 keeps it)", d.kubeconfig)
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

// demoCampaign is double beans for everyone in [opens, closes). It stacks
// with the samples' campaigns at priority 0, so inside the samples' exclusive
// weekend campaign it is overridden, which the demo's expectations know.
func demoCampaign(opens, closes time.Time) *loyaltyv1alpha1.Campaign {
	multiplier := loyaltyv1alpha1.Multiplier("2")
	budget := loyaltyv1alpha1.Points(10000)
	return &loyaltyv1alpha1.Campaign{
		TypeMeta:   metav1.TypeMeta{APIVersion: loyaltyv1alpha1.GroupVersion.String(), Kind: "Campaign"},
		ObjectMeta: metav1.ObjectMeta{Name: demoCampaignName},
		Spec: loyaltyv1alpha1.CampaignSpec{
			ProgramRef:  loyaltyv1alpha1.ProgramReference{Name: "bean-rewards"},
			DisplayName: "Double beans, right now",
			Schedule: loyaltyv1alpha1.CampaignSchedule{
				Start: metav1.NewTime(opens.UTC()),
				End:   ptr(metav1.NewTime(closes.UTC())),
			},
			Rules:    loyaltyv1alpha1.CampaignRules{PointsMultiplier: &multiplier},
			Limits:   &loyaltyv1alpha1.CampaignLimits{TotalBonusBudget: &budget},
			Stacking: loyaltyv1alpha1.StackingStack,
		},
	}
}

func ptr[T any](v T) *T { return &v }

func (d *demo) applyProgram(opens, closes time.Time) error {
	campaign, err := yaml.Marshal(demoCampaign(opens, closes))
	if err != nil {
		return fmt.Errorf("writing the demo campaign: %w", err)
	}
	path := filepath.Join(d.dir, demoCampaignName+".yaml")
	if err := os.WriteFile(path, campaign, 0o644); err != nil {
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

// loadProgram reads the campaigns and the entry tier back from the cluster.
func (d *demo) loadProgram(ctx context.Context) error {
	var campaigns loyaltyv1alpha1.CampaignList
	if err := d.k8s.List(ctx, &campaigns, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing campaigns: %w", err)
	}
	d.campaigns = campaigns.Items
	var tiers loyaltyv1alpha1.TierList
	if err := d.k8s.List(ctx, &tiers, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing tiers: %w", err)
	}
	for _, t := range tiers.Items {
		if t.Spec.Rank == 0 {
			d.entryTier = t.Name
		}
	}
	if d.entryTier == "" {
		return fmt.Errorf("the program has no entry tier (rank 0)")
	}
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

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
