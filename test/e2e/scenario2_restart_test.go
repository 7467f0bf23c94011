//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ackedEarn is an earn the engine acknowledged, kept to send again later.
type ackedEarn struct {
	body   map[string]any
	points int64
}

// Deleting the embedded engine's only pod while earns arrive: every earn the
// engine acknowledged must still be in the ledger when the new pod serves
// (sending it again is answered as a replay with the same points), the data
// volume is the same one, and ConfigApplied comes back.
var _ = Describe("Scenario 2: the engine pod deleted under load", Ordered, func() {
	const ns = "e2e-restart"

	BeforeAll(func() {
		restrictedNamespace(ns)
		kubectl("apply", "-n", ns, "-k", "config/samples")
		waitProgramReady(ns, "bean-rewards", 3*time.Minute)
	})

	It("keeps every acknowledged write and the volume, and reports ConfigApplied again", func() {
		engine := serviceClient(ns, "bean-rewards")
		engine.must("POST", "/v1/members", "ingest", map[string]any{"idempotencyKey": "enrol-load", "memberId": "load"}, nil)
		claimsBefore := claimUIDs(ns)
		Expect(claimsBefore).NotTo(BeEmpty())
		old := enginePods(ns, "bean-rewards")
		Expect(old).To(HaveLen(1))

		ctx, stop := context.WithTimeout(context.Background(), 3*time.Minute)
		defer stop()
		var (
			mu       sync.Mutex
			acked    []ackedEarn
			failures int
			done     = make(chan struct{})
		)
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				body := map[string]any{
					"idempotencyKey": fmt.Sprintf("load-%d", i), "memberId": "load", "eventId": fmt.Sprintf("load-order-%d", i),
					"amount": "3.00", "occurredAt": time.Now().UTC().Format(time.RFC3339Nano),
				}
				var res earnResult
				_, err := engine.call("POST", "/v1/earn", "ingest", body, &res)
				mu.Lock()
				if err == nil {
					acked = append(acked, ackedEarn{body: body, points: res.Points})
				} else {
					failures++
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
		ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
		Eventually(ackedCount, 30*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 20))

		deleted := time.Now()
		Expect(k8s.Delete(context.Background(), &old[0])).To(Succeed())
		Eventually(func(g Gomega) {
			pods := enginePods(ns, "bean-rewards")
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].UID).NotTo(Equal(old[0].UID))
			g.Expect(podReady(pods[0])).To(BeTrue())
		}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
		back := time.Since(deleted)
		afterRestart := ackedCount()
		Eventually(ackedCount, time.Minute, 100*time.Millisecond).Should(BeNumerically(">=", afterRestart+20), "the new pod serves earns")
		stop()
		<-done
		fmt.Fprintf(GinkgoWriter, "engine pod back and Ready %s after its deletion; %d earns acknowledged, %d failed while it was away\n",
			back.Round(100*time.Millisecond), len(acked), failures)

		By("sending every acknowledged earn again: each is a replay with the same points")
		for _, earn := range acked {
			var again earnResult
			engine.must("POST", "/v1/earn", "ingest", earn.body, &again)
			Expect(again.Replayed).To(BeTrue(), "earn %s was acknowledged but is not in the ledger", earn.body["idempotencyKey"])
			Expect(again.Points).To(Equal(earn.points), "earn %s", earn.body["idempotencyKey"])
		}
		Expect(claimUIDs(ns)).To(Equal(claimsBefore), "the data volume claim is the same one")
		waitProgramReady(ns, "bean-rewards", time.Minute)
	})
})

func podReady(pod corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// claimUIDs maps each PersistentVolumeClaim in a namespace to its UID and volume.
func claimUIDs(namespace string) map[string]string {
	GinkgoHelper()
	var claims corev1.PersistentVolumeClaimList
	Expect(k8s.List(context.Background(), &claims, client.InNamespace(namespace))).To(Succeed())
	out := map[string]string{}
	for _, c := range claims.Items {
		out[c.Name] = string(c.UID) + " " + c.Spec.VolumeName
	}
	return out
}
