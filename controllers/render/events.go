package render

import (
	"fmt"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
	"github.com/loyaltyops/loyalty-operator/engine/config"
)

const eventSecretsVolume = "event-secrets"

// EventSecretPath is where the engine's pod finds key of a sink's Secret:
// a directory per sink, so that two sinks may use the same key name.
func EventSecretPath(sink, key string) string {
	return path.Join(contract.EventSecretsDir, sink, key)
}

// EventSecretRef is one Secret key a program's events section refers to.
type EventSecretRef struct {
	// Field is the reference's path in the program, for messages:
	// spec.events.webhooks[0].signingSecretRef.
	Field string
	// Sink is the sink or ingest source the key belongs to.
	Sink string
	Ref  loyaltyv1alpha1.EventSecretKeyReference
}

// EventSecretRefs lists the Secret keys of a program's events section, in
// the order of the spec.
func EventSecretRefs(p *loyaltyv1alpha1.LoyaltyProgram) []EventSecretRef {
	e := p.Spec.Events
	if e == nil {
		return nil
	}
	var refs []EventSecretRef
	for i, w := range e.Webhooks {
		refs = append(refs, EventSecretRef{fmt.Sprintf("spec.events.webhooks[%d].signingSecretRef", i), string(w.Name), w.SigningSecretRef})
	}
	for i, n := range e.NATS {
		if n.CredentialsSecretRef != nil {
			refs = append(refs, EventSecretRef{fmt.Sprintf("spec.events.nats[%d].credentialsSecretRef", i), string(n.Name), *n.CredentialsSecretRef})
		}
	}
	for i, n := range e.Ingest {
		if n.CredentialsSecretRef != nil {
			refs = append(refs, EventSecretRef{fmt.Sprintf("spec.events.ingest[%d].credentialsSecretRef", i), string(n.Name), *n.CredentialsSecretRef})
		}
	}
	return refs
}

// eventsPolicy renders spec.events into the snapshot's events section,
// naming each Secret key by the path the pod mounts it at.
func eventsPolicy(e *loyaltyv1alpha1.EventsSpec) (*config.EventsPolicy, error) {
	if e == nil {
		return nil, nil
	}
	p := &config.EventsPolicy{MaxAttempts: ptr.Deref(e.MaxAttempts, 0)}
	var err error
	if e.Retention != nil {
		if p.Retention, err = duration("spec.events.retention", *e.Retention, ""); err != nil {
			return nil, err
		}
	}
	for i, w := range e.Webhooks {
		sink := config.WebhookSink{Name: string(w.Name), URL: w.URL, SecretFile: EventSecretPath(string(w.Name), w.SigningSecretRef.Key)}
		if w.Timeout != nil {
			if sink.Timeout, err = duration(fmt.Sprintf("spec.events.webhooks[%d].timeout", i), *w.Timeout, ""); err != nil {
				return nil, err
			}
		}
		p.Webhooks = append(p.Webhooks, sink)
	}
	for _, n := range e.NATS {
		p.NATS = append(p.NATS, config.NATSSink{
			Name: string(n.Name), URL: string(n.URL), CredentialsFile: credentialsFile(string(n.Name), n.CredentialsSecretRef),
			SubjectPrefix: string(n.SubjectPrefix), Stream: string(n.Stream), CreateStream: n.CreateStream,
		})
	}
	for _, n := range e.Ingest {
		p.Ingest = append(p.Ingest, config.NATSIngest{
			Name: string(n.Name), URL: string(n.URL), CredentialsFile: credentialsFile(string(n.Name), n.CredentialsSecretRef),
			Stream: string(n.Stream), FilterSubject: n.FilterSubject, ParkSubject: string(n.ParkSubject),
		})
	}
	return p, nil
}

func credentialsFile(sink string, ref *loyaltyv1alpha1.EventSecretKeyReference) string {
	if ref == nil {
		return ""
	}
	return EventSecretPath(sink, ref.Key)
}

// eventSecretsMount projects every Secret key of the events section into
// one read-only directory, each at its EventSecretPath. The kubelet
// refreshes projected keys when a Secret changes, and the engine reads a
// secret file again when it changes, so a rotated secret needs no rollout.
func eventSecretsMount(p *loyaltyv1alpha1.LoyaltyProgram) (*corev1.Volume, *corev1.VolumeMount) {
	refs := EventSecretRefs(p)
	if len(refs) == 0 {
		return nil, nil
	}
	var sources []corev1.VolumeProjection
	for _, r := range refs {
		item := corev1.KeyToPath{Key: r.Ref.Key, Path: path.Join(r.Sink, r.Ref.Key)}
		// Keys of one Secret share a projection, as the API server would
		// merge nothing for us and a stable order avoids needless rollouts.
		if i := slices.IndexFunc(sources, func(s corev1.VolumeProjection) bool { return s.Secret.Name == r.Ref.Name }); i >= 0 {
			sources[i].Secret.Items = append(sources[i].Secret.Items, item)
			continue
		}
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: r.Ref.Name},
			Items:                []corev1.KeyToPath{item},
		}})
	}
	volume := &corev1.Volume{Name: eventSecretsVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: sources, DefaultMode: ptr.To[int32](0o440),
	}}}
	return volume, &corev1.VolumeMount{Name: eventSecretsVolume, MountPath: contract.EventSecretsDir, ReadOnly: true}
}
