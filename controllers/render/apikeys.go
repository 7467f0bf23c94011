package render

import (
	"encoding/base64"
	"fmt"
	"io"

	"github.com/loyaltyops/loyalty-operator/contract"
)

// FillAPIKeys adds a freshly generated key for every scope missing from data
// and returns the scopes it added. Existing keys are never replaced: deleting
// a scope's key from the Secret is how a key is rotated.
func FillAPIKeys(data map[string][]byte, random io.Reader) ([]string, error) {
	var added []string
	for _, scope := range contract.APIKeyScopes() {
		if _, ok := data[scope]; ok {
			continue
		}
		secret := make([]byte, 32)
		if _, err := io.ReadFull(random, secret); err != nil {
			return added, fmt.Errorf("generating the %s API key: %w", scope, err)
		}
		data[scope] = []byte("lo_" + scope + "_" + base64.RawURLEncoding.EncodeToString(secret))
		added = append(added, scope)
	}
	return added, nil
}
