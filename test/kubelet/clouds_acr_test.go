package kubelet

import (
	"strings"
	"testing"
	"time"

	"github.com/pullkey/pullkey/test/standin"
	acrstandin "github.com/pullkey/pullkey/test/standin/acr"
)

func init() { clouds = append(clouds, acrCloud()) }

// ACR on the node: the node's managed identity (azidentity's standard
// IDENTITY_ENDPOINT/IDENTITY_HEADER at the stand-in's loopback endpoint),
// then the exchange at the registry host, played behind the proxy. pullkey
// runs with no acr section (on by default).
const acrUser = "00000000-0000-0000-0000-000000000000"

func acrCloud() cloud {
	var reg *acrstandin.Registry
	// refresh is the refresh token the registry stand-in issued last.
	refresh := func() []cred {
		toks := reg.RefreshTokens()
		if len(toks) == 0 {
			return []cred{{acrUser, "(nothing issued)"}}
		}
		return []cred{{acrUser, toks[len(toks)-1]}}
	}
	return cloud{
		start: func(t *testing.T) *standin.Demo {
			id := acrstandin.NewIdentity()
			reg = &acrstandin.Registry{Valid: id.Issued}
			return &standin.Demo{
				Provider: "acr",
				Plays:    func(host string) bool { return strings.HasSuffix(host, ".azurecr.io") },
				Handler:  reg,
				Env:      id.Env(),
				Calls:    &reg.Minted,
				Close:    id.Close,
			}
		},
		steps: func(*standin.Demo) []step {
			acr := map[string]int64{"acr": 1}
			return []step{
				// One refresh token per registry host.
				{image: "myregistry.azurecr.io/web", wantFunc: refresh, execs: 1, calls: acr, save: "acr"},
				{image: "myregistry.azurecr.io/team/api", wantFunc: refresh, execs: 0},
				{image: "myregistry.westeurope.geo.azurecr.io/web", wantFunc: refresh, execs: 1, calls: acr},
				{image: "otherregistry.azurecr.io/app", wantFunc: refresh, execs: 1, calls: acr},
				// In matchImages, but not a registry name ACR allows (5-50
				// characters): pullkey owns it not, kubelet gets nothing.
				{image: "ab.azurecr.io/app", want: nil, execs: 1},
				// Not in matchImages.
				{image: "myregistry.azurecr.io.evil.com/web", want: nil, execs: 0},
				// The identity lacks AcrPull: ACR answers 401.
				{
					before: func(*node) { reg.Deny.Store(true) },
					image:  "deniedregistry.azurecr.io/app", want: nil, execs: 1,
					errLike: []string{"exit status 1", "acr", "deniedregistry.azurecr.io"},
				},
				// The registry hangs: pullkey gives up within its --timeout.
				{
					before: func(*node) { reg.Deny.Store(false); reg.Hang.Store(true) },
					image:  "slowregistry.azurecr.io/app", want: nil, execs: 1,
					maxWait: 10 * time.Second, errLike: []string{"exit status 1", "acr", "slowregistry.azurecr.io"},
				},
				{
					before: func(*node) { reg.Hang.Store(false) },
					image:  "slowregistry.azurecr.io/app", wantFunc: refresh, execs: 1, calls: acr,
				},
			}
		},
		afterRestart: func(*standin.Demo) []step {
			// pullkey's disk cache answers: no exchange.
			return []step{{image: "myregistry.azurecr.io/web", wantSaved: "acr", execs: 1}}
		},
	}
}
