package events

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Webhook POSTs each event as a structured CloudEvent, signed (see Sign).
// Any 2xx answer is a delivery; anything else, or no answer, a failure.
type Webhook struct {
	SinkName string
	URL      string
	Source   string // the CloudEvents source (Source)
	// Secret returns the signing secret; SecretFromFile reads a mounted
	// Secret at each call, so a rotated secret is used at once.
	Secret func() ([]byte, error)
	Client *http.Client
	Now    func() time.Time // time.Now when nil
}

// Name implements Sink.
func (w *Webhook) Name() string { return w.SinkName }

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, ev ledger.OutboxEvent) error {
	body, err := Structured(w.Source, ev)
	if err != nil {
		return err
	}
	secret, err := w.Secret()
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.SinkName, err)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, "v1="+Sign(secret, ts, body))
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.SinkName, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s: %s", w.SinkName, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// SecretFromFile reads a signing secret from a file (a mounted Secret key),
// trimmed of surrounding white space; an empty secret is an error.
func SecretFromFile(path string) func() ([]byte, error) {
	return func() ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the signing secret: %w", err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil, fmt.Errorf("signing secret %s is empty", path)
		}
		return b, nil
	}
}
