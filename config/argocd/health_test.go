package argocd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite argocd-cm-patch.yaml from the health.lua files")

const (
	group     = "loyaltyops.io"
	patchFile = "argocd-cm-patch.yaml"
)

var kinds = []string{"LoyaltyProgram", "Tier", "RewardCatalog", "Campaign"}

// healthTests is the format of health_test.yaml in Argo CD's
// resource_customizations directory.
type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

func kindDir(kind string) string { return filepath.Join("health", group, kind) }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHealthScripts(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			dir := kindDir(kind)
			script := string(readFile(t, filepath.Join(dir, "health.lua")))
			var cases healthTests
			if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(dir, "health_test.yaml")), &cases); err != nil {
				t.Fatal(err)
			}
			if len(cases.Tests) < 6 {
				t.Fatalf("%d cases in health_test.yaml, want at least 6", len(cases.Tests))
			}
			for _, tc := range cases.Tests {
				var obj map[string]any
				if err := yaml.Unmarshal(readFile(t, filepath.Join(dir, tc.InputPath)), &obj); err != nil {
					t.Fatalf("%s: %v", tc.InputPath, err)
				}
				for _, openLibs := range []bool{false, true} {
					name := strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml")
					if openLibs {
						name += "/libs-on"
					} else {
						name += "/libs-off"
					}
					t.Run(name, func(t *testing.T) {
						status, message, err := runHealth(script, obj, openLibs)
						if err != nil {
							t.Fatal(err)
						}
						if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
							t.Errorf("got %s %q, want %s %q", status, message,
								tc.HealthStatus.Status, tc.HealthStatus.Message)
						}
					})
				}
			}
		})
	}
}

// runHealth runs a health script as Argo CD does: the object as the global
// obj, the script's return value a table with status and message. With
// openLibs false no library at all is loaded, which is stricter than Argo CD
// (it always loads base, table and a safe os), so a script passing here runs
// under any useOpenLibs setting.
func runHealth(script string, obj map[string]any, openLibs bool) (status, message string, err error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	hs, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("script returned %s, want a table", l.Get(-1).Type())
	}
	s, ok := hs.RawGetString("status").(lua.LString)
	if !ok {
		return "", "", fmt.Errorf("status is %s, want a string", hs.RawGetString("status").Type())
	}
	switch m := hs.RawGetString("message").(type) {
	case lua.LString:
		message = string(m)
	case *lua.LNilType:
	default:
		return "", "", fmt.Errorf("message is %s, want a string", m.Type())
	}
	switch s {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return "", "", fmt.Errorf("invalid health status %q", s)
	}
	return string(s), message, nil
}

// toLua converts a decoded object the way Argo CD's decodeValue does: maps
// become tables, lists 1-based arrays, numbers (float64 from YAML, int64 from
// the API server) Lua numbers.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// configMapKey is the argocd-cm key Argo CD reads a kind's health script from.
func configMapKey(kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

// renderPatch writes the scripts into an argocd-cm patch as literal block
// scalars, which keep every byte of a script that ends in one newline.
func renderPatch(t *testing.T) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Generated from health/" + group + "/*/health.lua by\n" +
		"# go test ./config/argocd -run TestConfigMapPatch -update; do not edit.\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\ndata:\n")
	for _, kind := range kinds {
		b.WriteString("  " + configMapKey(kind) + ": |\n")
		for _, line := range strings.SplitAfter(string(readFile(t, filepath.Join(kindDir(kind), "health.lua"))), "\n") {
			if line == "\n" || line == "" {
				b.WriteString(line)
			} else {
				b.WriteString("    " + line)
			}
		}
	}
	return []byte(b.String())
}

func TestConfigMapPatch(t *testing.T) {
	if *update {
		if err := os.WriteFile(patchFile, renderPatch(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Parse the patch rather than compare it with renderPatch, so that what is
	// checked is what a YAML reader (kubectl, kustomize) gets from it.
	var cm struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(readFile(t, patchFile), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Errorf("patch is for %s %q, want ConfigMap argocd-cm", cm.Kind, cm.Metadata.Name)
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("patch has %d keys, want %d", len(cm.Data), len(kinds))
	}
	for _, kind := range kinds {
		want := string(readFile(t, filepath.Join(kindDir(kind), "health.lua")))
		if got, ok := cm.Data[configMapKey(kind)]; !ok {
			t.Errorf("patch lacks %s", configMapKey(kind))
		} else if got != want {
			t.Errorf("%s differs from %s/health.lua; run go test ./config/argocd -run TestConfigMapPatch -update",
				configMapKey(kind), kindDir(kind))
		}
	}
}

// TestOneScriptForEveryKind keeps the four scripts identical: Argo CD wants a
// file per kind, but the health rules are the same for all of them (a phase
// is only ever set on Campaigns), so there is one script to review.
func TestOneScriptForEveryKind(t *testing.T) {
	want := string(readFile(t, filepath.Join(kindDir("Campaign"), "health.lua")))
	for _, kind := range kinds {
		if got := string(readFile(t, filepath.Join(kindDir(kind), "health.lua"))); got != want {
			t.Errorf("%s/health.lua differs from Campaign/health.lua; the four scripts must stay identical", kind)
		}
	}
}
