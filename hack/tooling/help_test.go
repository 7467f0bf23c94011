package tooling

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHelpHeadings: make help puts every target under a heading that fits
// it and shows no heading without targets.
func TestHelpHeadings(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := run(t, newStub(t).env(), "make", "--no-print-directory", "help")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	sections := map[string][]string{}
	var order []string
	heading := ""
	lines := bufio.NewScanner(strings.NewReader(stdout))
	for lines.Scan() {
		line := lines.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "Usage:"):
		case strings.HasPrefix(line, "  "):
			if heading == "" {
				t.Fatalf("target line before any heading: %q", line)
			}
			sections[heading] = append(sections[heading], strings.Fields(line)[0])
		default:
			heading = line
			order = append(order, heading)
		}
	}
	for _, h := range order {
		if len(sections[h]) == 0 {
			t.Errorf("heading %q lists no target", h)
		}
	}
	for target, want := range map[string]string{
		"demo": "Main job", "test": "Development", "verify": "Development", "lint": "Development",
		"build": "Build", "docker-build": "Build", "docker-push": "Build",
		"fuzz": "Fuzzing", "deploy": "Deployment", "deploy-manifests": "Deployment",
	} {
		if !slices.Contains(sections[want], target) {
			t.Errorf("%s is not under %q: %v", target, want, sections)
		}
	}

	// Every documented target is listed once.
	makefile, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile(`(?m)^([a-zA-Z0-9_-]+):.*##`).FindAllSubmatch(makefile, -1)
	listed := 0
	for _, targets := range sections {
		listed += len(targets)
	}
	if listed != len(documented) {
		t.Errorf("make help lists %d targets; the Makefile documents %d", listed, len(documented))
	}
}
