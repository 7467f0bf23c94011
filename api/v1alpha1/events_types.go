package v1alpha1

// EventsSpec declares where the engine delivers the events of its outbox
// (member enrolled, points earned, tier changed, ...) and the streams it
// ingests purchases from. Every sink and ingest source has a name unique
// across all three lists: it names the sink's cursor, its metrics and the
// directory its Secret keys are mounted in.
// +kubebuilder:validation:XValidation:rule="(has(self.webhooks) ? self.webhooks.map(s, s.name) : []).all(n, !has(self.nats) || !self.nats.exists(s, s.name == n)) && (has(self.webhooks) ? self.webhooks.map(s, s.name) : []).all(n, !has(self.ingest) || !self.ingest.exists(s, s.name == n)) && (has(self.nats) ? self.nats.map(s, s.name) : []).all(n, !has(self.ingest) || !self.ingest.exists(s, s.name == n))",message="spec.events: webhooks, nats and ingest names must be unique across all three lists"
type EventsSpec struct {
	// MaxAttempts is how often an event is tried on a sink before it is
	// dead-lettered for that sink and the sink moves on. The engine uses 12
	// when unset.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxAttempts *int32 `json:"maxAttempts,omitempty"`

	// Retention is how long delivered events stay in the outbox once every
	// sink has them, for redelivery on request. The engine uses 7d when unset.
	// +optional
	Retention *Duration `json:"retention,omitempty"`

	// Webhooks receive CloudEvents 1.0 (structured JSON) signed with
	// HMAC-SHA256 over the timestamp and the body.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Webhooks []WebhookSinkSpec `json:"webhooks,omitempty"`

	// NATS sinks publish every event to JetStream, on a subject per event
	// type, with the event id as the message id.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	NATS []NATSSinkSpec `json:"nats,omitempty"`

	// Ingest consumes purchases and actions from JetStream streams, as an
	// alternative to POST /v1/earn for point-of-sale back ends.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Ingest []NATSIngestSpec `json:"ingest,omitempty"`
}

// SinkName is a sink's name: a DNS label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type SinkName string

// NATSURL is the address of a NATS server.
// +kubebuilder:validation:MaxLength=2048
// +kubebuilder:validation:XValidation:rule="self.startsWith('nats://') || self.startsWith('tls://')",message="must be a nats:// or tls:// URL"
type NATSURL string

// StreamName is a JetStream stream's name.
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
type StreamName string

// Subject is a NATS subject without wildcards, such as "loyalty.shop".
// +kubebuilder:validation:MaxLength=255
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`
type Subject string

// WebhookSinkSpec is an HTTP endpoint receiving the events.
type WebhookSinkSpec struct {
	// Name identifies the sink in metrics, dead letters, redelivery
	// requests and the EventsDelivering condition.
	Name SinkName `json:"name"`

	// URL is where events are POSTed, an absolute http:// or https:// URL.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="must be an absolute http:// or https:// URL"
	URL string `json:"url"`

	// SigningSecretRef names the Secret key holding the HMAC-SHA256 signing
	// secret the receiver verifies. A changed secret is used without a
	// restart of the engine.
	SigningSecretRef EventSecretKeyReference `json:"signingSecretRef"`

	// Timeout bounds one delivery attempt. The engine uses 10s when unset.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
}

// NATSSinkSpec is a NATS JetStream stream receiving the events.
type NATSSinkSpec struct {
	// Name identifies the sink in metrics, dead letters, redelivery
	// requests and the EventsDelivering condition.
	Name SinkName `json:"name"`

	// URL is the NATS server, such as nats://nats.messaging:4222.
	URL NATSURL `json:"url"`

	// CredentialsSecretRef names the Secret key holding a NATS credentials
	// (.creds) file. Omit for a server without authentication.
	// +optional
	CredentialsSecretRef *EventSecretKeyReference `json:"credentialsSecretRef,omitempty"`

	// SubjectPrefix is put before the event type: "loyalty.shop" publishes
	// points.earned on loyalty.shop.points.earned. Defaults to
	// "loyalty.<program name>".
	// +optional
	SubjectPrefix Subject `json:"subjectPrefix,omitempty"`

	// Stream is the JetStream stream that captures the subjects.
	Stream StreamName `json:"stream"`

	// CreateStream has the engine create the stream, capturing
	// "<subjectPrefix>.>", when it is missing; otherwise a missing stream
	// fails delivery.
	// +optional
	CreateStream bool `json:"createStream,omitempty"`
}

// NATSIngestSpec is a JetStream stream of purchases and actions the engine
// applies: each message is the body of POST /v1/earn without its
// idempotencyKey, which is the message's Nats-Msg-Id header.
type NATSIngestSpec struct {
	// Name identifies the source in logs; it is the durable consumer's name too.
	Name SinkName `json:"name"`

	// URL is the NATS server, such as nats://nats.messaging:4222.
	URL NATSURL `json:"url"`

	// CredentialsSecretRef names the Secret key holding a NATS credentials
	// (.creds) file. Omit for a server without authentication.
	// +optional
	CredentialsSecretRef *EventSecretKeyReference `json:"credentialsSecretRef,omitempty"`

	// Stream holds the messages; the engine creates its durable consumer on it.
	Stream StreamName `json:"stream"`

	// FilterSubject limits the consumer to matching subjects; "*" matches
	// one token and a final ">" the rest.
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?|>)$`
	// +optional
	FilterSubject string `json:"filterSubject,omitempty"`

	// ParkSubject receives the messages that cannot be applied, with the
	// reason in their Loyalty-Park-Reason header, so that one bad message
	// never blocks the stream. A stream should capture it.
	ParkSubject Subject `json:"parkSubject"`
}

// EventSecretKeyReference names one key of a Secret in the program's
// namespace. The operator mounts it read-only into the engine's pod and
// reports a missing Secret or key in the program's status.
type EventSecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:XValidation:rule="self != '.' && !self.startsWith('..')",message="must not be '.' or start with '..'"
	Key string `json:"key"`
}
