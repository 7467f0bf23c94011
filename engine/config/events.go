package config

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// EventsPolicy declares where the engine delivers the events of its outbox.
// Each sink is delivered to strictly in outbox order from its own cursor.
type EventsPolicy struct {
	// MaxAttempts is how often an event is tried on a sink before it is
	// dead-lettered for that sink and the sink moves on; 12 when zero.
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
	// Retention is how long delivered events are kept in the outbox once
	// every sink has them; 7 days when unset.
	Retention Duration `json:"retention,omitzero"`
	// Webhooks receive CloudEvents 1.0 (structured JSON), signed.
	Webhooks []WebhookSink `json:"webhooks,omitempty"`
	// NATS publishes to JetStream, a subject per event type.
	NATS []NATSSink `json:"nats,omitempty"`
	// Ingest consumes purchases and actions from JetStream streams, as an
	// alternative to POST /v1/earn.
	Ingest []NATSIngest `json:"ingest,omitempty"`
}

// NATSIngest is a JetStream stream of purchases and actions the engine
// applies: each message is the body of POST /v1/earn without its
// idempotencyKey, which is the message's Nats-Msg-Id header.
type NATSIngest struct {
	// Name identifies the source in logs; it is the durable consumer's
	// name too.
	Name string `json:"name"`
	// URL is the NATS server, e.g. nats://nats:4222.
	URL string `json:"url"`
	// CredentialsFile, if set, is a NATS credentials (.creds) file.
	CredentialsFile string `json:"credentialsFile,omitempty"`
	// Stream holds the messages; the engine creates its durable consumer.
	Stream string `json:"stream"`
	// FilterSubject, if set, limits the consumer to matching subjects.
	FilterSubject string `json:"filterSubject,omitempty"`
	// ParkSubject receives messages that cannot be applied, with the reason
	// in the Loyalty-Park-Reason header; a stream should capture it.
	ParkSubject string `json:"parkSubject"`
}

// WebhookSink is an HTTP endpoint receiving the events.
type WebhookSink struct {
	// Name identifies the sink (its cursor, metrics and redelivery).
	Name string `json:"name"`
	// URL is where events are POSTed (http or https).
	URL string `json:"url"`
	// SecretFile is the file holding the HMAC-SHA256 signing secret, a
	// mounted Secret key; read again when it changes.
	SecretFile string `json:"secretFile"`
	// Timeout bounds one delivery attempt; 10s when unset.
	Timeout Duration `json:"timeout,omitzero"`
}

// NATSSink is a NATS JetStream stream receiving the events.
type NATSSink struct {
	// Name identifies the sink (its cursor, metrics and redelivery).
	Name string `json:"name"`
	// URL is the NATS server, e.g. nats://nats:4222.
	URL string `json:"url"`
	// CredentialsFile, if set, is a NATS credentials (.creds) file.
	CredentialsFile string `json:"credentialsFile,omitempty"`
	// SubjectPrefix is put before the event type: "loyalty.shop" publishes
	// points.earned on loyalty.shop.points.earned. Defaults to
	// "loyalty.<program name>".
	SubjectPrefix string `json:"subjectPrefix,omitempty"`
	// Stream is the JetStream stream that must capture the subjects.
	Stream string `json:"stream"`
	// CreateStream creates the stream (capturing <prefix>.>) when it is
	// missing; otherwise a missing stream fails delivery.
	CreateStream bool `json:"createStream,omitempty"`
}

// Defaults of EventsPolicy.
const (
	DefaultEventMaxAttempts = 12
	DefaultEventRetention   = 7 * 24 * time.Hour
	DefaultWebhookTimeout   = 10 * time.Second
)

// Attempts is MaxAttempts or its default.
func (p *EventsPolicy) Attempts() int {
	if p.MaxAttempts > 0 {
		return int(p.MaxAttempts)
	}
	return DefaultEventMaxAttempts
}

// RetentionOrDefault is Retention or its default.
func (p *EventsPolicy) RetentionOrDefault() time.Duration {
	if p.Retention.D() > 0 {
		return p.Retention.D()
	}
	return DefaultEventRetention
}

// TimeoutOrDefault is Timeout or its default.
func (w WebhookSink) TimeoutOrDefault() time.Duration {
	if w.Timeout.D() > 0 {
		return w.Timeout.D()
	}
	return DefaultWebhookTimeout
}

// Prefix is SubjectPrefix or its default for the program.
func (n NATSSink) Prefix(program string) string {
	if n.SubjectPrefix != "" {
		return n.SubjectPrefix
	}
	return "loyalty." + program
}

var (
	subjectToken = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	streamName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	wildSubject  = regexp.MustCompile(`^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$`)
)

func (v *validator) events(p *EventsPolicy) {
	if p.MaxAttempts < 0 || p.MaxAttempts > 100 {
		v.fail("events.maxAttempts", "%d: want 1 to 100 (0 for the default)", p.MaxAttempts)
	}
	v.duration("events.retention", p.Retention, false, p.Retention.set)
	names := map[string]bool{}
	sinkName := func(path, name string) {
		v.name(path+".name", name, dnsLabel, 63)
		if names[name] {
			v.fail(path+".name", "duplicate sink name %q", name)
		}
		names[name] = true
	}
	for i, w := range p.Webhooks {
		path := "events.webhooks" + key(w.Name, i)
		sinkName(path, w.Name)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(path+".url", "%q must be an absolute http or https URL", w.URL)
		}
		v.file(path+".secretFile", w.SecretFile, true)
		v.duration(path+".timeout", w.Timeout, false, w.Timeout.set)
	}
	for i, n := range p.NATS {
		path := "events.nats" + key(n.Name, i)
		sinkName(path, n.Name)
		if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			v.fail(path+".url", "%q must be a nats:// or tls:// URL", n.URL)
		}
		v.file(path+".credentialsFile", n.CredentialsFile, false)
		if n.SubjectPrefix != "" && !subjectToken.MatchString(n.SubjectPrefix) {
			v.fail(path+".subjectPrefix", "%q must be dot-separated tokens of letters, digits, - and _", n.SubjectPrefix)
		}
		if !streamName.MatchString(n.Stream) {
			v.fail(path+".stream", "%q must be 1 to 64 letters, digits, - and _", n.Stream)
		}
	}
	for i, n := range p.Ingest {
		v.ingest("events.ingest"+key(n.Name, i), n)
	}
}

func (v *validator) ingest(path string, n NATSIngest) {
	v.name(path+".name", n.Name, dnsLabel, 63)
	if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		v.fail(path+".url", "%q must be a nats:// or tls:// URL", n.URL)
	}
	v.file(path+".credentialsFile", n.CredentialsFile, false)
	if !streamName.MatchString(n.Stream) {
		v.fail(path+".stream", "%q must be 1 to 64 letters, digits, - and _", n.Stream)
	}
	if n.FilterSubject != "" && !wildSubject.MatchString(n.FilterSubject) {
		v.fail(path+".filterSubject", "%q must be dot-separated tokens, * or a final >", n.FilterSubject)
	}
	if !subjectToken.MatchString(n.ParkSubject) {
		v.fail(path+".parkSubject", "%q must be dot-separated tokens of letters, digits, - and _", n.ParkSubject)
	}
}

// file checks a path to a mounted secret file.
func (v *validator) file(path, f string, required bool) {
	switch {
	case f == "" && required:
		v.fail(path, "required")
	case f != "" && (!filepath.IsAbs(f) || strings.Contains(f, "..")):
		v.fail(path, "%q must be an absolute path without ..", f)
	}
}
