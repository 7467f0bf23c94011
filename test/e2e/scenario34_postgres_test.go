//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
)

// PostgreSQL on the host listens on loopback, which pods cannot reach: the
// suite relays the node's address to it, so traffic stays on the machine.
var _ = Describe("Scenarios 3 and 4: PostgreSQL mode with 3 replicas", Ordered, func() {
	const ns = "e2e-postgres"

	BeforeAll(func() {
		uri := postgresForPods("e2e_postgres")
		restrictedNamespace(ns)
		Expect(k8s.Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "ledger-db", Namespace: ns},
			StringData: map[string]string{"uri": uri},
		})).To(Succeed())
		applySamples(ns, func(p *loyaltyv1alpha1.LoyaltyProgram) {
			p.Spec.Engine.Replicas = 3
			p.Spec.Engine.Image = img
			p.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{
				URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "ledger-db", Key: "uri"},
			}}
		})
		took := waitProgramReady(ns, "bean-rewards", 4*time.Minute)
		fmt.Fprintf(GinkgoWriter, "3 PostgreSQL replicas Ready and ConfigApplied after %s\n", took.Round(time.Second))
		Expect(enginePods(ns, "bean-rewards")).To(HaveLen(3))
	})

	It("has a PodDisruptionBudget allowing one replica down", func() {
		var pdb policyv1.PodDisruptionBudget
		Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bean-rewards-engine"}, &pdb)).To(Succeed())
		Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bean-rewards-engine"}, &pdb)).To(Succeed())
			g.Expect(pdb.Status.ExpectedPods).To(BeEquivalentTo(3))
			g.Expect(pdb.Status.DisruptionsAllowed).To(BeEquivalentTo(1))
		}, time.Minute, time.Second).Should(Succeed())
	})

	It("Scenario 3: a Campaign edit reaches every replica (p99 measured from the pods)", func() {
		pods := enginePods(ns, "bean-rewards")
		keys := apiKeys(ns, "bean-rewards")
		const edits = 10
		var latencies []time.Duration
		for i := range edits {
			hashes := map[string]string{}
			for _, pod := range pods {
				hashes[pod.Name] = configHash(podClient(pod, keys))
			}
			edited := time.Now()
			kubectl("patch", "-n", ns, "campaign", "happy-hour", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"limits":{"perMemberCap":%d}}}`, 300+i+1))
			var wg sync.WaitGroup
			var mu sync.Mutex
			for _, pod := range pods {
				wg.Go(func() {
					defer GinkgoRecover()
					engine := podClient(pod, keys)
					Eventually(func() string { return configHash(engine) }, time.Minute, 20*time.Millisecond).ShouldNot(Equal(hashes[pod.Name]), pod.Name)
					mu.Lock()
					latencies = append(latencies, time.Since(edited))
					mu.Unlock()
				})
			}
			wg.Wait()
		}
		slices.Sort(latencies)
		p50, p99 := percentile(latencies, 50), percentile(latencies, 99)
		fmt.Fprintf(GinkgoWriter, "campaign edit to every replica: %d samples (%d edits x %d pods), p50 %s, p99 %s, max %s\n",
			len(latencies), edits, len(pods), p50.Round(time.Millisecond), p99.Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
		AddReportEntry("campaign edit p99", p99.String())
		waitProgramReady(ns, "bean-rewards", time.Minute)
	})

	It("Scenario 4: rolls the engine image while a client retries with the same idempotency key, never failing for good nor applying twice", func() {
		engine := serviceClient(ns, "bean-rewards")
		engine.must("POST", "/v1/members", "ingest", map[string]any{"idempotencyKey": "enrol-roll", "memberId": "roll"}, nil)
		before := enginePods(ns, "bean-rewards")

		ctx, stop := context.WithTimeout(context.Background(), 5*time.Minute)
		defer stop()
		type outcome struct {
			points  int64
			retries int
		}
		var (
			mu       sync.Mutex
			applied  []outcome
			fatal    error
			done     = make(chan struct{})
			sentKeys int
		)
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				body := map[string]any{
					"idempotencyKey": fmt.Sprintf("roll-%d", i), "memberId": "roll", "eventId": fmt.Sprintf("roll-order-%d", i),
					"amount": "2.00", "occurredAt": time.Now().UTC().Format(time.RFC3339Nano),
				}
				res, retries, err := earnRetrying(ctx, engine, body)
				mu.Lock()
				sentKeys++
				if err != nil {
					if ctx.Err() == nil {
						fatal = err
					}
					mu.Unlock()
					return
				}
				applied = append(applied, outcome{points: res.Points, retries: retries})
				mu.Unlock()
			}
		}()
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(applied) }
		Eventually(count, 30*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 20))

		kubectl("patch", "-n", ns, "loyaltyprogram", "bean-rewards", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"engine":{"image":%q}}}`, nextImg))
		Eventually(func(g Gomega) {
			pods := enginePods(ns, "bean-rewards")
			g.Expect(pods).To(HaveLen(3))
			for _, pod := range pods {
				g.Expect(pod.Spec.Containers[0].Image).To(Equal(nextImg))
				g.Expect(podReady(pod)).To(BeTrue())
				for _, old := range before {
					g.Expect(pod.UID).NotTo(Equal(old.UID))
				}
			}
		}, 4*time.Minute, time.Second).Should(Succeed())
		rolled := count()
		Eventually(count, time.Minute, 100*time.Millisecond).Should(BeNumerically(">=", rolled+20))
		stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		Expect(fatal).NotTo(HaveOccurred())
		var total int64
		retried := 0
		for _, o := range applied {
			total += o.points
			if o.retries > 0 {
				retried++
			}
		}
		fmt.Fprintf(GinkgoWriter, "rolling update: %d earns applied, %d of them after retries with the same key\n", len(applied), retried)
		var roll balance
		engine.must("GET", "/v1/members/roll", "read", nil, &roll)
		// The last request may have been cut off by the stop and applied
		// without its answer arriving; at most that one adds points.
		Expect(roll.LifetimeEarned).To(BeNumerically(">=", total))
		Expect(roll.LifetimeEarned).To(BeNumerically("<=", total+4), "an earn was applied twice")
		waitProgramReady(ns, "bean-rewards", time.Minute)
	})
})

// earnRetrying sends an earn until it is answered, retrying with the same
// idempotency key on answers the API documents as retryable. Any other
// failure is returned.
func earnRetrying(ctx context.Context, engine *engineClient, body map[string]any) (earnResult, int, error) {
	for retries := 0; ; retries++ {
		var res earnResult
		code, err := engine.call("POST", "/v1/earn", "ingest", body, &res)
		if err == nil {
			return res, retries, nil
		}
		if !retryable(code, err) {
			return res, retries, fmt.Errorf("earn %s failed for good: %w", body["idempotencyKey"], err)
		}
		select {
		case <-ctx.Done():
			return res, retries, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// retryable: no answer at all, or 429, 502, 503, 504, or the 409 that says nothing was recorded.
func retryable(code int, err error) bool {
	switch code {
	case 0, 429, 502, 503, 504:
		return true
	case 409:
		return strings.Contains(err.Error(), "retry with the same idempotency key")
	}
	return false
}

func configHash(engine *engineClient) string {
	var status engineStatus
	if _, err := engine.call("GET", "/v1/status", "", nil, &status); err != nil {
		return ""
	}
	return status.Config.Hash
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// postgresForPods makes a fresh database on the host's PostgreSQL (from
// TEST_DATABASE_URL), relays the node's address to it for the length of the
// container, and returns the URI the pods use.
func postgresForPods(database string) string {
	GinkgoHelper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	Expect(err).NotTo(HaveOccurred(), "PostgreSQL on the host (TEST_DATABASE_URL)")
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+database+" WITH (FORCE)")
	Expect(err).NotTo(HaveOccurred())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+database)
	Expect(err).NotTo(HaveOccurred())
	Expect(conn.Close(ctx)).To(Succeed())
	DeferCleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+database+" WITH (FORCE)")
		Expect(err).NotTo(HaveOccurred())
	})

	u, err := url.Parse(admin)
	Expect(err).NotTo(HaveOccurred())
	nodeIP, _, err := net.SplitHostPort(dnsServer)
	Expect(err).NotTo(HaveOccurred())
	relay := relayTo(nodeIP, u.Host)
	u.Host = relay
	u.Path = "/" + database
	return u.String()
}

// relayTo listens on host's address and copies each connection to target,
// until the spec's container ends. It returns the listening address.
func relayTo(host, target string) string {
	GinkgoHelper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			go func() {
				// A relayed connection's close errors say nothing the
				// copies have not already said.
				defer func() { _ = in.Close() }()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer func() { _ = out.Close() }()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String()
}
