package controllers_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// renderedSnapshot reads and parses the snapshot in the program's ConfigMap.
func renderedSnapshot(g Gomega, ns, programName string) (*config.Snapshot, string) {
	var cm corev1.ConfigMap
	g.Expect(k8sClient.Get(ctx, key(ns, render.ConfigMapName(programName)), &cm)).To(Succeed())
	snap, err := config.Parse([]byte(cm.Data[contract.SnapshotKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Data[contract.SnapshotHashKey]).To(Equal(snap.Hash()))
	return snap, cm.Data[contract.SnapshotHashKey]
}

func expectControlledBy(obj client.Object, p *loyaltyv1alpha1.LoyaltyProgram) {
	GinkgoHelper()
	Expect(metav1.IsControlledBy(obj, p)).To(BeTrue(), "%T %s has no controller reference to the program", obj, obj.GetName())
	Expect(obj.GetLabels()).NotTo(HaveKey("team"), "the user's labels are never copied to children")
	Expect(obj.GetAnnotations()).NotTo(HaveKey("owner"), "the user's annotations are never copied to children")
	Expect(obj.GetLabels()).To(HaveKeyWithValue(contract.LabelProgram, p.Name))
}

var _ = Describe("LoyaltyProgram controller", func() {
	It("renders every child with owner references and the expected spec", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(k8sClient.Create(ctx, tier(ns, "bronze", "beans", 0, 0))).To(Succeed())
		Expect(k8sClient.Create(ctx, catalog(ns, "rewards", "beans", reward("latte", 120, "")))).To(Succeed())

		Eventually(func(g Gomega) {
			snap, hash := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Tiers).To(HaveLen(1))
			g.Expect(snap.Rewards).To(HaveLen(1))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Status.SnapshotHash).To(Equal(hash))
		}).Should(Succeed())

		var sa corev1.ServiceAccount
		Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &sa)).To(Succeed())
		expectControlledBy(&sa, p)

		var role rbacv1.Role
		Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &role)).To(Succeed())
		expectControlledBy(&role, p)
		Expect(role.Rules).To(ContainElement(HaveField("ResourceNames", []string{"beans-config"})), "the engine reads only its own ConfigMap")

		var binding rbacv1.RoleBinding
		Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &binding)).To(Succeed())
		expectControlledBy(&binding, p)
		Expect(binding.Subjects).To(ConsistOf(HaveField("Name", "beans-engine")))

		var secret corev1.Secret
		Expect(k8sClient.Get(ctx, key(ns, "beans-api-keys"), &secret)).To(Succeed())
		expectControlledBy(&secret, p)
		Expect(secret.Data).To(SatisfyAll(HaveKey("admin"), HaveKey("ingest"), HaveKey("read")))

		var svc corev1.Service
		Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &svc)).To(Succeed())
		expectControlledBy(&svc, p)
		Expect(svc.Spec.Ports).To(ConsistOf(HaveField("Port", int32(80))))

		var sts appsv1.StatefulSet
		Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &sts)).To(Succeed())
		expectControlledBy(&sts, p)
		Expect(*sts.Spec.Replicas).To(BeEquivalentTo(1))
		Expect(sts.Spec.VolumeClaimTemplates).To(HaveLen(1))
		Expect(sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String()).To(Equal("1Gi"))
		Expect(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted).To(Equal(appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
		engine := sts.Spec.Template.Spec.Containers[0]
		Expect(engine.Image).To(Equal("example.com/loyalty:test"))
		Expect(engine.Args).To(ContainElements("--store=sqlite", "--config-configmap="+ns+"/beans-config"))
		Expect(engine.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(engine.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(*engine.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*engine.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(engine.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(*sts.Spec.Template.Spec.SecurityContext.RunAsNonRoot).To(BeTrue())

		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.Deployment{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &policyv1.PodDisruptionBudget{}))).To(BeTrue())

		By("reporting that the engine is not available while it has no pods")
		Eventually(conditionOf(p, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionFalse, "EngineNotReady"))
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	})

	It("switches storage between the embedded store and PostgreSQL", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.StatefulSet{}) }).Should(Succeed())

		By("moving to PostgreSQL with three replicas")
		update(p, func() {
			p.Spec.Engine.Replicas = 3
			p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{
				URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app", Key: "uri"},
			}}
		})
		var deploy appsv1.Deployment
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &deploy) }).Should(Succeed())
		expectControlledBy(&deploy, p)
		Expect(*deploy.Spec.Replicas).To(BeEquivalentTo(3))
		engine := deploy.Spec.Template.Spec.Containers[0]
		Expect(engine.Args).To(ContainElements("--store=postgres", "--postgres-schema="+render.PostgresSchema(p)))
		Expect(engine.Env).To(ContainElement(And(
			HaveField("Name", "DATABASE_URL"),
			HaveField("ValueFrom.SecretKeyRef.Name", "pg-app"),
			HaveField("ValueFrom.SecretKeyRef.Key", "uri"),
		)))
		var pdb policyv1.PodDisruptionBudget
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &pdb) }).Should(Succeed())
		Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.StatefulSet{}))
		}).Should(BeTrue(), "the StatefulSet goes after the switch")

		By("going back to one embedded replica")
		update(p, func() {
			p.Spec.Engine.Replicas = 1
			p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Embedded: &loyaltyv1alpha1.EmbeddedStorage{}}
		})
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.StatefulSet{}) }).Should(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &appsv1.Deployment{}))
		}).Should(BeTrue())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "beans-engine"), &policyv1.PodDisruptionBudget{}))
		}).Should(BeTrue())
	})

	It("never overwrites an API key and regenerates a deleted one", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		var secret corev1.Secret
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, "beans-api-keys"), &secret) }).Should(Succeed())
		original := secret.DeepCopy().Data

		By("keeping a key an operator set by hand")
		update(&secret, func() {
			secret.Data["read"] = []byte("hand-rotated-read-key")
			delete(secret.Data, "admin")
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "beans-api-keys"), &secret)).To(Succeed())
			g.Expect(secret.Data).To(HaveKey("admin"))
		}).Should(Succeed(), "a deleted key is generated again")
		Expect(secret.Data["admin"]).NotTo(Equal(original["admin"]), "a regenerated key is new")
		Expect(string(secret.Data["read"])).To(Equal("hand-rotated-read-key"))
		Expect(secret.Data["ingest"]).To(Equal(original["ingest"]))
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "beans-api-keys"), &secret)).To(Succeed())
			g.Expect(string(secret.Data["read"])).To(Equal("hand-rotated-read-key"))
		}, "2s").Should(Succeed())
	})

	It("renders a Tier edit into a new snapshot hash within a second", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		bronze := tier(ns, "bronze", "beans", 0, 0)
		Expect(k8sClient.Create(ctx, bronze)).To(Succeed())
		var before string
		Eventually(func(g Gomega) {
			snap, hash := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Tiers).To(HaveLen(1))
			before = hash
		}).Should(Succeed())

		var durations []time.Duration
		for i, multiplier := range []loyaltyv1alpha1.Multiplier{"1.25", "1.5", "2", "2.5", "3"} {
			edited := time.Now()
			update(bronze, func() { bronze.Spec.Benefits.EarnMultiplier = multiplier })
			Eventually(func(g Gomega) {
				snap, hash := renderedSnapshot(g, ns, "beans")
				g.Expect(hash).NotTo(Equal(before))
				g.Expect(snap.Tiers[0].EarnMultiplier.String()).To(Equal(string(multiplier)))
				before = hash
			}).WithTimeout(time.Second).WithPolling(5*time.Millisecond).Should(Succeed(), "edit %d reached the ConfigMap within 1s", i)
			durations = append(durations, time.Since(edited))
		}
		GinkgoWriter.Printf("Tier edit to ConfigMap: %v\n", durations)
	})

	It("stalls a program whose time zone no database knows, and renders it once fixed", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		p.Spec.TimeZone = "Europe/Atlantis" // admitted by the schema's pattern
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(conditionOf(p, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionTrue, "Invalid"))
		Expect(message(p.Status.Conditions, loyaltyv1alpha1.ConditionStalled)).To(Equal(`spec.timeZone: unknown IANA time zone "Europe/Atlantis"`))
		Expect(conditionOf(p, loyaltyv1alpha1.ConditionReady)(Default)).To(HaveField("Status", metav1.ConditionFalse))

		update(p, func() { p.Spec.TimeZone = "Asia/Seoul" })
		Eventually(func(g Gomega) {
			snap, _ := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Program.TimeZone).To(Equal("Asia/Seoul"))
			g.Expect(snap.Location().String()).To(Equal("Asia/Seoul"))
		}).Should(Succeed())
		Eventually(conditionOf(p, loyaltyv1alpha1.ConditionStalled)).Should(haveCondition(metav1.ConditionFalse, "Reconciled"))
	})

	It("reports the configuration applied once the engine replica runs the snapshot", func() {
		ns := newNamespace()
		p := program(ns, "beans")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(k8sClient.Create(ctx, tier(ns, "bronze", "beans", 0, 0))).To(Succeed())
		Eventually(conditionOf(p, "ConfigApplied")).Should(haveCondition(metav1.ConditionFalse, "ConfigPending"))

		stop := startEngine(ns, "beans", "engine-0")
		defer stop()
		Eventually(conditionOf(p, "ConfigApplied")).Should(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
		Expect(p.Status.AppliedReplicas).To(BeEquivalentTo(1))

		By("following a campaign edit to the engine")
		c := campaign(ns, "double", "beans", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(conditionOf(p, "ConfigApplied")(g)).To(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
			snap, hash := renderedSnapshot(g, ns, "beans")
			g.Expect(snap.Campaigns).To(HaveLen(1))
			g.Expect(p.Status.SnapshotHash).To(Equal(hash))
		}).Should(Succeed())

		By("measuring propagation from a campaign edit to the applied snapshot")
		var propagation []time.Duration
		for i := range 10 {
			edited := time.Now()
			update(c, func() { c.Spec.Priority = int32(i + 1) })
			Eventually(func(g Gomega) {
				snap, hash := renderedSnapshot(g, ns, "beans")
				g.Expect(snap.Campaigns[0].Priority).To(BeEquivalentTo(i + 1))
				g.Expect(conditionOf(p, "ConfigApplied")(g)).To(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
				g.Expect(p.Status.SnapshotHash).To(Equal(hash))
			}).WithTimeout(time.Second).WithPolling(5 * time.Millisecond).Should(Succeed())
			propagation = append(propagation, time.Since(edited))
		}
		slices.Sort(propagation)
		GinkgoWriter.Printf("campaign edit to ConfigApplied: p50 %v, max %v\n", propagation[len(propagation)/2], propagation[len(propagation)-1])

		By("becoming Ready once the workload is available")
		var sts appsv1.StatefulSet
		Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &sts)).To(Succeed())
		sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1, CurrentReplicas: 1}
		Expect(k8sClient.Status().Update(ctx, &sts)).To(Succeed())
		Eventually(conditionOf(p, loyaltyv1alpha1.ConditionReady)).Should(haveCondition(metav1.ConditionTrue, "Reconciled"))
	})

	DescribeTable("keeps or deletes member data on deletion as the retention policy says",
		func(policy loyaltyv1alpha1.RetentionPolicy, postgres bool) {
			ns := newNamespace()
			p := program(ns, "beans")
			p.Spec.RetentionPolicy = policy
			var schema string
			if postgres {
				url := os.Getenv("TEST_DATABASE_URL")
				if url == "" {
					if os.Getenv("CI") != "" {
						Fail("TEST_DATABASE_URL must be set in CI")
					}
					Skip("TEST_DATABASE_URL is not set")
				}
				Expect(k8sClient.Create(ctx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg-app"},
					Data:       map[string][]byte{"uri": []byte(url)},
				})).To(Succeed())
				p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app", Key: "uri"}}}
				p.Namespace = ns
				schema = render.PostgresSchema(p)
				// Stands in for the engine, which creates its schema on start.
				execSQL(url, fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE IF NOT EXISTS %s.members (id text)", schema, schema))
				DeferCleanup(func() { execSQL(url, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
			}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Eventually(conditionOf(p, "ConfigApplied")).ShouldNot(BeNil())

			if !postgres {
				var sts appsv1.StatefulSet
				Expect(k8sClient.Get(ctx, key(ns, "beans-engine"), &sts)).To(Succeed())
				want := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
				if policy == loyaltyv1alpha1.RetentionDelete {
					want = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
				}
				Expect(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted).To(Equal(want), "the claim goes with the StatefulSet only under Delete")
				Expect(p.Finalizers).To(BeEmpty(), "garbage collection does the embedded store's job")
			} else if policy == loyaltyv1alpha1.RetentionDelete {
				Expect(p.Finalizers).To(ContainElement("loyaltyops.io/member-data"))
			} else {
				Expect(p.Finalizers).To(BeEmpty())
			}

			Expect(k8sClient.Delete(ctx, p)).To(Succeed())
			Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)) }).Should(BeTrue())
			if postgres {
				Expect(schemaExists(os.Getenv("TEST_DATABASE_URL"), schema)).To(Equal(policy == loyaltyv1alpha1.RetentionRetain))
			}
		},
		Entry("embedded, Retain", loyaltyv1alpha1.RetentionRetain, false),
		Entry("embedded, Delete", loyaltyv1alpha1.RetentionDelete, false),
		Entry("PostgreSQL, Retain", loyaltyv1alpha1.RetentionRetain, true),
		Entry("PostgreSQL, Delete", loyaltyv1alpha1.RetentionDelete, true),
	)

	It("makes no writes once converged", func() {
		ns := newNamespace()
		p := program(ns, "quiet")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(k8sClient.Create(ctx, tier(ns, "bronze", "quiet", 0, 0))).To(Succeed())
		Expect(k8sClient.Create(ctx, tier(ns, "silver", "quiet", 1, 500))).To(Succeed())
		Expect(k8sClient.Create(ctx, catalog(ns, "rewards", "quiet", reward("latte", 120, "silver")))).To(Succeed())
		Expect(k8sClient.Create(ctx, campaign(ns, "later", "quiet", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)))).To(Succeed())
		stop := startEngine(ns, "quiet", "engine-0")
		defer stop()
		Eventually(conditionOf(p, "ConfigApplied")).Should(haveCondition(metav1.ConditionTrue, "ConfigApplied"))
		Eventually(conditionOf(&loyaltyv1alpha1.Campaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "later"}}, loyaltyv1alpha1.ConditionReady)).
			Should(haveCondition(metav1.ConditionTrue, "Scheduled"))

		versions := func() map[string]string {
			seen := map[string]string{}
			for _, list := range []client.ObjectList{
				&loyaltyv1alpha1.LoyaltyProgramList{}, &loyaltyv1alpha1.TierList{}, &loyaltyv1alpha1.RewardCatalogList{}, &loyaltyv1alpha1.CampaignList{},
				&corev1.ConfigMapList{}, &corev1.SecretList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
				&appsv1.StatefulSetList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{},
			} {
				Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
				raw, _ := json.Marshal(list)
				var items struct {
					Items []metav1.PartialObjectMetadata `json:"items"`
				}
				Expect(json.Unmarshal(raw, &items)).To(Succeed())
				for _, item := range items.Items {
					seen[fmt.Sprintf("%T/%s", list, item.Name)] = item.ResourceVersion
				}
			}
			return seen
		}
		// Let the last status patches land before counting.
		time.Sleep(time.Second)
		before, writesBefore := versions(), writes.Count(ns)
		Consistently(func(g Gomega) {
			g.Expect(writes.Count(ns)).To(Equal(writesBefore), "the operator wrote: %v", writes.Last())
		}, "10s", "500ms").Should(Succeed())
		Expect(versions()).To(Equal(before), "no object changed in 10s")
	})
})

func execSQL(url, sql string) {
	GinkgoHelper()
	conn, err := pgx.Connect(ctx, url)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	Expect(err).NotTo(HaveOccurred())
}

func schemaExists(url, schema string) bool {
	GinkgoHelper()
	conn, err := pgx.Connect(ctx, url)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(ctx) }()
	var exists bool
	Expect(conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)", schema).Scan(&exists)).To(Succeed())
	return exists
}
