package render_test

import (
	"crypto/rand"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/auth"
)

// TestRenderedObjectsHoldNoKeyMaterial renders everything the operator
// writes for a program next to its generated API keys and checks that no
// key, whole or in part, reaches the ConfigMap, the snapshot or any
// workload: the engine reads its keys from the Secret volume only, and the
// database URI only through a Secret reference.
func TestRenderedObjectsHoldNoKeyMaterial(t *testing.T) {
	keys := map[string][]byte{}
	if _, err := render.FillAPIKeys(keys, strings.NewReader(strings.Repeat("k3y-m4terial!", 16))); err != nil {
		t.Fatal(err)
	}
	p := program()
	res := render.Resolve(render.ProgramObjects{
		Program:   p,
		Tiers:     []loyaltyv1alpha1.Tier{tier("bronze", 0, epoch), tier("gold", 2, epoch)},
		Catalogs:  []loyaltyv1alpha1.RewardCatalog{catalog("rewards", epoch, reward("latte", "gold"))},
		Campaigns: []loyaltyv1alpha1.Campaign{campaign("double", nil)},
	})
	if res.Snapshot == nil {
		t.Fatalf("no snapshot: %+v", res)
	}
	data, err := res.Snapshot.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cm, err := render.ConfigMap(p, data, res.Snapshot.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, []string{contract.SnapshotKey, contract.SnapshotHashKey}) {
		t.Errorf("ConfigMap keys %v, want only the snapshot and its hash", got)
	}

	postgres := program()
	postgres.Spec.Engine.Replicas = 2
	postgres.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app", Key: "uri"}}}
	postgres.Spec.NetworkPolicy = &loyaltyv1alpha1.EngineNetworkPolicy{Enabled: true}
	objects := map[string]any{
		"ConfigMap": cm, "ServiceAccount": render.ServiceAccount(p), "Role": render.Role(p), "RoleBinding": render.RoleBinding(p),
		"Service": render.Service(p), "StatefulSet": render.StatefulSet(p, "img"), "Deployment": render.Deployment(postgres, "img"),
		"PodDisruptionBudget": render.PodDisruptionBudget(postgres), "NetworkPolicy": render.NetworkPolicy(postgres),
	}
	for kind, obj := range objects {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		for scope, key := range keys {
			// The random part alone, so that an encoded or truncated copy is caught too.
			secret := strings.TrimPrefix(string(key), "lo_"+scope+"_")
			if strings.Contains(string(b), secret[:16]) {
				t.Errorf("%s holds the %s API key", kind, scope)
			}
		}
		if strings.Contains(string(b), "lo_") {
			t.Errorf("%s holds something shaped like an API key: %s", kind, b)
		}
	}

	// The pods get keys and the database URI by reference, never by value.
	for _, spec := range []corev1.PodSpec{render.StatefulSet(p, "img").Spec.Template.Spec, render.Deployment(postgres, "img").Spec.Template.Spec} {
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if e.Value != "" {
					t.Errorf("env %s has a literal value %q: secrets are passed by reference only", e.Name, e.Value)
				}
			}
		}
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == render.APIKeySecretName(p.Name)
		}) {
			t.Error("the API keys do not come from the Secret volume")
		}
	}
	dbEnv := render.Deployment(postgres, "img").Spec.Template.Spec.Containers[0].Env
	if i := slices.IndexFunc(dbEnv, func(e corev1.EnvVar) bool { return e.Name == contract.EnvDatabaseURL }); i < 0 ||
		!ptr.Equal(ptr.To(dbEnv[i].ValueFrom.SecretKeyRef.Name), ptr.To("pg-app")) {
		t.Errorf("database URI env %+v, want a reference to Secret pg-app", dbEnv)
	}
}

// TestGeneratedAPIKeysAuthenticateInTheEngine mounts the API key Secret the
// operator generates as the engine reads it, one file per key, and checks
// that the engine accepts every file and grants each key its scope.
func TestGeneratedAPIKeysAuthenticateInTheEngine(t *testing.T) {
	data := map[string][]byte{}
	if _, err := render.FillAPIKeys(data, rand.Reader); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, key := range data {
		if err := os.WriteFile(filepath.Join(dir, name), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := auth.LoadDir(dir)
	if err != nil {
		t.Fatalf("the engine refuses the generated Secret: %v", err)
	}
	for _, scope := range []auth.Scope{auth.ScopeIngest, auth.ScopeRead, auth.ScopeAdmin} {
		key, ok := data[string(scope)]
		if !ok {
			t.Errorf("the Secret has no %s key", scope)
			continue
		}
		if granted, ok := keys.Lookup(string(key)); !ok || !granted.Has(scope) {
			t.Errorf("the %s key grants %v, %v", scope, granted, ok)
		}
	}
}
