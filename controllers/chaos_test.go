package controllers_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

// The chaos specs run managers of their own against an API server of their
// own: the suite's manager watches every namespace of the suite's API
// server and would do the work these specs take away from theirs.

// errKilled is what a killed manager's requests fail with.
var errKilled = errors.New("manager killed")

// managerTransport wraps a manager's requests: it records the manager's
// writes into the test namespace and, once killed, fails every request, as
// if the process had died at that instant (a cancelled context alone lets
// the reconciles in flight finish their work).
type managerTransport struct {
	namespace string
	// killOn, when set, kills the manager as soon as a write to a path
	// containing it has succeeded.
	killOn string
	onKill func()

	dead   atomic.Bool
	mu     sync.Mutex
	writes int
	first  time.Time
	last   time.Time
}

func (m *managerTransport) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if m.dead.Load() {
			return nil, errKilled
		}
		resp, err := rt.RoundTrip(r)
		// Writes to Leases are leader election's own, made by leader and
		// follower alike; every other write is the controllers' work.
		if r.Method == http.MethodGet || r.Method == http.MethodHead || namespaceOf(r.URL.Path) != m.namespace ||
			strings.Contains(r.URL.Path, "/leases") {
			return resp, err
		}
		m.mu.Lock()
		now := time.Now()
		if m.writes == 0 {
			m.first = now
		}
		m.writes++
		m.last = now
		m.mu.Unlock()
		if m.killOn != "" && strings.Contains(r.URL.Path, m.killOn) && err == nil && resp.StatusCode < 300 {
			m.kill()
		}
		return resp, err
	})
}

func (m *managerTransport) kill() {
	if !m.dead.Swap(true) && m.onKill != nil {
		m.onKill()
	}
}

// Writes returns the number of writes and the times of the first and last.
func (m *managerTransport) Writes() (int, time.Time, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes, m.first, m.last
}

// chaosManager is a manager started by a chaos spec.
type chaosManager struct {
	mgr       ctrl.Manager
	transport *managerTransport
	stop      context.CancelFunc
	done      chan struct{}
}

// Kill fails its requests from now on and stops it, then waits until it has.
func (c *chaosManager) Kill() {
	c.transport.kill()
	c.stop()
	Eventually(c.done).WithTimeout(30 * time.Second).Should(BeClosed())
}

type leaderElection struct {
	namespace string
	id        string
}

// startChaosManager starts the operator's manager as cmd/manager sets it up,
// with leader election when le is set.
func startChaosManager(cfg *rest.Config, scheme *runtime.Scheme, t *managerTransport, le *leaderElection) *chaosManager {
	GinkgoHelper()
	managerCfg := rest.CopyConfig(cfg)
	managerCfg.WrapTransport = t.wrap
	opts := ctrl.Options{
		Scheme:  scheme,
		Cache:   controllers.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Several managers run in this process, with the same controllers.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	}
	if le != nil {
		opts.LeaderElection = true
		opts.LeaderElectionID = le.id
		opts.LeaderElectionNamespace = le.namespace
		// Short, but with room for a loaded machine: a leader that cannot
		// renew within the deadline gives up the lease and stops, and the
		// spec would see the follower write before the kill.
		opts.LeaseDuration = ptr.To(8 * time.Second)
		opts.RenewDeadline = ptr.To(6 * time.Second)
		opts.RetryPeriod = ptr.To(250 * time.Millisecond)
	}
	mgr, err := ctrl.NewManager(managerCfg, opts)
	Expect(err).NotTo(HaveOccurred())
	mgrCtx, stop := context.WithCancel(ctx)
	t.onKill = stop
	Expect(controllers.Setup(mgrCtx, mgr, controllers.Options{EngineImage: "example.com/loyalty:test"})).To(Succeed())
	c := &chaosManager{mgr: mgr, transport: t, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		// A killed manager may return an error (its requests fail, its
		// leader election ends); what matters is what it wrote.
		_ = mgr.Start(mgrCtx)
	}()
	DeferCleanup(func() {
		stop()
		<-c.done
	})
	return c
}

// chaosProgram creates a program with a tier, a catalog and a campaign. On
// PostgreSQL with two replicas it also gets a Deployment and a disruption budget.
func chaosProgram(c client.Client, ns string, postgres bool) *loyaltyv1alpha1.LoyaltyProgram {
	GinkgoHelper()
	p := program(ns, "beans")
	if postgres {
		Expect(c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg-app"},
			Data:       map[string][]byte{"uri": []byte("postgres://loyalty@db.example:5432/loyalty")},
		})).To(Succeed())
		p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app", Key: "uri"}}}
		p.Spec.Engine.Replicas = 2
		p.Spec.RetentionPolicy = loyaltyv1alpha1.RetentionRetain
	}
	Expect(c.Create(ctx, p)).To(Succeed())
	Expect(c.Create(ctx, tier(ns, "bronze", "beans", 0, 0))).To(Succeed())
	Expect(c.Create(ctx, tier(ns, "silver", "beans", 1, 500))).To(Succeed())
	Expect(c.Create(ctx, catalog(ns, "rewards", "beans", reward("latte", 120, "")))).To(Succeed())
	Expect(c.Create(ctx, campaign(ns, "double", "beans", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)))).To(Succeed())
	return p
}

// expectOneChildEach checks that the program has exactly one child of each
// kind it should have, none of the others, each controlled by it.
func expectOneChildEach(g Gomega, c client.Client, p *loyaltyv1alpha1.LoyaltyProgram) {
	postgres := render.UsesPostgres(p)
	want := []struct {
		list client.ObjectList
		n    int
	}{
		{&corev1.ServiceAccountList{}, 1},
		{&rbacv1.RoleList{}, 1},
		{&rbacv1.RoleBindingList{}, 1},
		{&corev1.SecretList{}, 1},
		{&corev1.ConfigMapList{}, 1},
		{&corev1.ServiceList{}, 1},
		{&appsv1.DeploymentList{}, oneIf(postgres)},
		{&appsv1.StatefulSetList{}, oneIf(!postgres)},
		{&policyv1.PodDisruptionBudgetList{}, oneIf(postgres && p.Spec.Engine.Replicas > 1)},
	}
	for _, w := range want {
		g.Expect(c.List(ctx, w.list, client.InNamespace(p.Namespace))).To(Succeed())
		items, err := meta.ExtractList(w.list)
		g.Expect(err).NotTo(HaveOccurred())
		var owned []string
		for _, item := range items {
			obj := item.(client.Object)
			if metav1.IsControlledBy(obj, p) {
				owned = append(owned, obj.GetName())
				g.Expect(obj.GetLabels()).To(HaveKeyWithValue(contract.LabelProgram, p.Name))
			}
		}
		g.Expect(owned).To(HaveLen(w.n), "%T owned by the program: %v", w.list, owned)
	}
}

func oneIf(b bool) int {
	if b {
		return 1
	}
	return 0
}

// markWorkloadAvailable stands in for the kubelet: the engine's workload
// reports every replica available.
func markWorkloadAvailable(c client.Client, p *loyaltyv1alpha1.LoyaltyProgram) {
	GinkgoHelper()
	replicas := max(p.Spec.Engine.Replicas, 1)
	name := client.ObjectKey{Namespace: p.Namespace, Name: render.EngineName(p.Name)}
	Eventually(func() error {
		if render.UsesPostgres(p) {
			var d appsv1.Deployment
			if err := c.Get(ctx, name, &d); err != nil {
				return err
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, UpdatedReplicas: replicas}
			return c.Status().Update(ctx, &d)
		}
		var s appsv1.StatefulSet
		if err := c.Get(ctx, name, &s); err != nil {
			return err
		}
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, UpdatedReplicas: replicas, CurrentReplicas: replicas}
		return c.Status().Update(ctx, &s)
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// readyCondition is the program's Ready condition as c sees it.
func readyCondition(c client.Client, p *loyaltyv1alpha1.LoyaltyProgram) func(Gomega) *metav1.Condition {
	return func(g Gomega) *metav1.Condition {
		got := &loyaltyv1alpha1.LoyaltyProgram{}
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		return meta.FindStatusCondition(got.Status.Conditions, loyaltyv1alpha1.ConditionReady)
	}
}

var _ = Describe("Chaos", Ordered, func() {
	var (
		envCfg    *rest.Config
		scheme    *runtime.Scheme
		c         client.Client
		cs        kubernetes.Interface
		namespace func() string
	)

	BeforeAll(func() {
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		var err error
		envCfg, err = env.Start()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
		scheme = runtime.NewScheme()
		Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
		Expect(loyaltyv1alpha1.AddToScheme(scheme)).To(Succeed())
		c, err = client.New(envCfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		cs, err = kubernetes.NewForConfig(envCfg)
		Expect(err).NotTo(HaveOccurred())
		namespace = func() string {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chaos-"}}
			Expect(c.Create(ctx, ns)).To(Succeed())
			return ns.Name
		}
	})

	It("converges without duplicate children when the manager is killed mid-reconcile", func() {
		ns := namespace()

		By("killing the first manager right after it created the first child")
		first := &managerTransport{namespace: ns, killOn: "/serviceaccounts"}
		m1 := startChaosManager(envCfg, scheme, first, nil)
		p := chaosProgram(c, ns, true)
		Eventually(m1.done).WithTimeout(30 * time.Second).Should(BeClosed())
		Expect(readyCondition(c, p)(Default)).NotTo(haveCondition(metav1.ConditionTrue, controllers.ReasonReconciled))
		var sa corev1.ServiceAccount
		Expect(c.Get(ctx, key(ns, render.EngineName(p.Name)), &sa)).To(Succeed())
		var cm corev1.ConfigMap
		Expect(c.Get(ctx, key(ns, render.ConfigMapName(p.Name)), &cm)).NotTo(Succeed(), "killed before the ConfigMap")

		By("killing the second manager right after it created the API key Secret")
		second := &managerTransport{namespace: ns, killOn: "/secrets"}
		m2 := startChaosManager(envCfg, scheme, second, nil)
		Eventually(m2.done).WithTimeout(30 * time.Second).Should(BeClosed())
		var keys corev1.Secret
		Expect(c.Get(ctx, key(ns, render.APIKeySecretName(p.Name)), &keys)).To(Succeed())
		Expect(keys.Data).NotTo(BeEmpty())
		issued := keys.Data

		By("converging under a third manager")
		third := &managerTransport{namespace: ns}
		startChaosManager(envCfg, scheme, third, nil)
		markWorkloadAvailable(c, p)
		for _, identity := range []string{"engine-0", "engine-1"} {
			DeferCleanup(startEngineOn(cs, ns, p.Name, identity))
		}
		Eventually(readyCondition(c, p)).WithTimeout(30 * time.Second).Should(haveCondition(metav1.ConditionTrue, controllers.ReasonReconciled))
		Eventually(func(g Gomega) { expectOneChildEach(g, c, p) }).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(c.Get(ctx, key(ns, render.APIKeySecretName(p.Name)), &keys)).To(Succeed())
		Expect(keys.Data).To(Equal(issued), "the API keys survive the restarts unchanged")
	})

	It("lets only the leader act, and the other manager take over once it is gone", func() {
		ns := namespace()
		le := &leaderElection{namespace: ns, id: "loyalty-operator-chaos"}

		By("electing the first manager")
		a := &managerTransport{namespace: ns}
		ma := startChaosManager(envCfg, scheme, a, le)
		Eventually(ma.mgr.Elected()).WithTimeout(30 * time.Second).Should(BeClosed())
		b := &managerTransport{namespace: ns}
		mb := startChaosManager(envCfg, scheme, b, le)

		By("reconciling with the leader alone")
		p := chaosProgram(c, ns, false)
		markWorkloadAvailable(c, p)
		DeferCleanup(startEngineOn(cs, ns, p.Name, "engine-0"))
		Eventually(readyCondition(c, p)).WithTimeout(30 * time.Second).Should(haveCondition(metav1.ConditionTrue, controllers.ReasonReconciled))
		aWrites, _, _ := a.Writes()
		bWrites, _, _ := b.Writes()
		Expect(aWrites).To(BeNumerically(">", 0))
		Expect(bWrites).To(BeZero(), "the follower wrote into the namespace")
		Expect(mb.mgr.Elected()).NotTo(BeClosed())

		By("taking over once the leader is killed")
		ma.Kill()
		Eventually(mb.mgr.Elected()).WithTimeout(30 * time.Second).Should(BeClosed())
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var silver loyaltyv1alpha1.Tier
			if err := c.Get(ctx, key(ns, "silver"), &silver); err != nil {
				return err
			}
			silver.Spec.Benefits.EarnMultiplier = "2.5"
			return c.Update(ctx, &silver)
		})).To(Succeed())
		Eventually(func(g Gomega) {
			var cm corev1.ConfigMap
			g.Expect(c.Get(ctx, key(ns, render.ConfigMapName(p.Name)), &cm)).To(Succeed())
			snap, err := config.Parse([]byte(cm.Data[contract.SnapshotKey]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(snap.Tiers).To(ContainElement(And(HaveField("Name", "silver"), HaveField("EarnMultiplier.String()", "2.5"))))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(readyCondition(c, p)).WithTimeout(30 * time.Second).Should(haveCondition(metav1.ConditionTrue, controllers.ReasonReconciled))
		Eventually(func(g Gomega) { expectOneChildEach(g, c, p) }).WithTimeout(10 * time.Second).Should(Succeed())

		aWrites, _, aLast := a.Writes()
		bWrites, bFirst, _ := b.Writes()
		Expect(bWrites).To(BeNumerically(">", 0))
		Expect(aLast.Before(bFirst)).To(BeTrue(), "the managers' writes overlap: the old leader's last at %v, the new one's first at %v", aLast, bFirst)
		GinkgoWriter.Printf("leader writes: %d before the kill, %d after the takeover\n", aWrites, bWrites)
	})
})
