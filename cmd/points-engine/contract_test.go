package main

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
)

// TestRenderedContainerConfiguresTheEngine parses the command line and
// environment of the engine container the operator renders, as the engine
// does: every flag must be one the engine knows, and together with the
// engine's defaults they must point it at the ConfigMap key, the API key
// directory, the port and the database the operator set up.
func TestRenderedContainerConfiguresTheEngine(t *testing.T) {
	embedded := &loyaltyv1alpha1.LoyaltyProgram{
		ObjectMeta: metav1.ObjectMeta{Name: "beans", Namespace: "shop"},
		Spec:       loyaltyv1alpha1.LoyaltyProgramSpec{Engine: loyaltyv1alpha1.EngineSpec{Storage: loyaltyv1alpha1.EngineStorage{Embedded: &loyaltyv1alpha1.EmbeddedStorage{}}}},
	}
	postgres := embedded.DeepCopy()
	postgres.Spec.Engine.Replicas = 2
	postgres.Spec.Engine.Storage = loyaltyv1alpha1.EngineStorage{Postgres: &loyaltyv1alpha1.PostgresStorage{URISecretRef: loyaltyv1alpha1.SecretKeyReference{Name: "pg-app"}}}
	tests := []struct {
		name  string
		pod   corev1.PodSpec
		store string
	}{
		{name: "embedded", pod: render.StatefulSet(embedded, "img").Spec.Template.Spec, store: "sqlite"},
		{name: "postgres", pod: render.Deployment(postgres, "img").Spec.Template.Spec, store: "postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"LISTEN_ADDR", "STORE", "SQLITE_PATH", "POSTGRES_SCHEMA", "CONFIG_FILE", "CONFIG_CONFIGMAP", "CONFIG_KEY", "API_KEYS_DIR"} {
				t.Setenv(name, "") // the machine's environment must not leak into the case
			}
			c := tt.pod.Containers[0]
			// The kubelet resolves references: field paths to the pod's, Secret keys to their values.
			for _, e := range c.Env {
				switch {
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
					t.Setenv(e.Name, "from-"+e.ValueFrom.FieldRef.FieldPath)
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					t.Setenv(e.Name, "from-secret-"+e.ValueFrom.SecretKeyRef.Name)
				default:
					t.Setenv(e.Name, e.Value)
				}
			}
			o, err := parseFlags(c.Args)
			if err != nil {
				t.Fatalf("the engine refuses the rendered arguments %q: %v", c.Args, err)
			}
			if want := "shop/" + render.ConfigMapName("beans"); o.configConfigMap != want || o.configKey != contract.SnapshotKey {
				t.Errorf("snapshot from %s key %s, want %s key %s", o.configConfigMap, o.configKey, want, contract.SnapshotKey)
			}
			if want := mountOfSecret(tt.pod, render.APIKeySecretName("beans")); o.apiKeysDir == "" || o.apiKeysDir != want {
				t.Errorf("API keys from %q, want the Secret's mount %q", o.apiKeysDir, want)
			}
			if want := fmt.Sprintf(":%d", c.Ports[0].ContainerPort); o.listen != want {
				t.Errorf("listens on %q, want the container port %q", o.listen, want)
			}
			if o.store != tt.store {
				t.Errorf("store %q, want %q", o.store, tt.store)
			}
			if tt.store == "postgres" && o.postgresURL != "from-secret-pg-app" {
				t.Errorf("database URL %q, want the one from Secret pg-app", o.postgresURL)
			}
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == contract.EnvPodName && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
			}) {
				t.Errorf("no %s from the pod's name in %+v: the engine could not label its report with its pod", contract.EnvPodName, c.Env)
			}
		})
	}
}

// mountOfSecret is where the container mounts the volume of Secret name.
func mountOfSecret(pod corev1.PodSpec, name string) string {
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == name })
	if i < 0 {
		return ""
	}
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.Name == pod.Volumes[i].Name {
			return m.MountPath
		}
	}
	return ""
}
