package tooling

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDeployLeavesTreeClean: rendering the install with an image of one's
// own changes no tracked file (it used to rewrite
// config/manager/kustomization.yaml, which make verify then called stale).
func TestDeployLeavesTreeClean(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to see that the tree stays clean")
	}
	env := newStub(t).env()
	// The real go, which installs kustomize into bin/ if it is not there yet.
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + os.Getenv("PATH")
		}
	}
	status := func() string {
		out, stderr, err := run(t, env, "git", "status", "--porcelain", "--untracked-files=all")
		if err != nil {
			t.Fatalf("git status: %v: %s", err, stderr)
		}
		return out
	}
	before := status()
	const img = "registry.example.com/loyalty/operator:v9.9.9"
	stdout, stderr, err := run(t, env, "make", "--no-print-directory", "-s", "deploy-manifests", "IMG="+img)
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "kind: Deployment") || !strings.Contains(stdout, "image: "+img) {
		t.Errorf("the manifests lack the manager Deployment with image %s:\n%s", img, stdout)
	}
	if after := status(); after != before {
		t.Errorf("rendering changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
