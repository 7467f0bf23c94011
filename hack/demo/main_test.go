package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// helperEnv makes the test binary run execute with a stand-in story, the way
// main does, instead of the tests.
const helperEnv = "DEMO_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(execute(options{keep: os.Getenv("DEMO_TEST_KEEP") == "1"}, standIn(mode)))
	}
	os.Exit(m.Run())
}

// standIn writes what a real run writes into the working directory, says
// where it is, then succeeds, fails, or waits for a signal.
func standIn(mode string) func(*demo, context.Context) error {
	return func(d *demo, ctx context.Context) error {
		for _, name := range []string{"kubeconfig", "ledger.db", "manager.log"} {
			if err := os.WriteFile(filepath.Join(d.dir, name), []byte(name+"\n"), 0o600); err != nil {
				return err
			}
		}
		fmt.Printf("dir=%s\n", d.dir)
		switch mode {
		case "succeed":
			return nil
		case "fail":
			return errors.New("a wrong outcome")
		default:
			<-ctx.Done()
			return ctx.Err()
		}
	}
}

// TestWorkingDirectoryRemoved runs the demo's entry point in a child process
// and checks that the working directory, which holds API keys and an admin
// kubeconfig, is gone after success, failure and Ctrl-C, and kept with --keep.
func TestWorkingDirectoryRemoved(t *testing.T) {
	cases := []struct {
		mode     string
		keep     bool
		wantCode int
		wantOut  string
	}{
		{mode: "succeed", wantCode: 0, wantOut: "every expectation held"},
		{mode: "fail", wantCode: 1, wantOut: "FAILED: a wrong outcome"},
		{mode: "interrupt", wantCode: 130, wantOut: "interrupted"},
		{mode: "succeed", keep: true, wantCode: 0, wantOut: "demo: kept "},
		{mode: "fail", keep: true, wantCode: 1, wantOut: "demo: kept "},
		{mode: "interrupt", keep: true, wantCode: 130, wantOut: "demo: kept "},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s keep=%v", tc.mode, tc.keep), func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+tc.mode, "TMPDIR="+tmp)
			if tc.keep {
				cmd.Env = append(cmd.Env, "DEMO_TEST_KEEP=1")
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			var dir string
			var out strings.Builder
			for lines.Scan() {
				out.WriteString(lines.Text() + "\n")
				if d, ok := strings.CutPrefix(lines.Text(), "dir="); ok {
					dir = d
					if tc.mode == "interrupt" {
						if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			err = cmd.Wait()
			code := 0
			if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("exit code %d, output:\n%s\nwant code %d and %q", code, out.String(), tc.wantCode, tc.wantOut)
			}
			if !strings.HasPrefix(dir, tmp) {
				t.Fatalf("the working directory %q is not under TMPDIR %s", dir, tmp)
			}
			_, err = os.Stat(filepath.Join(dir, "kubeconfig"))
			switch {
			case tc.keep && err != nil:
				t.Errorf("--keep given, but the working directory is gone: %v", err)
			case !tc.keep && !errors.Is(err, os.ErrNotExist):
				t.Errorf("the working directory %s is still there after the run (stat: %v)", dir, err)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a\nb\nc\n", "b\nc\n"},
		{"c", "c\n"},
		{"a\nb\n", "a\nb\n"},
	}
	for _, tc := range cases {
		if got := lastLines(tc.in, 2); got != tc.want {
			t.Errorf("lastLines(%q, 2) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
