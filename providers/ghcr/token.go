package ghcr

import (
	"bytes"
	"fmt"

	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/internal/secretfile"
)

// maxSecretFile bounds a token or private key file.
const maxSecretFile = 64 << 10

// readToken reads a token-file source. The file is read at every
// invocation; its content never appears in an error.
func readToken(t *TokenSource) (providers.Credential, error) {
	b, err := secretfile.Read("token file", t.TokenFile, maxSecretFile)
	if err != nil {
		return providers.Credential{}, err
	}
	tok := bytes.TrimSpace(b)
	if len(tok) == 0 {
		return providers.Credential{}, fmt.Errorf("token file %s is empty; write a classic personal access token with read:packages into it", t.TokenFile)
	}
	for _, c := range tok {
		if c <= ' ' || c >= 0x7f {
			return providers.Credential{}, fmt.Errorf("token file %s holds more than one line or a non-ASCII character; it must hold the token alone", t.TokenFile)
		}
	}
	user := t.Username
	if user == "" {
		user = DefaultTokenUsername
	}
	return providers.Credential{Username: user, Password: providers.Secret(tok)}, nil
}
