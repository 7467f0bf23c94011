package render_test

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/controllers/render"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

func secretRef(name, key string) loyaltyv1alpha1.EventSecretKeyReference {
	return loyaltyv1alpha1.EventSecretKeyReference{Name: name, Key: key}
}

func withEvents(e *loyaltyv1alpha1.EventsSpec) *loyaltyv1alpha1.LoyaltyProgram {
	p := program()
	p.Spec.Events = e
	return p
}

func TestEventsSection(t *testing.T) {
	timeout := loyaltyv1alpha1.Duration("30s")
	retention := loyaltyv1alpha1.Duration("2d")
	cases := []struct {
		name   string
		events *loyaltyv1alpha1.EventsSpec
		want   *config.EventsPolicy
	}{
		{name: "no events section", events: nil, want: nil},
		{
			name: "a webhook, its secret under the sink's directory",
			events: &loyaltyv1alpha1.EventsSpec{Webhooks: []loyaltyv1alpha1.WebhookSinkSpec{
				{Name: "crm", URL: "https://crm.example/hooks", SigningSecretRef: secretRef("crm-hook", "secret"), Timeout: &timeout},
			}},
			want: &config.EventsPolicy{Webhooks: []config.WebhookSink{
				{Name: "crm", URL: "https://crm.example/hooks", SecretFile: contract.EventSecretsDir + "/crm/secret", Timeout: mustDuration(t, "30s")},
			}},
		},
		{
			name: "attempts, retention, NATS with and without credentials, ingest",
			events: &loyaltyv1alpha1.EventsSpec{
				MaxAttempts: ptr.To[int32](5), Retention: &retention,
				NATS: []loyaltyv1alpha1.NATSSinkSpec{
					{Name: "bus", URL: "nats://nats:4222", CredentialsSecretRef: ptr.To(secretRef("nats-creds", "loyalty.creds")), SubjectPrefix: "loyalty.shop", Stream: "LOYALTY", CreateStream: true},
					{Name: "open-bus", URL: "tls://nats:4222", Stream: "OPEN"},
				},
				Ingest: []loyaltyv1alpha1.NATSIngestSpec{
					{Name: "pos", URL: "nats://nats:4222", CredentialsSecretRef: ptr.To(secretRef("nats-creds", "pos.creds")), Stream: "POS", FilterSubject: "pos.*.sale", ParkSubject: "pos.parked"},
				},
			},
			want: &config.EventsPolicy{
				MaxAttempts: 5, Retention: mustDuration(t, "2d"),
				NATS: []config.NATSSink{
					{Name: "bus", URL: "nats://nats:4222", CredentialsFile: contract.EventSecretsDir + "/bus/loyalty.creds", SubjectPrefix: "loyalty.shop", Stream: "LOYALTY", CreateStream: true},
					{Name: "open-bus", URL: "tls://nats:4222", Stream: "OPEN"},
				},
				Ingest: []config.NATSIngest{
					{Name: "pos", URL: "nats://nats:4222", CredentialsFile: contract.EventSecretsDir + "/pos/pos.creds", Stream: "POS", FilterSubject: "pos.*.sale", ParkSubject: "pos.parked"},
				},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := render.Resolve(render.ProgramObjects{Program: withEvents(c.events)})
			if res.ProgramProblem != "" {
				t.Fatalf("program problem: %s", res.ProgramProblem)
			}
			// config.Duration keeps unexported state: compare as the snapshot encodes them.
			got, _ := json.Marshal(res.Snapshot.Events)
			want, _ := json.Marshal(c.want)
			if string(got) != string(want) {
				t.Errorf("events section:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func mustDuration(t *testing.T, s string) config.Duration {
	t.Helper()
	d, err := config.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEventSecretsMount(t *testing.T) {
	cases := []struct {
		name        string
		events      *loyaltyv1alpha1.EventsSpec
		wantSources []corev1.VolumeProjection
	}{
		{name: "no events section", events: nil},
		{name: "NATS without credentials mounts nothing", events: &loyaltyv1alpha1.EventsSpec{
			NATS: []loyaltyv1alpha1.NATSSinkSpec{{Name: "bus", URL: "nats://nats:4222", Stream: "LOYALTY"}},
		}},
		{
			name: "keys of one Secret share a projection, each under its sink",
			events: &loyaltyv1alpha1.EventsSpec{
				Webhooks: []loyaltyv1alpha1.WebhookSinkSpec{
					{Name: "crm", URL: "https://crm.example", SigningSecretRef: secretRef("hooks", "secret")},
					{Name: "mail", URL: "https://mail.example", SigningSecretRef: secretRef("hooks", "secret")},
				},
				Ingest: []loyaltyv1alpha1.NATSIngestSpec{
					{Name: "pos", URL: "nats://nats:4222", CredentialsSecretRef: ptr.To(secretRef("nats-creds", "pos.creds")), Stream: "POS", ParkSubject: "pos.parked"},
				},
			},
			wantSources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "hooks"},
					Items: []corev1.KeyToPath{{Key: "secret", Path: "crm/secret"}, {Key: "secret", Path: "mail/secret"}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nats-creds"},
					Items: []corev1.KeyToPath{{Key: "pos.creds", Path: "pos/pos.creds"}}}},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := withEvents(c.events)
			for kind, spec := range map[string]corev1.PodSpec{
				"StatefulSet": render.StatefulSet(p, "engine:1").Spec.Template.Spec,
				"Deployment":  render.Deployment(p, "engine:1").Spec.Template.Spec,
			} {
				volume, mount := eventVolume(spec)
				if c.wantSources == nil {
					if volume != nil || mount != nil {
						t.Errorf("%s: want no event secrets volume, got %+v", kind, volume)
					}
					continue
				}
				if volume == nil || mount == nil {
					t.Fatalf("%s: no event secrets volume or mount", kind)
				}
				if mount.MountPath != contract.EventSecretsDir || !mount.ReadOnly {
					t.Errorf("%s: mount %+v, want read-only at %s", kind, mount, contract.EventSecretsDir)
				}
				if !equality.Semantic.DeepEqual(volume.Projected.Sources, c.wantSources) {
					t.Errorf("%s: sources\n got %+v\nwant %+v", kind, volume.Projected.Sources, c.wantSources)
				}
			}
		})
	}
}

func eventVolume(spec corev1.PodSpec) (*corev1.Volume, *corev1.VolumeMount) {
	var volume *corev1.Volume
	for i := range spec.Volumes {
		if spec.Volumes[i].Projected != nil {
			volume = &spec.Volumes[i]
		}
	}
	if volume == nil {
		return nil, nil
	}
	for i, m := range spec.Containers[0].VolumeMounts {
		if m.Name == volume.Name {
			return volume, &spec.Containers[0].VolumeMounts[i]
		}
	}
	return volume, nil
}

func TestEventSecretRefsNameTheirFields(t *testing.T) {
	p := withEvents(&loyaltyv1alpha1.EventsSpec{
		Webhooks: []loyaltyv1alpha1.WebhookSinkSpec{{Name: "crm", URL: "https://crm.example", SigningSecretRef: secretRef("hooks", "secret")}},
		NATS: []loyaltyv1alpha1.NATSSinkSpec{
			{Name: "open", URL: "nats://nats:4222", Stream: "OPEN"},
			{Name: "bus", URL: "nats://nats:4222", Stream: "LOYALTY", CredentialsSecretRef: ptr.To(secretRef("creds", "bus.creds"))},
		},
	})
	var fields []string
	for _, r := range render.EventSecretRefs(p) {
		fields = append(fields, r.Sink+" "+r.Field)
	}
	want := []string{"crm spec.events.webhooks[0].signingSecretRef", "bus spec.events.nats[1].credentialsSecretRef"}
	if !equality.Semantic.DeepEqual(fields, want) {
		t.Errorf("refs %q, want %q", fields, want)
	}
}
