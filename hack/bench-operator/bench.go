package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/hack/internal/benchinfo"
	"github.com/loyaltyops/loyalty-operator/hack/internal/freeport"
)

type bench struct {
	opts        options
	start       time.Time
	dir         string
	env         *envtest.Environment
	auditLog    string
	kubeconfigs map[string]string
	cfg         *rest.Config
	scheme      *runtime.Scheme
	k8s         client.Client
	clientset   kubernetes.Interface
	cache       cache.Cache
	obs         *observer
	kubelet     *standIn
	engines     *standIn
	procs       []*process
	manager     *process

	stopWatching context.CancelFunc
	workers      sync.WaitGroup
}

func newBench(o options) (*bench, error) {
	dir, err := os.MkdirTemp("", "bench-operator-")
	if err != nil {
		return nil, fmt.Errorf("creating a working directory: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := loyaltyv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return &bench{opts: o, start: time.Now(), dir: dir, scheme: scheme}, nil
}

// objectsPerProgram counts the program, its Tiers, its catalog and its Campaigns.
func (o options) objectsPerProgram() int { return 1 + o.tiers + 1 + o.campaigns }

func (b *bench) run(ctx context.Context) (res results, err error) {
	res = results{Machine: benchinfo.Machine(), LoadBefore: benchinfo.LoadAverage(), Programs: b.opts.programs, RealEngines: b.opts.engines,
		Objects: b.opts.programs * b.opts.objectsPerProgram()}
	defer func() {
		res.LoadAfter = benchinfo.LoadAverage()
		res.Elapsed = time.Since(b.start).Round(time.Second).String()
		if err != nil {
			res.Error = err.Error()
		}
	}()

	if _, err := os.Stat(b.opts.engineBin); err != nil {
		return res, fmt.Errorf("the points engine binary: %w (make bench-operator builds it)", err)
	}
	logf("starting kube-apiserver and etcd (working directory %s)", b.dir)
	// The bench's own client-go logs (watch restarts, throttling) go to a file.
	clientLog, err := os.Create(filepath.Join(b.dir, "bench-client.log"))
	if err != nil {
		return res, err
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(clientLog)))
	managerBin, err := b.buildManager(ctx)
	if err != nil {
		return res, err
	}
	if err := b.startControlPlane(); err != nil {
		return res, err
	}
	if b.k8s, err = client.New(b.cfg, client.Options{Scheme: b.scheme}); err != nil {
		return res, fmt.Errorf("connecting: %w", err)
	}
	if b.clientset, err = kubernetes.NewForConfig(b.cfg); err != nil {
		return res, fmt.Errorf("connecting: %w", err)
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	b.stopWatching = stopWatching
	b.obs = newObserver(res.Objects)
	b.kubelet = newStandIn("kubelet stand-in", 4, nil)
	b.engines = newStandIn("engine stand-in", 4, nil)
	if err := b.watchAll(watchCtx); err != nil {
		return res, err
	}
	b.kubelet.handle = kubeletStandIn(b.k8s, b.cache)
	b.engines.handle = engineStandIn(b.clientset, b.cache, b.hasRealEngine)
	b.kubelet.run(watchCtx, &b.workers)
	b.engines.run(watchCtx, &b.workers)

	if err := b.startManager(ctx, managerBin); err != nil {
		return res, err
	}
	engineErrs := make(chan error, b.opts.engines)
	for i := 0; i < b.opts.engines; i++ {
		go func() { engineErrs <- b.startRealEngine(watchCtx, i) }()
	}

	if err := b.setup(ctx, &res, engineErrs); err != nil {
		return res, err
	}
	if err := b.idle(ctx, &res); err != nil {
		return res, err
	}
	if err := b.propagation(ctx, &res); err != nil {
		return res, err
	}
	if err := b.phaseLag(ctx, &res); err != nil {
		return res, err
	}
	stats, err := readProcStats(b.manager.pid())
	if err != nil {
		return res, err
	}
	res.ManagerPeakRSSMiB = mib(stats.peakRSS)
	return res, nil
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// startManager runs the manager as its own process and waits until its
// controllers have started their workers, so that the setup measures the
// operator at work rather than its start.
func (b *bench) startManager(ctx context.Context, path string) error {
	logf("starting the manager (%s)", path)
	cmd, err := b.startProcess("manager", path, environ("KUBECONFIG="+b.kubeconfigs[managerUser]),
		"--kubeconfig="+b.kubeconfigs[managerUser], "--metrics-bind-address=0", "--health-probe-bind-address=0")
	if err != nil {
		return err
	}
	b.manager = cmd
	logPath := filepath.Join(b.dir, "manager.log")
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(logPath)
		if strings.Count(string(data), "Starting workers") >= 4 {
			return nil
		}
		if cmd.hasExited() || time.Now().After(deadline) {
			return fmt.Errorf("the manager did not start its four controllers within 60s; see %s", logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *bench) hasRealEngine(namespace string) bool {
	for i := 0; i < b.opts.engines; i++ {
		if namespaceOf(i) == namespace {
			return true
		}
	}
	return false
}

// startRealEngine runs bin/points-engine for program i as soon as the
// operator has written its API keys and configuration, the way a pod would
// start once its Secret and ConfigMap exist. It watches the ConfigMap and
// reports what it applied through its Lease.
func (b *bench) startRealEngine(ctx context.Context, i int) error {
	ns := namespaceOf(i)
	var secret corev1.Secret
	var cm corev1.ConfigMap
	for {
		errSecret := b.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.APIKeySecretName(programName)}, &secret)
		errCM := b.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.ConfigMapName(programName)}, &cm)
		if errSecret == nil && errCM == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	keyDir := filepath.Join(b.dir, ns+"-api-keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return err
	}
	for scope, key := range secret.Data {
		if err := os.WriteFile(filepath.Join(keyDir, scope), key, 0o600); err != nil {
			return err
		}
	}
	port, err := freeport.Get()
	if err != nil {
		return err
	}
	logf("starting a real points engine for %s/%s on 127.0.0.1:%d", ns, programName, port)
	_, err = b.startProcess("points-engine-"+ns, b.opts.engineBin, environ(),
		fmt.Sprintf("--listen=127.0.0.1:%d", port),
		"--config-configmap="+ns+"/"+render.ConfigMapName(programName),
		"--kubeconfig="+b.kubeconfigs[engineUser],
		"--store=sqlite", "--sqlite-path="+filepath.Join(b.dir, ns+"-ledger.db"),
		"--api-keys-dir="+keyDir)
	return err
}

// cleanup stops the informers, every process started, newest first, then the control plane.
func (b *bench) cleanup() {
	if b.stopWatching != nil {
		b.stopWatching()
		b.workers.Wait()
	}
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].stop()
	}
	if b.env != nil {
		_ = b.env.Stop()
	}
}
