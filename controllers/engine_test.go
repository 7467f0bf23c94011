package controllers_test

import (
	"context"
	"log/slog"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"

	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
	"github.com/loyaltyops/loyalty-operator/engine/config/k8swatch"
	"github.com/loyaltyops/loyalty-operator/engine/report"
)

// startEngine runs the engine's configuration side in process, exactly as
// cmd/points-engine wires it: watch the program's ConfigMap, apply snapshots,
// report the applied hash. The returned func stops it cleanly, which
// withdraws the report.
func startEngine(namespace, program, identity string) func() {
	GinkgoHelper()
	return startEngineOn(clientset, namespace, program, identity)
}

// startEngineOn is startEngine against the API server of cs.
func startEngineOn(clientset kubernetes.Interface, namespace, program, identity string) func() {
	GinkgoHelper()
	engineCtx, stop := context.WithCancel(ctx)
	log := slog.New(slog.NewTextHandler(GinkgoWriter, nil))
	holder := config.NewHolder(log)
	Expect(k8swatch.Watch(engineCtx, clientset, holder, namespace, render.ConfigMapName(program), contract.SnapshotKey)).To(Succeed())
	reporter := &report.Reporter{Client: clientset, Namespace: namespace, Program: program, Identity: identity}
	done := make(chan struct{})
	go func() {
		defer close(done)
		report.Follow(engineCtx, holder, reporter, render.ConfigMapName(program), log)
	}()
	return func() {
		stop()
		<-done
	}
}
