// Command demo runs the whole system on one machine: a local control plane
// from the same binaries the tests use, the operator, the coffee-chain sample
// program, and a points engine as a local process against the configuration
// the operator rendered. There is no kubelet, so no pod runs and nothing
// pretends one does. It drives traffic, narrates a timeline, checks its own
// expectations and exits non-zero when one fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	var opts options
	flag.StringVar(&opts.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory holding kube-apiserver, etcd and kubectl")
	flag.StringVar(&opts.bin, "bin", "bin", "directory holding the manager and points-engine binaries")
	flag.DurationVar(&opts.campaignDelay, "campaign-delay", 30*time.Second, "how long after the start the demo campaign's window opens")
	flag.DurationVar(&opts.campaignLength, "campaign-length", 60*time.Second, "how long the demo campaign's window stays open")
	flag.Parse()
	if opts.assets == "" {
		fmt.Fprintln(os.Stderr, "demo: set --assets or KUBEBUILDER_ASSETS (make demo does)")
		os.Exit(2)
	}
	// Ctrl-C and SIGTERM cancel the run; cleanup then stops every process started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := newDemo(opts)
	err := d.run(ctx)
	d.cleanup()
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		fmt.Println("demo: interrupted; everything it started is stopped")
		os.Exit(130)
	case err != nil:
		fmt.Printf("\ndemo: FAILED: %v\n(logs of the operator and the engine are in %s)\n", err, d.dir)
		os.Exit(1)
	}
	fmt.Printf("\ndemo: every expectation held (%s)\n", time.Since(d.start).Round(time.Second))
}

type options struct {
	assets         string
	bin            string
	campaignDelay  time.Duration
	campaignLength time.Duration
}

func absolute(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}
