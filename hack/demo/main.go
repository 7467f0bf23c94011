// Command demo runs the whole system on one machine: a local control plane
// from the same binaries the tests use, the operator, the coffee-chain sample
// program, and a points engine as a local process against the configuration
// the operator rendered. There is no kubelet, so no pod runs and nothing
// pretends one does. It drives traffic, narrates a timeline, checks its own
// expectations and exits non-zero as soon as one fails. Its working
// directory (API keys, an admin kubeconfig, the ledger, logs) is removed at
// the end, also on failure and Ctrl-C, unless --keep is given.
package main

import (
	"context"
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
	flag.BoolVar(&opts.keep, "keep", false, "keep the working directory (API keys, admin kubeconfig, ledger, logs) after the run")
	flag.Parse()
	if opts.assets == "" {
		fmt.Fprintln(os.Stderr, "demo: set --assets or KUBEBUILDER_ASSETS (make demo does)")
		os.Exit(2)
	}
	os.Exit(execute(opts, (*demo).run))
}

type options struct {
	assets         string
	bin            string
	campaignDelay  time.Duration
	campaignLength time.Duration
	keep           bool
}

// execute runs the demo until it ends or Ctrl-C or SIGTERM stops it, then
// stops everything it started, removes its working directory unless asked
// to keep it, and returns the exit code.
func execute(opts options, run func(*demo, context.Context) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	err = run(d, ctx)
	d.cleanup()
	return d.finish(ctx.Err(), err)
}

// finish reports how the run ended and removes the working directory unless
// the run is to keep it.
func (d *demo) finish(interrupted, err error) int {
	code := 0
	switch {
	case interrupted != nil:
		fmt.Println("\ndemo: interrupted; everything it started is stopped")
		code = 130
	case err != nil:
		fmt.Printf("\ndemo: FAILED: %v\n", err)
		d.showLogs()
		code = 1
	default:
		fmt.Printf("\ndemo: every expectation held (%s)\n", time.Since(d.start).Round(time.Second))
	}
	if d.opts.keep {
		fmt.Printf("demo: kept %s (API keys, admin kubeconfig, ledger, logs); remove it when done\n", d.dir)
		return code
	}
	if err := os.RemoveAll(d.dir); err != nil {
		fmt.Printf("demo: removing %s: %v\n", d.dir, err)
		return max(code, 1)
	}
	return code
}

// showLogs prints the end of the operator's and the engine's logs, which
// go with the working directory.
func (d *demo) showLogs() {
	for _, name := range []string{"manager", "points-engine"} {
		data, err := os.ReadFile(filepath.Join(d.dir, name+".log"))
		if err != nil {
			continue
		}
		fmt.Printf("\n-- last lines of the %s log (make demo KEEP=1 keeps the whole log):\n%s", name, indent(lastLines(string(data), 20)))
	}
}

func absolute(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}
