package acr

import (
	"strings"

	"github.com/pullkey/pullkey/test/standin"
)

// NewDemo starts the ACR stand-in for `make demo`: the identity endpoint on
// loopback (reached through IDENTITY_ENDPOINT/IDENTITY_HEADER) and the
// registry's exchange for every *.azurecr.io host behind the shared proxy.
// pullkey runs with no acr section: the node's default managed identity.
// dir is unused (the stand-in keeps no files) but part of the demo's
// calling convention.
func NewDemo(dir string) (*standin.Demo, error) {
	_ = dir
	id := NewIdentity()
	reg := &Registry{Valid: id.Issued}
	return &standin.Demo{
		Provider: "acr",
		Plays:    func(host string) bool { return strings.HasSuffix(host, ".azurecr.io") },
		Handler:  reg,
		Env:      id.Env(),
		Images:   []string{"myregistry.azurecr.io/web", "myregistry.azurecr.io/team/api", "myregistry.westeurope.geo.azurecr.io/web"},
		Calls:    &reg.Minted,
		Close:    id.Close,
	}, nil
}
