// Package catalog holds the JSON Schema of each event type's data, the
// catalogue documented in docs/events.md, and validates events against it.
package catalog

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loyaltyops/loyalty-operator/engine/ledger"
)

// Schemas holds schemas/<type>.json for every ledger.EventTypes entry.
//
//go:embed schemas/*.json
var Schemas embed.FS

var (
	once     sync.Once
	compiled map[ledger.EventType]*jsonschema.Schema
	loadErr  error
)

func load() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	compiled = make(map[ledger.EventType]*jsonschema.Schema, len(ledger.EventTypes))
	for _, typ := range ledger.EventTypes {
		name := "schemas/" + string(typ) + ".json"
		b, err := Schemas.ReadFile(name)
		if err != nil {
			loadErr = fmt.Errorf("schema of %s: %w", typ, err)
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			loadErr = fmt.Errorf("schema of %s: %w", typ, err)
			return
		}
		if err := c.AddResource(name, doc); err != nil {
			loadErr = fmt.Errorf("schema of %s: %w", typ, err)
			return
		}
		if compiled[typ], err = c.Compile(name); err != nil {
			loadErr = fmt.Errorf("schema of %s: %w", typ, err)
			return
		}
	}
}

// Validate checks an event's data against its type's schema.
func Validate(typ ledger.EventType, data []byte) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	s, ok := compiled[typ]
	if !ok {
		return fmt.Errorf("event type %q is not in the catalogue", typ)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s data is not JSON: %w", typ, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%s data %s: %w", typ, data, err)
	}
	return nil
}
